"""The cardlens OCR stage: field locator → line crops → recognizer → card-rule decoding.

Works on the rectified upright card. When the card may be upside down (the detector's corner order
is wrong on a few per cent of frames), the card is read again turned by 180° and the reading with
the more probable card number wins.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field

import cv2
import numpy as np

from cardlens.cardrules import normalize_name
from cardlens.cardrules.expiry import PrintedExpiry, parse_expiry, printed_non_date
from cardlens.ocr.charset import EXPIRY_CHARS, NAME_CHARS, NUMBER_CHARS, allowed_classes
from cardlens.ocr.ctc import beam_search, combined_beams, greedy
from cardlens.ocr.field_locator import FieldBox, FieldLocator
from cardlens.ocr.fields import CardFields
from cardlens.ocr.line_crop import PAD_X, crop_line, tilt_from_groups
from cardlens.ocr.number_decoding import (
    CONFIRMED_MIN_CONFIDENCE,
    NumberDecision,
    confirmable,
    confirmed,
    decide_number,
    refused,
)
from cardlens.ocr.recognizer import TextRecognizer
from cardlens.results import CardName, CardNumber

# A date is taken only from a reading holding this share of the beams' probability: one further down
# is a guess, and which guesses make the beam list flips with the runtime's rounding.
MIN_DATE_SHARE = 0.05
# Expiry boxes hug a short date: with the usual 0.3 box heights either side a narrow leading "1" or a
# trailing digit was cut off ("0/38" for 10/38). Measured on synthetic scans, expiry exact by margin:
# 0.3 → 0.807, 0.45 → 0.833, 0.6 → 0.855, 0.75 → 0.844, 1.0 → 0.823 (s52, first 300); s51 0.813 → 0.820.
# One crop per box at this margin (the EasyOCR field reader's) ...
EXPIRY_PAD_X = 0.6
# ... and ours reads a crop at each of these margins and keeps the date holding the largest share of its
# beams. Expiry exact (s56 first 400 / s51 / realcards-dev): 0.6 alone 87.9 / 84.5 / 60.7 %; 0.45, 0.6, 0.8:
# 88.2 / 84.9 / 67.9 %; these three: 88.9 / 85.2 / 67.9 % (five margins 0.3–1.0 read as these three).
# When no margin is sure of its date, the crops are read together as the number's are (ctc.combined_beams),
# and their most probable reading, when it is a date, is taken: a crop that lost the leading 1 of 12/25 read
# 2/25 surer than the others read 12/25 (s56 first 300: 189 → 191 dates, none lost; s51 and realcards-dev
# unchanged).
EXPIRY_PADS_X = (0.3, 0.6, 1.0)
# Later margins are not read once a date holds this share of its crop's beams: they gave the same date.
DATE_SURE_SHARE = 0.98
# An expiry box with no date whose crops read together give exactly MM/YY that is no date (a specimen's 88/88)
# reports it as printed (PrintedExpiry, flagged, never the expiry) when the reading is this sure.
PRINTED_MIN_SHARE = 0.9
PRINTED_MIN_CHAR = 0.5
# The number is read from crops at the first of these margins (box heights left and right of the text);
# a reading that is not accepted is tried again at the next, and the first accepted one is taken (an
# accepted reading is never replaced). Validated PAN (s56 / s51 / realcards-dev): 0.3 alone 74.9 / 80.8 % /
# 1 of 6; 0.3 then 0.6: 76.7 / 81.2 % / 2 of 6; no false accept either way, nor on s54 (2,000 scenes).
# When no margin's reading is accepted, the crops at every margin are read together (ctc.combined_beams:
# each candidate scored by the product of its CTC probabilities under the crops), and that reading is taken
# when accepted. Validated PAN s51 83.5 → 84.8 %, s56 82.2 → 82.4 %, s54 82.3 → 83.5 %, realcards-dev 2 → 3
# of 6, no false accept (2026-12-03). Reading the number only from the crops combined lost clear numbers:
# the wide crop reads marks past the line's ends as digits where the tight one clips an end digit.
NUMBER_PADS_X = (PAD_X, 0.6)
# how many located boxes of a kind are tried, most confident first
EXPIRY_BOXES_TRIED = 3
NAME_BOXES_TRIED = 2


@dataclass(frozen=True)
class CardReading:
    fields: CardFields
    decision: NumberDecision | None
    boxes: tuple[FieldBox, ...] = ()
    rotated: bool = False                  # read after turning the card by 180°
    tilt: float = 0.0                      # radians the lines were straightened by (see line_crop)
    notes: tuple[str, ...] = field(default_factory=tuple)


# The name is read from crops with each of these margins left and right (box heights), and the reading
# whose weakest character is surest is kept: a tight crop clips a first or last letter, a loose one takes
# in a logo or the card's edge. Name exact (s56 first 400 / s51 / realcards-dev): 0.3 alone 70.4 / 69.4 /
# 46.7 %; 0.2, 0.3, 0.5: 72.5 / 71.5 / 50.0 %; these four: 73.2 / 71.1 / 53.3 % (shifting the crops up
# and down as well read fewer). They are read in this order, and no later margin once a reading is sure
# (NAME_SURE_CHAR_CONFIDENCE): read tightest first, a clipped name is often sure of what is left ("ATRICIA"),
# so the loose crops come first. Names right with this early stop against all four margins read:
# s56 1,000 names 483 vs 479, s51 206 vs 202, s54 first 600 276 vs 272, realcards-dev 16 vs 16 (numbers and
# dates the same everywhere), and 4-10 % less time per image.
NAME_PADS_X = (0.5, 0.3, 0.7, 0.15)

# a name is reported only when its weakest character is at least this sure. Measured: no correct name
# on the synthetic (400) or real (55) sets is below it (0.5 would drop 2 correct synthetic ones), and a
# wrong real one whose weakest character is 0.27 read I or L by a hair depending on the runtime
MIN_NAME_CHAR_CONFIDENCE = 0.35
# Later margins are not read once a name's weakest character is this sure.
NAME_SURE_CHAR_CONFIDENCE = 0.98


def _rows(boxes: list[FieldBox]) -> list[list[FieldBox]]:
    """Group boxes into rows (vertical overlap), top to bottom, each left to right."""
    rows: list[list[FieldBox]] = []
    for b in sorted(boxes, key=lambda b: b.cy):
        # compared with the row's box nearest along x: a slightly tilted line drifts along its length
        near = min(rows[-1], key=lambda r: abs(r.box[0] - b.box[0])) if rows else None
        if near is not None and abs(b.cy - near.cy) < 0.5 * b.height:
            rows[-1].append(b)
        else:
            rows.append([b])
    return [sorted(r, key=lambda b: b.box[0]) for r in rows]


def _number_layout(boxes: list[FieldBox]) -> tuple[FieldBox | None, list[FieldBox], list[list[FieldBox]], bool]:
    """(most confident number line, digit groups, their rows, stacked): a number box about two
    group-heights tall spans stacked "quick read" rows, which are read group by group."""
    lines = [b for b in boxes if b.kind == "number"]
    groups = [b for b in boxes if b.kind == "number_group"]
    line = max(lines, key=lambda b: b.confidence) if lines else None
    group_h = float(np.median([g.height for g in groups])) if groups else 0.0
    if line is not None and line.height > 1.6 * group_h:
        # a tall number box holds stacked rows: its rows are the groups within it, not a date beside
        # them that the locator also took for a group (which made the top row two "groups" long)
        inside = [g for g in groups if _centre_within(g, line)]
        rows = _rows(inside)
        if len(rows) >= 2:
            return line, inside, rows, True
    rows = [r for r in _rows(groups) if len(r) >= 2 or len(groups) <= 4]
    stacked = len(rows) >= 2 and (line is None or line.height > 1.6 * group_h)
    return line, groups, rows, stacked


def _best_row(groups: list[FieldBox]) -> list[FieldBox]:
    """The row of digit groups the locator is surest of (summed confidence)."""
    return max(_rows(groups), key=lambda r: sum(g.confidence for g in r))


def _centre_within(inner: FieldBox, outer: FieldBox) -> bool:
    cx, cy = (inner.box[0] + inner.box[2]) / 2, inner.cy
    return outer.box[0] <= cx <= outer.box[2] and outer.box[1] <= cy <= outer.box[3]


class CardReader:
    """Reads number, expiry and name from a rectified card (BGR). Stateless between calls."""

    name = "cardlens"
    # ``False`` reads every name and date margin, even after a sure reading (the A/B for the early stop)
    stop_when_sure = True

    def __init__(self, locator: FieldLocator | None = None, recognizer: TextRecognizer | None = None,
                 runtime: str = "onnx", threads: int | None = None, try_rotated: bool = True,
                 stop_when_sure: bool = True):
        self.locator = locator or FieldLocator.load(runtime=runtime, threads=threads)
        self.recognizer = recognizer or TextRecognizer.load(runtime=runtime, threads=threads)
        self.try_rotated = try_rotated
        self.stop_when_sure = bool(stop_when_sure)
        t = self.recognizer.spec.thresholds
        self.beam = int(t.get("beam", 16))
        self.min_confidence = float(t.get("number_min_confidence", 0.9))
        self.min_char_confidence = float(t.get("number_min_char_confidence", 0.5))
        self.confirmed_min_confidence = float(t.get("number_confirmed_min_confidence", CONFIRMED_MIN_CONFIDENCE))

    def read_card(self, card: np.ndarray) -> CardReading:
        first = self._read_once(card, rotated=False)
        if not self.try_rotated or (first.decision is not None and first.decision.number.confidence >= 0.5):
            return first
        second = self._read_once(cv2.rotate(card, cv2.ROTATE_180), rotated=True)
        return second if reading_score(second) > reading_score(first) else first

    # ------------------------------------------------------------------ one orientation
    def _read_once(self, card: np.ndarray, rotated: bool) -> CardReading:
        boxes = self.locator.locate(card)
        tilt = card_tilt(boxes)
        decision, notes = self._number(card, boxes, tilt)
        expiry, printed = self._expiry(card, [b for b in boxes if b.kind == "expiry"], tilt)
        name = self._name(card, [b for b in boxes if b.kind == "name"], tilt)
        number = decision.number if decision else None
        if tilt:
            notes.insert(0, f"lines straightened by {math.degrees(tilt):.1f}°")
        if decision:
            notes.append(f"number: {decision.reason}")
        if printed:
            notes.append(f"expiry printed as {printed.text}: not a date, returned as read")
        return CardReading(CardFields(number, expiry, name, printed), decision, tuple(boxes), rotated, tilt,
                           tuple(notes))

    def _beams(self, card: np.ndarray, box: FieldBox, chars: str, tilt: float = 0.0, encloses: bool = True,
               pad_x: float | tuple = PAD_X, seen: dict | None = None):
        """Beam readings of one box's crop at margin ``pad_x``, or of its crops at each of a tuple of
        margins, combined (:func:`cardlens.ocr.ctc.combined_beams`); None when no crop can be cut.
        ``seen`` (one card's reading) keeps each crop's probabilities and beam readings, so no crop is
        recognized or searched twice."""
        seen = {} if seen is None else seen
        allowed = allowed_classes(chars)
        probs, readings = [], []
        for pad in pad_x if isinstance(pad_x, tuple) else (pad_x,):
            p = self._probs(card, box, tilt, encloses, pad, seen)
            if p is not None:
                key = (box.box, tilt, encloses, pad, chars)
                if key not in seen:
                    seen[key] = beam_search(p, allowed, beam=self.beam)
                probs.append(p)
                readings.append(seen[key])
        if not probs:
            return None
        return combined_beams(probs, allowed, self.beam, readings)

    def _probs(self, card: np.ndarray, box: FieldBox, tilt: float, encloses: bool, pad_x: float,
               seen: dict) -> np.ndarray | None:
        """The recognizer's probabilities for one crop (None when it cannot be cut), kept in ``seen``."""
        key = (box.box, tilt, encloses, pad_x)
        if key not in seen:
            crop = crop_line(card, box.box, tilt, encloses, pad_x)
            seen[key] = None if crop is None else self.recognizer.probabilities(crop)
        return seen[key]

    def _number(self, card: np.ndarray, boxes: list[FieldBox],
                tilt: float = 0.0) -> tuple[NumberDecision | None, list[str]]:
        """The number read from crops at the first margin of ``NUMBER_PADS_X``; when that reading is not
        accepted, the first accepted reading at a later margin takes its place, and failing that, the
        reading of the crops at every margin combined when that one is accepted."""
        layout = _number_layout(boxes)
        line, groups, _, _ = layout
        if line is None and not groups:  # no number field: one look
            return self._number_at(card, layout, tilt, NUMBER_PADS_X[0])
        first, seen = None, {}
        for pad_x in (*NUMBER_PADS_X, tuple(NUMBER_PADS_X)):
            decision, notes = self._number_at(card, layout, tilt, pad_x, seen)
            if decision is not None and decision.accepted:
                if first is not None:
                    how = ("its crops at every margin, combined" if isinstance(pad_x, tuple)
                           else f"crops {pad_x:g} box heights wide of the text")
                    notes.append(f"number accepted from {how}")
                return decision, notes
            first = first or (decision, notes)
        return first

    def _number_at(self, card: np.ndarray, layout, tilt: float, pad_x: float | tuple,
                   seen: dict | None = None) -> tuple[NumberDecision | None, list[str]]:
        """The number read from crops at the margin ``pad_x`` (or at each of a tuple of margins, their
        readings combined); ``layout`` is :func:`_number_layout` of the located boxes."""
        notes: list[str] = []
        line, groups, rows, stacked = layout
        if line is not None:
            line = _extend_to_groups(line, groups)
        attempts = []
        if stacked:
            attempts.append(("stacked groups", [g for r in rows for g in r]))
        if line is not None:
            attempts.append(("number line", [line]))
        if groups and not stacked:
            best_row = _best_row(groups)
            attempts.append(("number groups", best_row))
        for how, parts in attempts:
            # stacked groups are short and each on its own row: read level
            turn = 0.0 if how == "stacked groups" else tilt
            segments = [self._beams(card, p, NUMBER_CHARS, turn, encloses=how == "number line", pad_x=pad_x,
                                    seen=seen)
                        for p in parts]
            if any(s is None or not s for s in segments):
                continue
            decision = decide_number(segments, self.min_confidence, self.min_char_confidence)
            if decision is not None:
                notes.append(f"number read from the {how}")
                if how == "number line" and groups and not stacked:
                    decision = self._confirm_by_groups(card, decision, groups, line, tilt, pad_x, seen)
                if how == "stacked groups" and decision.accepted and line is not None:
                    decision = _check_stacked_rows(decision, line, rows)
                if decision.accepted and len(decision.number) < SHORT_PAN:
                    decision = _check_inside_card(decision, parts, card.shape[1])
                # a line read surely that fails Luhn is what is printed (specimen numbers): only an unsure
                # line reading gives way to its groups (with a sure one too, s54 read a printed 18-digit
                # 2202 0000… run of zeros as a valid 19-digit number from its groups)
                if (not decision.accepted and decision.number.confidence < self.min_confidence
                        and how == "number line" and groups and not stacked):
                    by_groups = self._groups_apart(card, groups, tilt, pad_x, seen)
                    if by_groups is not None:
                        notes.append("number read from the number groups: the line's reading was not accepted")
                        return by_groups, notes
                return decision, notes
            digits = sum(ch.isdigit() for seg in segments for ch in seg[0].text)
            notes.append(f"the {how} read as {digits} digits: not a card number")
        if line is None and not groups:
            notes.append("no number field found")
        return None, notes

    def _groups_apart(self, card: np.ndarray, groups: list[FieldBox], tilt: float,
                      pad_x: float | tuple, seen: dict | None = None) -> NumberDecision | None:
        """The best row of digit groups read apart, when that reading is accepted by the card rules on its own."""
        row = _best_row(groups)
        if len(row) < 2:
            return None
        segments = [self._beams(card, g, NUMBER_CHARS, tilt, encloses=False, pad_x=pad_x, seen=seen) for g in row]
        if any(not s for s in segments):
            return None
        decision = decide_number(segments, self.min_confidence, self.min_char_confidence)
        if decision is None or not decision.accepted:
            return None
        if len(decision.number) < SHORT_PAN:
            decision = _check_inside_card(decision, row, card.shape[1])
        return decision if decision.accepted else None

    def _confirm_by_groups(self, card: np.ndarray, decision: NumberDecision, groups: list[FieldBox],
                           line: FieldBox, tilt: float, pad_x: float | tuple = PAD_X,
                           seen: dict | None = None) -> NumberDecision:
        """A second look for a valid line reading that fell short of ``min_confidence`` only: its digit
        groups read apart (other crops, other context) must give the same digits."""
        if not confirmable(decision, self.confirmed_min_confidence, self.min_char_confidence):
            return decision
        row = _on_line(line, groups)
        if len(row) < 2:
            return decision
        segments = [self._beams(card, g, NUMBER_CHARS, tilt, encloses=False, pad_x=pad_x, seen=seen)
                    for g in sorted(row, key=lambda g: g.box[0])]
        if any(not s for s in segments):
            return decision
        second = decide_number(segments, 0.0, 0.0)
        if second is None or second.number.reveal() != decision.number.reveal():
            return decision
        return confirmed(decision)

    def _expiry(self, card: np.ndarray, boxes: list[FieldBox], tilt: float = 0.0):
        """(the expiry date, None), or (None, the first box's surely read non-date such as 88/88, or None)."""
        printed = None
        for box in sorted(boxes, key=lambda b: -b.confidence)[:EXPIRY_BOXES_TRIED]:
            dates, seen, sure = [], {}, False
            for pad_x in EXPIRY_PADS_X:
                beams = self._beams(card, box, EXPIRY_CHARS, tilt, encloses=False, pad_x=pad_x, seen=seen)
                date = _date_of(beams, box) if beams else None
                if date is not None:
                    dates.append(date)
                    if date.confidence >= DATE_SURE_SHARE * box.confidence:
                        sure = True
                        if self.stop_when_sure:
                            break
            if not sure:
                # no margin sure of its date: the crops read together, when their most probable reading
                # is a date (see EXPIRY_PADS_X)
                beams = self._beams(card, box, EXPIRY_CHARS, tilt, encloses=False, pad_x=EXPIRY_PADS_X, seen=seen)
                together = _date_of(beams, box, top_only=True) if beams else None
                if together is not None:
                    return together, None
                if not dates and printed is None and beams:
                    printed = _printed_non_date(beams, box)
            if dates:
                return max(dates, key=lambda d: d.confidence), None
        return None, printed

    def _name(self, card: np.ndarray, boxes: list[FieldBox], tilt: float = 0.0) -> CardName | None:
        for box in sorted(boxes, key=lambda b: -b.confidence)[:NAME_BOXES_TRIED]:
            read: list[CardName] = []
            for pad_x in NAME_PADS_X:
                crop = crop_line(card, box.box, tilt, encloses=False, pad_x=pad_x)
                if crop is None:
                    continue
                reading = greedy(self.recognizer.probabilities(crop), allowed_classes(NAME_CHARS))
                value = normalize_name(reading.text)
                weakest = min(reading.char_confidences, default=0.0)
                if value and weakest >= MIN_NAME_CHAR_CONFIDENCE:
                    read.append(CardName(value, float(weakest), reading.char_confidences))
                    if self.stop_when_sure and weakest >= NAME_SURE_CHAR_CONFIDENCE:
                        break
            if read:
                return best_name(read)
        return None


def best_name(read: list[CardName]) -> CardName:
    """The name among one box's readings at several margins: a text read the same at two or more margins
    before one read once (two crops that agree are rarely both wrong, while the surest single reading is
    often a clipped one: "AMES PETROV" 0.80 over "JAMES PETROV" 0.51), then the surest weakest character.
    Measured on the first reading of each card, names right / wrong: s51 198 / 56 → 203 / 51, s56 (1,000)
    478 / 141 → 488 / 131."""
    times = Counter(n.value for n in read)
    return max(read, key=lambda n: (times[n.value] >= 2, n.confidence))


def reader_line_crops(card: np.ndarray, boxes: list[FieldBox]) -> list[tuple[FieldBox, np.ndarray]]:
    """The line crops :class:`CardReader` cuts from ``card`` for ``boxes`` (its locator's output), each
    with the box it was cut for: the most confident number line grown over its digit groups, every
    digit group, the three most confident expiry and two most confident name boxes (each at every margin
    of ``EXPIRY_PADS_X`` and ``NAME_PADS_X``; the number at its first margin only), straightened and
    padded as the reader does. ``cardlens synth lines --crops located`` renders recognizer training
    lines with it, so the recognizer learns the crops it will be given."""
    tilt = card_tilt(boxes)
    line, groups, _, stacked = _number_layout(boxes)
    wanted: list[tuple[FieldBox, float, bool, float]] = []  # box, turn, encloses, pad_x
    if line is not None:
        wanted.append((_extend_to_groups(line, groups), tilt, True, PAD_X))
    wanted += [(g, 0.0 if stacked else tilt, False, PAD_X) for g in groups]
    by_conf = sorted(boxes, key=lambda b: -b.confidence)
    wanted += [(b, tilt, False, pad_x) for b in [b for b in by_conf if b.kind == "expiry"][:EXPIRY_BOXES_TRIED]
               for pad_x in EXPIRY_PADS_X]
    wanted += [(b, tilt, False, pad_x) for b in [b for b in by_conf if b.kind == "name"][:NAME_BOXES_TRIED]
               for pad_x in NAME_PADS_X]
    out = []
    for box, turn, encloses, pad_x in wanted:
        crop = crop_line(card, box.box, turn, encloses, pad_x)
        if crop is not None:
            out.append((box, crop))
    return out


def _date_of(beams, box: FieldBox, top_only: bool = False):
    """The expiry date in one crop's beam readings: the most probable reading that is a date (month
    01–12); failing that, one whose text ends in MM/YY after a stray mark at the crop's left edge (read
    "510/21" for "10/21"). Its confidence is its share of the beams times the box's; None without one.
    ``top_only``: only the most probable reading may give the date."""
    total = sum(r.probability for r in beams) or 1.0
    for text_of in (lambda t: t.strip(), _date_tail):
        for r in beams[:1] if top_only else beams:
            share = r.probability / total
            found = parse_expiry(text_of(r.text)) if share >= MIN_DATE_SHARE else None
            if found is not None:
                return type(found)(found.month, found.year, found.text, found.label, found.expired,
                                   share * box.confidence, r.char_confidences[-len(found.text):])
    return None


def _printed_non_date(beams, box: FieldBox) -> PrintedExpiry | None:
    """The crops' combined reading as a :class:`PrintedExpiry` when it is exactly ``MM/YY``, no date (88/88),
    holds at least ``PRINTED_MIN_SHARE`` of the beams and no character is below ``PRINTED_MIN_CHAR``."""
    total = sum(r.probability for r in beams) or 1.0
    top = beams[0]
    text = printed_non_date(top.text)
    share = top.probability / total
    if text is None or share < PRINTED_MIN_SHARE or min(top.char_confidences, default=0.0) < PRINTED_MIN_CHAR:
        return None
    return PrintedExpiry(text, share * box.confidence, tuple(top.char_confidences[-len(text):]))


def _date_tail(text: str) -> str:
    """The trailing ``MM/YY`` of an expiry field's reading that has extra characters in front of it."""
    m = re.search(r"([0-9]{2}\s?/\s?[0-9]{2})\s*$", text)
    return m.group(1) if m and m.start() > 0 else ""


def _extend_to_groups(line: FieldBox, groups: list[FieldBox]) -> FieldBox:
    """The number line box grown to cover the digit groups found on its row: on real cards the line
    box alone sometimes stops short of the last digits or clips their tops."""
    row = [g for g in _on_line(line, groups)
           if g.box[0] < line.box[2] + 2 * g.height and g.box[2] > line.box[0] - 2 * g.height]
    if not row:
        return line
    x1, y1, x2, y2 = line.box
    box = (min(x1, *(g.box[0] for g in row)), min(y1, *(g.box[1] for g in row)),
           max(x2, *(g.box[2] for g in row)), max(y2, *(g.box[3] for g in row)))
    return FieldBox(line.kind, box, line.confidence)


def _on_line(line: FieldBox, groups: list[FieldBox]) -> list[FieldBox]:
    """The digit groups whose centre lies within the number line's height."""
    return [g for g in groups if line.box[1] <= g.cy <= line.box[3]]


def card_tilt(boxes: list[FieldBox]) -> float:
    """How far the rectified card is still turned (radians), from the digit groups of its number line
    (the most confident line's row, or the best row of groups when no line was found); 0 when unknown."""
    lines = [b for b in boxes if b.kind == "number"]
    groups = [b for b in boxes if b.kind == "number_group"]
    if not groups:
        return 0.0
    if lines:
        row = _on_line(max(lines, key=lambda b: b.confidence), groups)
    else:
        row = _best_row(groups)
    return tilt_from_groups(row)


# A number box this close (share of the card's width) to the rectified card's left or right edge
# runs off it: the corners cut the card, and digits past the cut are not in the reading.
CARD_EDGE_MARGIN = 0.01
# ... checked for numbers shorter than this: a cut 16-digit number leaves a 12–15-digit reading, which
# brands issue (Maestro, Amex, Diners); refusing every edge-touching number cost 1.6 points of validated
# PAN on synthetic s52 (5 of 312 correct numbers)
SHORT_PAN = 16


def _check_inside_card(decision: NumberDecision, parts: list[FieldBox], card_width: int) -> NumberDecision:
    """Refuse a number whose boxes touch the card's left or right edge: on a card the detector cut,
    the digits left can pass Luhn by chance (measured: 14 of 16 digits read at 0.99 on a synthetic
    scan whose card was cut through its number)."""
    margin = CARD_EDGE_MARGIN * card_width
    if min(p.box[0] for p in parts) > margin and max(p.box[2] for p in parts) < card_width - margin:
        return decision
    return refused(decision, "the number runs off the card's edge: digits may be missing")


def _check_stacked_rows(decision: NumberDecision, box: FieldBox, rows: list[list[FieldBox]]) -> NumberDecision:
    """Refuse a stacked ("quick read") number when its number box holds more rows of groups than were
    read: a row under glare or a finger is missing, and the rows left may pass Luhn by chance."""
    centres = [float(np.mean([g.cy for g in r])) for r in rows]
    pitch = float(np.median(np.diff(centres))) if len(centres) >= 2 else 0.0
    if pitch <= 0 or box.height / pitch < len(rows) + 0.75:
        return decision
    return refused(decision, "the number box holds more rows than were read: digits may be missing")


# A number, digit-group or name box this close to the rectified card's left or right edge (share of its
# width) runs into it. Measured on s56 with EDGE_EXTENSION 0.15: 0.015 and 0.03 read the same (80.8 / 80.9 %
# number exact), 0.03 tries the extension on twice as many cards.
EDGE_TOUCH = 0.015
EDGE_KINDS = ("number", "number_group", "name")


def text_at_edges(reading: CardReading, card_width: int) -> tuple[bool, bool]:
    """Whether the reading's number, digit-group or name boxes run to the card's (left, right) edge, in
    the design's frame: a card read turned by 180° has its sides swapped."""
    near = EDGE_TOUCH * card_width
    left = any(b.box[0] < near for b in reading.boxes if b.kind in EDGE_KINDS)
    right = any(b.box[2] > card_width - near for b in reading.boxes if b.kind in EDGE_KINDS)
    return (right, left) if reading.rotated else (left, right)


# How much better the card turned by 180° must read to overrule the detector's corner order.
ROTATION_MARGIN = 0.25
# A number read from the turned card under this confidence is no evidence for the turn: cards without a
# number (backs, no-number designs) read turned as 12–19 digits of texture at 0.01–0.22 (synthetic s52:
# 28 such cards were turned and given a made-up number and name; the one real card a turn rescues reads
# at 0.97). The upright reading keeps any number as evidence: the detector's order is the prior.
MIN_TURNED_NUMBER_CONFIDENCE = 0.3


def reading_score(reading: CardReading) -> float:
    """How convincingly one reading reads as a card: a card number (and its confidence), plus a date and
    a name found. It picks between the two turns of a card, and between the detector's card and the whole
    image (:func:`cardlens.scanner.frame_wins`). Upside-down digits also read as digits (0, 1, 8 and 6/9 survive a turn), so
    the number alone does not decide; the upright reading gets ``ROTATION_MARGIN`` as the detector's prior."""
    d = reading.decision
    floor = MIN_TURNED_NUMBER_CONFIDENCE if reading.rotated else 0.0
    score = 1.0 + d.number.confidence if d is not None and d.number.confidence >= floor else 0.0
    score += 0.5 * (reading.fields.expiry is not None) + 0.25 * (reading.fields.name is not None)
    return score if reading.rotated else score + ROTATION_MARGIN


class EasyOCRFieldReader(CardReader):
    """Our field locator and card rules, with EasyOCR's English recognizer reading each field crop.

    EasyOCR gives text and one confidence per line, not per-frame probabilities, so the number is the
    text as read; it is accepted when valid (Luhn, brand) and EasyOCR's confidence is ≥ 0.9.
    """

    name = "easyocr-fields"

    def __init__(self, locator: FieldLocator | None = None, line_reader=None, try_rotated: bool = True):
        from cardlens.ocr.easyocr_engine import EasyOCRLineReader

        self.locator = locator or FieldLocator.load()
        self.line_reader = line_reader or EasyOCRLineReader()
        self.try_rotated = try_rotated
        self.min_confidence, self.min_char_confidence, self.beam = 0.9, 0.0, 1

    def _text(self, card, box, chars, tilt=0.0, encloses=True, pad_x=PAD_X):
        crop = crop_line(card, box.box, tilt, encloses, pad_x)
        return ("", 0.0) if crop is None else self.line_reader.read_line(crop, chars)

    def _number(self, card, boxes, tilt=0.0):
        from cardlens.cardrules import PAN_MAX_LENGTH, PAN_MIN_LENGTH

        notes = []
        lines = sorted((b for b in boxes if b.kind == "number"), key=lambda b: -b.confidence)
        groups = [g for r in _rows([b for b in boxes if b.kind == "number_group"]) for g in r]
        for how, parts in (("number line", lines[:1]), ("number groups", groups)):
            if not parts:
                continue
            read = [self._text(card, p, NUMBER_CHARS, tilt if how == "number line" else 0.0) for p in parts]
            digits = "".join(ch for text, _ in read for ch in text if ch.isdigit())
            if PAN_MIN_LENGTH <= len(digits) <= PAN_MAX_LENGTH:
                conf = min(c for _, c in read)
                number = CardNumber.from_digits(digits, conf, (conf,) * len(digits))
                accepted = number.valid and conf >= self.min_confidence
                reason = "valid and confidently read" if accepted else (
                    "fails Luhn (returned as read)" if not number.luhn_valid else "not confidently read")
                groups_read = tuple(len(t.replace(" ", "")) for t, _ in read)
                notes.append(f"number read from the {how}")
                return NumberDecision(number, accepted, reason, groups_read, 0.0), notes
        return None, notes

    def _expiry(self, card, boxes, tilt=0.0):
        for box in sorted(boxes, key=lambda b: -b.confidence)[:EXPIRY_BOXES_TRIED]:
            text, conf = self._text(card, box, EXPIRY_CHARS, tilt, encloses=False, pad_x=EXPIRY_PAD_X)
            found = parse_expiry(text)
            if found is not None:
                return type(found)(found.month, found.year, found.text, found.label, found.expired,
                                   conf * box.confidence, (conf,) * len(found.text)), None
        return None, None

    def _name(self, card, boxes, tilt=0.0):
        for box in sorted(boxes, key=lambda b: -b.confidence)[:NAME_BOXES_TRIED]:
            text, conf = self._text(card, box, NAME_CHARS, tilt, encloses=False)
            value = normalize_name(text)
            if value:
                return CardName(value, conf, (conf,) * len(value))
        return None
