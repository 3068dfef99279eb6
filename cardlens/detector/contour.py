"""Classical card localizer (edges + quadrilateral fitting): the baseline the learned detector
must beat. It cannot tell a card's design orientation, so it returns the
corners in image order (top-left first, clockwise)."""

from __future__ import annotations

import numpy as np

from cardlens.detector.types import CardDetection
from cardlens.geometry import ID1_ASPECT, order_corners_clockwise

WORK_SIDE = 640
MIN_AREA_FRACTION = 0.08


def _aspect(quad: np.ndarray) -> float:
    c = quad.reshape(4, 2)
    a = (np.linalg.norm(c[1] - c[0]) + np.linalg.norm(c[2] - c[3])) / 2
    b = (np.linalg.norm(c[3] - c[0]) + np.linalg.norm(c[2] - c[1])) / 2
    return max(a, b) / max(min(a, b), 1e-6)


def locate_card(image: np.ndarray) -> CardDetection | None:
    """The most card-like quadrilateral in a BGR image, or None."""
    import cv2

    h, w = image.shape[:2]
    scale = WORK_SIDE / max(h, w)
    small = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    gray = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), (5, 5), 0)
    median = float(np.median(gray))
    edges = cv2.Canny(gray, int(max(0, 0.66 * median)), int(min(255, 1.33 * median) + 20))
    edges = cv2.dilate(edges, np.ones((3, 3), np.uint8), iterations=2)
    contours, _ = cv2.findContours(edges, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    area_total = small.shape[0] * small.shape[1]
    best: tuple[float, np.ndarray] | None = None
    for contour in contours:
        area = cv2.contourArea(contour)
        if area < MIN_AREA_FRACTION * area_total:
            continue
        hull = cv2.convexHull(contour)
        approx = cv2.approxPolyDP(hull, 0.02 * cv2.arcLength(hull, True), True)
        quad = approx.reshape(-1, 2).astype(np.float32) if len(approx) == 4 else cv2.boxPoints(cv2.minAreaRect(hull))
        aspect = _aspect(quad)
        if not 1.25 <= aspect <= 2.0:
            continue
        fill = area / max(cv2.contourArea(quad.astype(np.float32)), 1.0)
        score = (area / area_total) * min(fill, 1.0) * (1.0 - min(abs(aspect - ID1_ASPECT), 0.5))
        if best is None or score > best[0]:
            best = (score, quad)
    if best is not None:
        corners = order_corners_clockwise(best[1]) / scale
        return CardDetection(corners.astype(np.float32), float(min(1.0, 0.5 + best[0])), "contour")
    aspect = max(h, w) / min(h, w)
    textured = float(gray.std()) > 20.0  # a blank frame is not a card
    if abs(aspect - ID1_ASPECT) < 0.15 and textured:  # a scan or render where the card fills the frame
        corners = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=np.float32)
        return CardDetection(corners, 0.3, "full-frame")
    return None
