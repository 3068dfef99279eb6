"""``cardlens scan IMAGE...``: read card images and print masked results (or JSON)."""

from __future__ import annotations

import argparse
import json
import sys

from cardlens.imageio import IMAGE_SUFFIXES


def register(subparsers) -> None:
    p = subparsers.add_parser("scan", help="read number, expiry and name from card images",
                              description="Scan card images. Card numbers are masked unless --reveal. "
                                          "Exit status: 0 a card number was read (a card found, with --no-ocr), "
                                          "1 none was, 2 an error (unreadable image, missing model).")
    p.add_argument("images", nargs="+", help="image files or folders of images")
    p.add_argument("--json", action="store_true", help="print one JSON object per image (JSON Lines)")
    p.add_argument("--reveal", action="store_true", help="show full card numbers (never logged)")
    p.add_argument("--no-ocr", action="store_true", help="locate the card only")
    p.add_argument("--bundle", default=None,
                   help="run an export bundle (onnx-* or tflite-*) instead of the shipped models: no torch needed")
    p.add_argument("--engine", choices=["cardlens", "easyocr-fields", "easyocr"], default="cardlens",
                   help="OCR engine: cardlens (our models, default); easyocr-fields (EasyOCR's recognizer on our "
                        "field crops) or easyocr (CRAFT + recognizer on the card) need the ocr-baselines extra")
    p.add_argument("--no-whole-image", action="store_true",
                   help="never read a card-shaped image (card artwork, a scan) as the card itself when the "
                        "detector's card gives no accepted number")
    p.add_argument("--no-cut-card", action="store_true",
                   help="never complete a card cut off by the frame's border: read the detector's corners only")
    p.add_argument("--no-edge-extension", action="store_true",
                   help="never read the card extended past the edge its number or name runs to")
    p.add_argument("--no-second-cut", action="store_true",
                   help="never cut and read the card again when its reading gave no accepted number or no date")
    p.add_argument("--detector", choices=["default", "contour", "learned"], default="default",
                   help="card localizer (default: the one measured best on realcards-dev, see README)")
    p.set_defaults(func=run)


def _expand(paths: list[str]) -> list[str]:
    from pathlib import Path

    out = []
    for p in paths:
        path = Path(p)
        try:
            if path.is_dir():
                out += sorted(str(f) for f in path.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
                continue
        except OSError:  # a name too long, an unreadable folder: the image loader says what is wrong
            pass
        out.append(p)
    return out


def format_result(path: str, result, reveal: bool = False) -> str:
    if not result.card_found:
        return f"{path}: no card found"
    from cardlens.scanner import WHOLE_IMAGE_NOTE

    whole = bool(result.notes) and result.notes[0].startswith(WHOLE_IMAGE_NOTE)
    found = "the whole image" if whole else f"confidence {result.card_confidence:.2f}"
    lines = [f"{path}: card found ({found}, engine {result.engine})"]
    n = result.number
    if n:
        status = "valid" if n.valid else ("fails Luhn" if not n.luhn_valid else "length not issued by brand")
        lines.append(f"  number : {n.formatted(reveal)}  ({n.brand}, {len(n)} digits, {status}, "
                     f"confidence {n.confidence:.2f})")
    else:
        lines.append("  number : not read")
    e, printed = result.expiry, result.printed_expiry
    if e:
        lines.append(f"  expiry : {e}{' (' + e.label + ')' if e.label else ''}{' EXPIRED' if e.expired else ''}")
    elif printed:
        lines.append(f"  expiry : {printed} as printed (not a date: no expiry returned)")
    else:
        lines.append("  expiry : not read")
    lines.append(f"  name   : {result.name.value}" if result.name else "  name   : not read")
    lines.append("  timings: " + " · ".join(f"{k} {v:.0f} ms" for k, v in result.timings_ms.items()))
    lines += [f"  note   : {note}" for note in result.notes if not note.startswith("card located")]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from cardlens.cardrules import redact_text
    from cardlens.errors import CardlensError, UsageError
    from cardlens.scanner import CardScanner

    paths = _expand(args.images)
    if not paths:
        raise UsageError("no images to scan (folders given contain no .jpg/.png/... files)")
    from cardlens.imageio import load_image

    scanner = None  # built after the first image loads: a bad path fails before models load
    failures = read = 0
    for path in paths:
        try:
            image = load_image(path)
            if scanner is None and args.bundle:
                from cardlens.export.bundle import bundle_scanner

                scanner = bundle_scanner(args.bundle, frame_fallback=not args.no_whole_image,
                                         complete_cut=not args.no_cut_card,
                                         extend_edges=not args.no_edge_extension,
                                         second_cut=not args.no_second_cut)
            scanner = scanner or CardScanner(args.detector, reader=None if args.no_ocr else args.engine,
                                             frame_fallback=not args.no_whole_image,
                                             complete_cut=not args.no_cut_card,
                                             extend_edges=not args.no_edge_extension,
                                             second_cut=not args.no_second_cut)
            result = scanner.scan(image)
        except CardlensError as exc:
            failures += 1
            print(f"cardlens: error: {redact_text(str(exc))}", file=sys.stderr)
            continue
        read += bool(result.card_found if args.no_ocr else result.number)
        if args.json:
            print(json.dumps({"file": path, **result.to_dict(reveal=args.reveal)}))
        else:
            print(format_result(path, result, reveal=args.reveal))
    if failures:
        return 2
    return 0 if read else 1
