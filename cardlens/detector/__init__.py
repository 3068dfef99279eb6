"""Card localizer. Today: the classical contour baseline; the YOLO-pose detector lands with #4."""

from cardlens.detector.contour import CardDetection, locate_card

__all__ = ["CardDetection", "locate_card"]
