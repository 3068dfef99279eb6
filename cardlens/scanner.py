"""``CardScanner``: image → located card → rectified card → fields → number, expiry, name.

The card localizer is the shipped learned detector or the classical contour baseline (see
``DEFAULT_LOCATOR`` for which is the default and why). Text is read by an engine: ``"cardlens"`` (our
field locator + recognizer + card-rule decoding, the default) or ``"easyocr"`` (EasyOCR's genuine
English models on the rectified card, when the ``ocr-baselines`` extra is installed). Each stage is
swappable through the constructor.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

import numpy as np

from cardlens.detector.contour import locate_card
from cardlens.detector.types import CardDetection
from cardlens.geometry import CARD_MARGIN, ID1_ASPECT, complete_cut_quad, grow_quad, grow_sides, rectify
from cardlens.imageio import load_image
from cardlens.logs import get_logger
from cardlens.ocr.fields import TextBox, assemble_fields
from cardlens.results import ScanResult
from cardlens.timing import StageTimer

log = get_logger(__name__)


class Locator(Protocol):
    def __call__(self, image: np.ndarray) -> CardDetection | None: ...


class TextReader(Protocol):
    name: str

    def read(self, image_bgr: np.ndarray) -> list[TextBox]: ...


# The default localizer is chosen by measurement on realcards-dev (card found at IoU ≥ 0.5): the
# shipped learned detector finds 76 % (see its MODEL_CARD.md), the classical contour locator 71 %.
DEFAULT_LOCATOR = "learned"
ENGINES = ("cardlens", "easyocr", "easyocr-fields")


def make_locator(name: str = "default") -> Locator:
    """``"contour"`` (classical baseline) or ``"learned"`` (the shipped YOLO-pose detector, ONNX Runtime)."""
    name = DEFAULT_LOCATOR if name == "default" else name
    if name == "contour":
        return locate_card
    if name == "learned":
        from cardlens.detector.model import DEFAULT_DETECTOR, CardDetector

        return CardDetector.load(DEFAULT_DETECTOR, runtime="onnx")
    raise ValueError(f"unknown locator {name!r}: use 'contour' or 'learned'")


def make_reader(engine: str = "cardlens"):
    """The OCR engine by name: ``"cardlens"`` (default), ``"easyocr"`` (CRAFT + recognizer on the whole
    rectified card) or ``"easyocr-fields"`` (our field locator, EasyOCR's recognizer on each field crop)."""
    if engine == "cardlens":
        from cardlens.ocr.card_reader import CardReader

        return CardReader()
    if engine == "easyocr":
        from cardlens.ocr.easyocr_engine import EasyOCRReader

        return EasyOCRReader()
    if engine == "easyocr-fields":
        from cardlens.ocr.card_reader import EasyOCRFieldReader

        return EasyOCRFieldReader()
    raise ValueError(f"unknown OCR engine {engine!r}: use one of {', '.join(ENGINES)}")


# A still image within this share of a card's shape (ISO/IEC 7810 ID-1, landscape or portrait) may be the
# card itself: artwork, a flatbed scan, a photo cropped to the card. Camera frames (4:3 at 1.33, 16:9 at
# 1.78) fall outside it, so video never pays for the second reading.
FRAME_ASPECT_TOLERANCE = 0.10
# the first note of a result whose card is the whole image
WHOLE_IMAGE_NOTE = "card taken as the whole image"
# the note of a result whose card ran out of the frame and was read with its corners completed
CUT_CARD_NOTE = "card partly outside the frame: read with its hidden corners completed"
# the note added when text ran to the card's left or right edge and the card was read extended past it
EDGE_NOTE = "text ran to the card's {side} edge: read extended past it"
# how far past that edge (share of the card's width; the card is still warped to 856 × 540, so its text
# is narrowed a little: warping it wider instead read 2 real names fewer).
# Measured on s56 (1,000) and realcards-dev, number exact: 0.10 → 80.3 / 75.0 %, 0.15 → 80.8 / 75.0 %,
# 0.25 → 80.6 / 75.0 % (80.3 / 71.9 % without)
EDGE_EXTENSION = 0.15
# a card read with more of it in view (hidden corners completed, or extended past text at its edge) keeps
# that reading unless it scores this much lower as a card: equal readings differ in the beam's shares by
# rounding (measured on s56: no answer differs from a strict comparison for the completed corners)
GROWN_CARD_SLACK = 0.05
# a card whose reading gave no accepted number or no date is cut once more with this margin (instead of
# CARD_MARGIN) and read again (see after_second_cut for what is kept). The reader is that sensitive to
# where the card is cut: moving the corners by half a pixel changed 33 of s51's 400 readings in some field.
# Measured on s51 (400) / s56 (1,000) / realcards-dev, validated PANs: 178 → 184 / 449 → 456 / 2 → 2,
# numbers read exactly 234 → 237 / 564 → 569 / 26 → 26, no false accept on any
SECOND_CUT_MARGIN = 0.06
SECOND_CUT_NOTE = "no number accepted: the card cut again with a {margin:.0%} margin and read again"
SECOND_CUT_DATE_NOTE = "no date found: the date read from the card cut again with a {margin:.0%} margin"


def card_shaped(width: int, height: int, tolerance: float = FRAME_ASPECT_TOLERANCE) -> bool:
    """Whether a ``width`` × ``height`` image has a card's proportions, within ``tolerance``."""
    if width <= 0 or height <= 0:
        return False
    return abs(max(width, height) / min(width, height) / ID1_ASPECT - 1.0) <= tolerance


def frame_quad(width: int, height: int) -> np.ndarray:
    """The whole image as a card's corners (TL, TR, BR, BL): a portrait image gives a portrait card."""
    return np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], dtype=np.float32)


class _Candidate(NamedTuple):
    """One card the scanner read: where it was cut and what was read."""

    reading: object              # cardlens.ocr.card_reader.CardReading
    corners: np.ndarray          # the card's corners in the image (design order)
    confidence: float            # the detector's (0 for the whole image)
    quad: np.ndarray             # the corners grown by the card margin: what was rectified
    card_hw: tuple[int, int]     # the rectified card's height and width
    note: str


class CardScanner:
    """Scans one image at a time. Stateless between calls; safe to share across threads.

    ``frame_fallback``: in a card-shaped image (:func:`card_shaped`) where the detector's card gives no
    accepted number, the field reader also reads the whole image as the card, and that reading wins when
    its number is confidently the best reading (share ≥ ``CONFIRMED_MIN_CONFIDENCE``) and it reads
    better as a card (:func:`cardlens.ocr.card_reader.reading_score`). The detector learned cards in
    scenes; on frame-filling artwork it often boxes part of the card, or nothing.

    ``complete_cut``: when the detected card looks cut off by the frame's border
    (:func:`cardlens.geometry.complete_cut_quad`), the card is also read with its hidden corners
    completed, and that reading wins unless it reads worse as a card.

    ``extend_edges``: when the number, a digit group or the name runs to the rectified card's left or
    right edge (:func:`cardlens.ocr.card_reader.text_at_edges`), the detector's corner fell on the card
    and may have cut digits or letters off; the card is read again extended by ``EDGE_EXTENSION`` of its
    width past that edge, and that reading wins unless it reads worse as a card.

    ``second_cut``: when the detector's card (after the steps above) gives no accepted number or no date, it
    is cut again with ``SECOND_CUT_MARGIN`` around it and read again; its number is kept only when accepted
    (by the same card rules), its date only when both readings read the same number (:func:`after_second_cut`)."""

    def __init__(self, locator: Locator | str = "default", reader: object | None | str = "cardlens",
                 card_margin: float = CARD_MARGIN, frame_fallback: bool = True, complete_cut: bool = True,
                 extend_edges: bool = True, second_cut: bool = True):
        self.locator = make_locator(locator) if isinstance(locator, str) else locator
        self.reader = make_reader(reader) if isinstance(reader, str) else reader
        self.card_margin = float(card_margin)
        self.frame_fallback = bool(frame_fallback)
        self.complete_cut = bool(complete_cut)
        self.extend_edges = bool(extend_edges)
        self.second_cut = bool(second_cut)

    @property
    def engine(self) -> str:
        locator = getattr(self.locator, "__name__", type(self.locator).__name__)
        return f"{locator}+{self.reader.name if self.reader else 'no-ocr'}"

    def scan(self, image: object, color: str = "bgr", read: bool = True) -> ScanResult:
        """Scan a path, encoded bytes, PIL image or array. Bad input raises :class:`ImageError`.

        ``read=False`` only locates the card (a video session that already has its answer uses it to
        notice the card leaving at a fraction of the cost)."""
        timer = StageTimer()
        with timer.stage("load"):
            img = load_image(image, color=color)
        h, w = img.shape[:2]
        with timer.stage("locate"):
            det = self.locator(img)
        reads = self.reader is not None and read
        by_fields = reads and hasattr(self.reader, "read_card")  # the cardlens engine: fields → lines → card rules
        fallback = by_fields and self.frame_fallback and card_shaped(w, h)
        if det is None and not fallback:
            return _no_card((w, h), self.engine, timer)
        if not reads:
            return ScanResult(True, corners=_points(det.corners), card_confidence=det.confidence, image_size=(w, h),
                              engine=self.engine, timings=timer.result(),
                              notes=(f"card located by {det.method}", "OCR off: card located only"))
        found: _Candidate | None = None
        if det is not None:
            with timer.stage("rectify"):
                quad = grow_quad(det.corners, self.card_margin)
                card = rectify(img, quad)
            if not by_fields:
                return self._read_text_boxes(card, det, (w, h), timer)
            with timer.stage("ocr"):
                reading = self.reader.read_card(card)
            found = _Candidate(reading, det.corners, det.confidence, quad, card.shape[:2], f"card located by {det.method}")
            whole_card = complete_cut_quad(det.corners, img) if self.complete_cut else None
            if whole_card is not None:
                with timer.stage("cut_card"):
                    completed = self._read_at(img, whole_card, det.confidence,
                                              f"card located by {det.method}; {CUT_CARD_NOTE}")
                if not grown_card_loses(completed.reading, reading):
                    found = completed
            if self.extend_edges:
                found = self._extended_at_edges(img, found, timer)
            if self.second_cut and (not _accepted(found.reading) or found.reading.fields.expiry is None):
                with timer.stage("second_cut"):
                    again = self._read_at(img, found.corners, found.confidence,
                                          f"{found.note}; {SECOND_CUT_NOTE.format(margin=SECOND_CUT_MARGIN)}",
                                          SECOND_CUT_MARGIN)
                found = after_second_cut(found, again)
        if fallback and not (found and _accepted(found.reading)):
            note = WHOLE_IMAGE_NOTE + ": it is card-shaped and reads better than " + (
                "the detector's card" if found else "nothing (no card detected)")
            with timer.stage("whole_image"):
                framed = self._read_at(img, frame_quad(w, h), 0.0, note)
            if frame_wins(framed.reading, found.reading if found else None):
                found = framed
        if found is None:
            return _no_card((w, h), self.engine, timer)
        reading, corners, confidence, quad, card_hw, note = found
        notes = [note, *reading.notes]
        if reading.rotated:
            notes.append("card read turned by 180°")
        fields = reading.fields
        accepted = reading.decision.accepted if reading.decision else False
        return ScanResult(True, fields.number, fields.expiry, fields.name, _points(corners), confidence, (w, h),
                          self.engine, timer.result(), tuple(notes), accepted, _field_quads(reading, card_hw, quad),
                          fields.printed_expiry)

    def _read_at(self, img: np.ndarray, corners: np.ndarray, confidence: float, note: str,
                 margin: float | None = None) -> _Candidate:
        """The field reader's reading of the card at ``corners`` (cut with ``margin``, the card margin by default)."""
        quad = grow_quad(corners, self.card_margin if margin is None else margin)
        card = rectify(img, quad)
        return _Candidate(self.reader.read_card(card), corners, confidence, quad, card.shape[:2], note)

    def _extended_at_edges(self, img: np.ndarray, found: _Candidate, timer: StageTimer) -> _Candidate:
        """``found``, or the card read again extended past the edge its text runs to (see the class)."""
        from cardlens.ocr.card_reader import text_at_edges

        left, right = text_at_edges(found.reading, found.card_hw[1])
        if not (left or right):
            return found
        corners = grow_sides(found.corners, EDGE_EXTENSION * left, 0.0, EDGE_EXTENSION * right, 0.0)
        side = "left and right" if left and right else "left" if left else "right"
        with timer.stage("edge_extension"):
            wider = self._read_at(img, corners, found.confidence, f"{found.note}; {EDGE_NOTE.format(side=side)}")
        # a number that passes Luhn and its brand's lengths is not given up for one that does not: past the
        # edge lies background, which reads as stray digits (s56: two valid numbers lost that way)
        if _number_valid(found.reading) and not _number_valid(wider.reading):
            return found
        return found if grown_card_loses(wider.reading, found.reading) else wider

    def _read_text_boxes(self, card: np.ndarray, det: CardDetection, size: tuple[int, int],
                         timer: StageTimer) -> ScanResult:
        """A text-box reader (EasyOCR): text boxes on the rectified card → card rules."""
        with timer.stage("ocr"):
            boxes = self.reader.read(card)
        with timer.stage("decode"):
            fields = assemble_fields(boxes, (card.shape[1], card.shape[0]))
        log.debug("read %d text boxes", len(boxes))
        return ScanResult(True, fields.number, fields.expiry, fields.name, _points(det.corners), det.confidence, size,
                          self.engine, timer.result(), (f"card located by {det.method}",),
                          bool(fields.number and fields.number.valid), ())


def grown_card_loses(grown, reading) -> bool:
    """Whether the reading of a card with more of it in view (hidden corners completed, or extended past
    its text's edge) reads worse as a card than ``reading``, by more than ``GROWN_CARD_SLACK`` (a near tie
    goes to the grown card)."""
    from cardlens.ocr.card_reader import reading_score

    return reading_score(grown) < reading_score(reading) - GROWN_CARD_SLACK


def after_second_cut(found: _Candidate, again: _Candidate) -> _Candidate:
    """What the scanner keeps of the second cut's reading (``again``): all of it when its number is accepted and
    ``found``'s was not; only its date when ``found`` read no date and both readings read the same number (the
    same digits, accepted or not alike, or no number at all); otherwise nothing."""
    first, second = found.reading, again.reading
    if not _accepted(first) and _accepted(second):
        return again
    if first.fields.expiry is None and second.fields.expiry is not None and _same_number(first, second):
        from dataclasses import replace

        reading = replace(first, fields=replace(first.fields, expiry=second.fields.expiry, printed_expiry=None),
                          notes=(*first.notes, SECOND_CUT_DATE_NOTE.format(margin=SECOND_CUT_MARGIN)))
        return found._replace(reading=reading)
    return found


def _same_number(a, b) -> bool:
    da, db = a.decision, b.decision
    if da is None or db is None:
        return da is None and db is None
    return da.number.reveal() == db.number.reveal() and da.accepted == db.accepted


def _accepted(reading) -> bool:
    d = reading.decision
    return bool(d is not None and d.accepted)


def _number_valid(reading) -> bool:
    d = reading.decision
    return bool(d is not None and d.number.valid)


def frame_wins(framed, reading) -> bool:
    """Whether the whole image's reading (``framed``) replaces the detector card's (``reading``, None when
    no card was detected): its number must be confidently the best reading, and it must read better as a
    card. The confidence floor keeps text-covered non-cards (cheques, licences) that read as a long digit
    string at low confidence from becoming cards."""
    from cardlens.ocr.card_reader import reading_score
    from cardlens.ocr.number_decoding import CONFIRMED_MIN_CONFIDENCE

    d = framed.decision
    if d is None or d.number.confidence < CONFIRMED_MIN_CONFIDENCE:
        return False
    return reading is None or reading_score(framed) > reading_score(reading)


def _points(corners) -> tuple:
    return tuple((float(x), float(y)) for x, y in np.asarray(corners, dtype=np.float64).reshape(4, 2))


def _no_card(size: tuple[int, int], engine: str, timer: StageTimer) -> ScanResult:
    return ScanResult(False, image_size=size, engine=engine, timings=timer.result(), notes=("no card found",))


def _field_quads(reading, card_hw: tuple[int, int], corners: np.ndarray) -> tuple:
    """Field boxes of the rectified card mapped back into the frame (for overlays)."""
    import cv2

    h, w = card_hw
    rect = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    H = cv2.getPerspectiveTransform(rect, np.asarray(corners, np.float32))
    out = []
    for b in reading.boxes:
        x1, y1, x2, y2 = b.box
        pts = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], np.float32)
        if reading.rotated:  # boxes were found on the card turned by 180°
            pts = np.array([w, h], np.float32) - pts
        img_pts = cv2.perspectiveTransform(pts[None], H)[0]
        out.append((b.kind, tuple((float(x), float(y)) for x, y in img_pts), float(b.confidence)))
    return tuple(out)
