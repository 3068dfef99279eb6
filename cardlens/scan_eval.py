"""``cardlens eval scan``: whole-pipeline accuracy on a labelled image set.

The set is a folder with ``labels.jsonl`` in realcards-dev's format (``cardlens synth scans`` writes
synthetic ones). Engines compared on the same images:

- ``cardlens``: detector → rectify → field locator → our recognizer → card-rule decoding;
- ``easyocr-fields``: the same locator and crops, EasyOCR's English recognizer reading each crop;
- ``easyocr``: detector → rectify → EasyOCR (CRAFT + English recognizer) on the card → card rules;
- ``easyocr-full``: EasyOCR on the whole image and a 13–19-digit Luhn regex (the usual baseline).

Figures: number read exactly as printed, validated-PAN exact match (labels that pass Luhn),
character accuracy, expiry and name accuracy, and the **false-accept rate**: an accepted (valid,
confidently read) number that differs from the printed one — or any accepted number on an image
without one. Card numbers never enter the report; only counts and rates do.
"""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from cardlens.cardrules import luhn_valid, normalize_name
from cardlens.imageio import read_image

ENGINES = ("cardlens", "easyocr-fields", "easyocr", "easyocr-full")


@dataclass(frozen=True)
class ImageOutcome:
    """One image's outcome: booleans and counts only (no digits)."""

    file: str
    groups: tuple[str, ...]
    card_found: bool
    has_number: bool
    number_luhn: bool
    number_read: bool          # some number came back
    number_exact: bool         # exactly as printed
    pan_exact: bool            # accepted and equal to a Luhn-valid printed number
    false_accept: bool
    char_correct: int
    char_total: int
    has_expiry: bool
    expiry_is_date: bool       # the printed expiry has a month 01–12 (specimens print 88/88)
    expiry_exact: bool
    expiry_as_printed: bool    # the date, or a non-date read as printed (PrintedExpiry), equals the label
    printed_expiry: bool       # a non-date came back as printed ...
    printed_expiry_wrong: bool  # ... that is not what the card prints
    has_name: bool
    name_exact: bool
    ms: float


def edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def load_labels(folder: str | Path, limit: int | None = None) -> list[dict]:
    folder = Path(folder)
    path = folder / "labels.jsonl"
    if not path.is_file():
        from cardlens.errors import CardlensError

        raise CardlensError(f"no labels.jsonl in {folder} (a realcards-dev-style set, or 'cardlens synth scans')")
    rows = [json.loads(line) for line in path.open() if line.strip()]
    return rows[:limit] if limit else rows


def _groups(label: dict) -> tuple[str, ...]:
    out = [f"type={label.get('image_type', 'unknown')}", f"difficulty={label.get('difficulty', 'unknown')}"]
    if label.get("embossed") is not None:
        out.append("print=embossed" if label["embossed"] else "print=flat")
    if label.get("orientation"):
        out.append(f"orientation={label['orientation']}")
    if label.get("number_visible") is not None:  # synthetic scans: every digit in the frame, no finger on it
        out.append("number=fully visible" if label["number_visible"] else "number=partly hidden")
    return tuple(out)


PAN_IN_TEXT = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")


def fields_from_text(text: str):
    """The first Luhn-valid 13–19-digit run in free OCR text (O/o read as 0) and the first expiry:
    how a general-purpose OCR engine is turned into a card reader for the baselines."""
    from cardlens.cardrules.expiry import parse_expiry
    from cardlens.results import CardNumber

    number = None
    for m in PAN_IN_TEXT.finditer(text.replace("O", "0").replace("o", "0")):
        digits = re.sub(r"\D", "", m.group(0))
        if luhn_valid(digits):
            number = CardNumber.from_digits(digits, 1.0)
            break
    return number, parse_expiry(text)


class FullImageTextScanner:
    """A general OCR engine on the whole frame + :func:`fields_from_text`: the baselines' card reader.
    ``read_lines(image_bgr) -> list[str]`` is the engine."""

    def __init__(self, name: str, read_lines):
        self.name = name
        self.read_lines = read_lines

    def scan(self, image):
        from cardlens.results import ScanResult

        lines = self.read_lines(image)
        number, expiry = fields_from_text("\n".join(lines))
        return ScanResult(bool(lines), number, expiry, None, engine=self.name,
                          number_accepted=bool(number and number.valid))


def _full_image_easyocr() -> FullImageTextScanner:
    """EasyOCR's own pipeline (CRAFT + English recognizer) on the whole frame."""
    from cardlens.ocr.easyocr_engine import EasyOCRReader
    from cardlens.ocr.fields import group_lines

    reader = EasyOCRReader()
    return FullImageTextScanner("easyocr-full", lambda img: [" ".join(b.text for b in line)
                                                            for line in group_lines(reader.read(img))])


def make_engine(engine: str, whole_image: bool = True, cut_card: bool = True, edge_extension: bool = True,
                stop_when_sure: bool = True, second_cut: bool = True):
    """The scanner for ``engine``; ``whole_image=False`` never reads a card-shaped image whole,
    ``cut_card=False`` never completes a card cut off by the frame, ``edge_extension=False`` never reads
    a card extended past the edge its text runs to, ``stop_when_sure=False`` has our reader read every
    name and date margin, ``second_cut=False`` never cuts and reads a card again for want of an accepted number or a date."""
    from cardlens.scanner import CardScanner

    if engine in ("cardlens", "easyocr", "easyocr-fields"):
        reader = engine
        if engine == "cardlens" and not stop_when_sure:
            from cardlens.ocr.card_reader import CardReader

            reader = CardReader(stop_when_sure=False)
        return CardScanner(reader=reader, frame_fallback=whole_image, complete_cut=cut_card,
                           extend_edges=edge_extension, second_cut=second_cut)
    if engine == "easyocr-full":
        return _full_image_easyocr()
    raise ValueError(f"unknown engine {engine!r}: use one of {', '.join(ENGINES)}")


def evaluate_image(scanner, folder: Path, label: dict) -> ImageOutcome:
    img = read_image(folder / label["file"])
    t0 = time.perf_counter()
    result = scanner.scan(img)
    ms = (time.perf_counter() - t0) * 1000
    printed = label.get("number") or None
    got = result.number.reveal() if result.number else None
    accepted = bool(result.number and result.number_accepted)
    char_total = len(printed) if printed else 0
    char_correct = max(0, char_total - edit_distance(got or "", printed)) if printed else 0
    exp_label = label.get("expiry")
    exp_got = str(result.expiry) if result.expiry else None
    printed_exp = str(result.printed_expiry) if result.printed_expiry else None
    name_label = label.get("name")
    name_got = result.name.value if result.name else None
    return ImageOutcome(
        file=label["file"], groups=_groups(label), card_found=bool(result.card_found), has_number=bool(printed),
        number_luhn=bool(printed and luhn_valid(printed)), number_read=got is not None,
        number_exact=bool(printed) and got == printed,
        pan_exact=bool(printed and luhn_valid(printed) and accepted and got == printed),
        false_accept=accepted and got != printed, char_correct=char_correct, char_total=char_total,
        has_expiry=bool(exp_label), expiry_is_date=is_date(exp_label),
        expiry_exact=bool(exp_label) and exp_got == exp_label,
        expiry_as_printed=bool(exp_label) and (exp_got or printed_exp) == exp_label,
        printed_expiry=printed_exp is not None, printed_expiry_wrong=printed_exp is not None and printed_exp != exp_label,
        has_name=bool(name_label), name_exact=bool(name_label) and name_got is not None
        and name_got == normalize_name(name_label), ms=ms)


def is_date(expiry: str | None) -> bool:
    """Whether a printed ``MM/YY`` is a date the expiry rules can return (month 01–12)."""
    m = re.fullmatch(r"(\d{2})/(\d{2})", expiry or "")
    return bool(m) and 1 <= int(m.group(1)) <= 12


def summarize(outcomes: list[ImageOutcome]) -> dict:
    def rate(num, den):
        return round(num / den, 4) if den else None

    with_number = [o for o in outcomes if o.has_number]
    luhn = [o for o in with_number if o.number_luhn]
    with_card = [o for o in outcomes if o.groups[0] != "type=negative"]
    return {
        "images": len(outcomes),
        "card_found": rate(sum(o.card_found for o in with_card), len(with_card)),
        "with_number": len(with_number),
        "number_exact": rate(sum(o.number_exact for o in with_number), len(with_number)),
        "number_read": rate(sum(o.number_read for o in with_number), len(with_number)),
        "luhn_valid_labels": len(luhn),
        "pan_exact": rate(sum(o.pan_exact for o in luhn), len(luhn)),
        "char_accuracy": rate(sum(o.char_correct for o in with_number), sum(o.char_total for o in with_number)),
        "with_expiry": sum(o.has_expiry for o in outcomes),
        "expiry_exact": rate(sum(o.expiry_exact for o in outcomes), sum(o.has_expiry for o in outcomes)),
        # the expiry rules return months 01–12 only, so a specimen's "88/88" can never be read: this figure
        # leaves such labels out, as pan_exact leaves out numbers that fail Luhn
        "with_date_expiry": sum(o.has_expiry and o.expiry_is_date for o in outcomes),
        "expiry_exact_dates": rate(sum(o.expiry_exact and o.expiry_is_date for o in outcomes),
                                   sum(o.has_expiry and o.expiry_is_date for o in outcomes)),
        # a non-date read as printed (PrintedExpiry) counts here, as a number failing Luhn read as printed does
        "expiry_as_printed": rate(sum(o.expiry_as_printed for o in outcomes), sum(o.has_expiry for o in outcomes)),
        "printed_expiries": sum(o.printed_expiry for o in outcomes),
        "printed_expiries_wrong": sum(o.printed_expiry_wrong for o in outcomes),
        "with_name": sum(o.has_name for o in outcomes),
        "name_exact": rate(sum(o.name_exact for o in outcomes), sum(o.has_name for o in outcomes)),
        "false_accepts": sum(o.false_accept for o in outcomes),
        "false_accept_rate": rate(sum(o.false_accept for o in outcomes), len(outcomes)),
        "median_ms": round(sorted(o.ms for o in outcomes)[len(outcomes) // 2], 1) if outcomes else None,
    }


def evaluate_scans(folder: str | Path, engine: str = "cardlens", limit: int | None = None, scanner=None,
                   progress: bool = False, whole_image: bool = True, cut_card: bool = True,
                   edge_extension: bool = True, stop_when_sure: bool = True, second_cut: bool = True) -> dict:
    folder = Path(folder)
    labels = load_labels(folder, limit)
    scanner = scanner or make_engine(engine, whole_image, cut_card, edge_extension, stop_when_sure, second_cut)
    outcomes = []
    from tqdm import tqdm

    for label in tqdm(labels, desc=f"eval scan [{engine}]", disable=not progress, leave=False):
        outcomes.append(evaluate_image(scanner, folder, label))
    by_group = defaultdict(list)
    for o in outcomes:
        for g in o.groups:
            by_group[g].append(o)
    return {"engine": engine, "data": str(folder), "overall": summarize(outcomes),
            "by_group": {g: summarize(v) for g, v in sorted(by_group.items())},
            "misread_files": [o.file for o in outcomes if o.has_number and not o.number_exact],
            "false_accept_files": [o.file for o in outcomes if o.false_accept]}


FIGURES = (("number_exact", "number read exactly as printed"), ("pan_exact", "validated PAN exact (Luhn labels)"),
           ("char_accuracy", "number character accuracy"), ("expiry_exact", "expiry exact"),
           ("expiry_exact_dates", "expiry exact (labels that are dates, month 01–12)"),
           ("expiry_as_printed", "expiry as printed (dates, and non-dates such as 88/88 read as printed)"),
           ("printed_expiries_wrong", "non-dates read as printed that the card does not print"),
           ("name_exact", "name exact"), ("false_accept_rate", "false-accept rate"), ("median_ms", "median ms / image"))


def to_markdown(reports: list[dict]) -> str:
    def cell(v):
        return "n/a" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))

    head = "| figure | " + " | ".join(r["engine"] for r in reports) + " |"
    lines = [f"Data: `{reports[0]['data']}` — {reports[0]['overall']['images']} images, "
             f"{reports[0]['overall']['with_number']} with a number "
             f"({reports[0]['overall']['luhn_valid_labels']} passing Luhn).", "", head,
             "|---|" + "---|" * len(reports)]
    for key, title in FIGURES:
        lines.append(f"| {title} | " + " | ".join(cell(r["overall"][key]) for r in reports) + " |")
    lines += ["", "By group (number read exactly as printed; false accepts):", "",
              "| group | " + " | ".join(r["engine"] for r in reports) + " |", "|---|" + "---|" * len(reports)]
    for g in reports[0]["by_group"]:
        cells = []
        for r in reports:
            s = r["by_group"].get(g, {})
            cells.append(f"{cell(s.get('number_exact'))} ({s.get('false_accepts', 0)} FA, n={s.get('images', 0)})")
        lines.append(f"| {g} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
