"""``CardScanner``: image → located card → rectified card → fields → number, expiry, name.

The card localizer is the shipped learned detector or the classical contour baseline (see
``DEFAULT_LOCATOR`` for which is the default and why). Text is read by an engine: ``"cardlens"`` (our
field locator + recognizer + card-rule decoding, the default) or ``"easyocr"`` (EasyOCR's genuine
English models on the rectified card, when the ``ocr-baselines`` extra is installed). Each stage is
swappable through the constructor.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from cardlens.detector.contour import locate_card
from cardlens.detector.types import CardDetection
from cardlens.geometry import CARD_MARGIN, grow_quad, rectify
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


class CardScanner:
    """Scans one image at a time. Stateless between calls; safe to share across threads."""

    def __init__(self, locator: Locator | str = "default", reader: object | None | str = "cardlens",
                 card_margin: float = CARD_MARGIN):
        self.locator = make_locator(locator) if isinstance(locator, str) else locator
        self.reader = make_reader(reader) if isinstance(reader, str) else reader
        self.card_margin = float(card_margin)

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
        if det is None:
            return ScanResult(False, image_size=(w, h), engine=self.engine, timings=timer.result(),
                              notes=("no card found",))
        with timer.stage("rectify"):
            quad = grow_quad(det.corners, self.card_margin)
            card = rectify(img, quad)
        corners = tuple((float(x), float(y)) for x, y in det.corners)
        notes = [f"card located by {det.method}"]
        if self.reader is None or not read:
            notes.append("OCR off: card located only")
            return ScanResult(True, corners=corners, card_confidence=det.confidence, image_size=(w, h),
                              engine=self.engine, timings=timer.result(), notes=tuple(notes))
        if hasattr(self.reader, "read_card"):  # the cardlens engine: fields → lines → card rules
            with timer.stage("ocr"):
                reading = self.reader.read_card(card)
            fields = reading.fields
            notes += list(reading.notes)
            if reading.rotated:
                notes.append("card read turned by 180°")
            accepted = reading.decision.accepted if reading.decision else False
            field_quads = _field_quads(reading, card.shape[:2], quad)
        else:  # a text-box reader (EasyOCR): text boxes → card rules
            with timer.stage("ocr"):
                boxes = self.reader.read(card)
            with timer.stage("decode"):
                fields = assemble_fields(boxes, (card.shape[1], card.shape[0]))
            accepted = bool(fields.number and fields.number.valid)
            field_quads = ()
            log.debug("read %d text boxes", len(boxes))
        return ScanResult(True, fields.number, fields.expiry, fields.name, corners, det.confidence, (w, h),
                          self.engine, timer.result(), tuple(notes), accepted, field_quads)


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
