"""``CardScanner``: image → located card → rectified card → text → number, expiry, name.

The card localizer is the classical contour baseline or the shipped learned detector (see
``DEFAULT_LOCATOR`` for which is the default and why); until our card OCR (#5) lands, text is read
with EasyOCR's genuine English models when the ``ocr-baselines`` extra is installed. Each stage is
swappable through the constructor.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from cardlens.detector.contour import locate_card
from cardlens.detector.types import CardDetection
from cardlens.geometry import rectify
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
# classical contour locator finds 71 % and the shipped learned detector 60 % (see its MODEL_CARD.md),
# so the learned one becomes the default once it beats the baseline there.
DEFAULT_LOCATOR = "contour"


def make_locator(name: str = "default") -> Locator:
    """``"contour"`` (classical baseline) or ``"learned"`` (the shipped YOLO-pose detector, ONNX Runtime)."""
    name = DEFAULT_LOCATOR if name == "default" else name
    if name == "contour":
        return locate_card
    if name == "learned":
        from cardlens.detector.model import DEFAULT_DETECTOR, CardDetector

        return CardDetector.load(DEFAULT_DETECTOR, runtime="onnx")
    raise ValueError(f"unknown locator {name!r}: use 'contour' or 'learned'")


def default_reader() -> TextReader | None:
    from cardlens.ocr.easyocr_engine import EasyOCRReader, easyocr_available

    return EasyOCRReader() if easyocr_available() else None


class CardScanner:
    """Scans one image at a time. Stateless between calls; safe to share across threads."""

    def __init__(self, locator: Locator | str = "default", reader: TextReader | None | str = "auto"):
        self.locator = make_locator(locator) if isinstance(locator, str) else locator
        self.reader = default_reader() if reader == "auto" else reader

    @property
    def engine(self) -> str:
        locator = getattr(self.locator, "__name__", type(self.locator).__name__)
        return f"{locator}+{self.reader.name if self.reader else 'no-ocr'}"

    def scan(self, image: object, color: str = "bgr") -> ScanResult:
        """Scan a path, encoded bytes, PIL image or array. Bad input raises :class:`ImageError`."""
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
            card = rectify(img, det.corners)
        corners = tuple((float(x), float(y)) for x, y in det.corners)
        notes = [f"card located by {det.method}"]
        if self.reader is None:
            notes.append("no OCR engine installed: pip install 'cardlens[ocr-baselines]' to read the card")
            return ScanResult(True, corners=corners, card_confidence=det.confidence, image_size=(w, h),
                              engine=self.engine, timings=timer.result(), notes=tuple(notes))
        with timer.stage("ocr"):
            boxes = self.reader.read(card)
        with timer.stage("decode"):
            fields = assemble_fields(boxes, (card.shape[1], card.shape[0]))
        log.debug("read %d text boxes", len(boxes))
        return ScanResult(True, fields.number, fields.expiry, fields.name, corners, det.confidence, (w, h),
                          self.engine, timer.result(), tuple(notes))
