"""Card localizer. Today: the classical contour baseline; the YOLO-pose detector lands with #4."""

from cardlens.detector.contour import locate_card
from cardlens.detector.types import CORNER_ORDER, CardDetection

__all__ = ["CORNER_ORDER", "CardDetection", "locate_card"]
