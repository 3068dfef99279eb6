"""Card localizer: the YOLO-pose detector (`cardlens.detector.model.CardDetector`, the default) and the classical
contour baseline it is measured against."""

from cardlens.detector.contour import locate_card
from cardlens.detector.types import CORNER_ORDER, CardDetection

__all__ = ["CORNER_ORDER", "CardDetection", "locate_card"]
