"""Card geometry shared by every stage: ID-1 proportions, corner order and the rectifying warp."""

from __future__ import annotations

import numpy as np

ID1_WIDTH_MM = 85.60
ID1_HEIGHT_MM = 53.98
ID1_CORNER_RADIUS_MM = 3.18
ID1_ASPECT = ID1_WIDTH_MM / ID1_HEIGHT_MM  # ≈ 1.586

# Corner order everywhere (labels, detector output, rectification): the card design's top-left first,
# then clockwise.
CORNER_ORDER = ("top_left", "top_right", "bottom_right", "bottom_left")

# Canonical rectified size (landscape). Portrait designs use the transpose.
RECTIFIED_LANDSCAPE = (856, 540)  # width, height: 10 px per mm


def order_corners_clockwise(points: np.ndarray) -> np.ndarray:
    """Order four image points top-left, top-right, bottom-right, bottom-left (image axes).

    For use when the design order is unknown (classical detectors); a learned detector returns the
    design order itself and must not be reordered.
    """
    pts = np.asarray(points, dtype=np.float32).reshape(4, 2)
    center = pts.mean(axis=0)
    angles = np.arctan2(pts[:, 1] - center[1], pts[:, 0] - center[0])
    pts = pts[np.argsort(angles)]  # clockwise in image coordinates (y down), starting at ~-180°
    start = int(np.argmin(pts.sum(axis=1)))  # top-left has the smallest x + y
    return np.roll(pts, -start, axis=0)


def rectified_size(corners: np.ndarray, landscape_width: int = RECTIFIED_LANDSCAPE[0]) -> tuple[int, int]:
    """(width, height) of the upright card: landscape when its first edge is the long one."""
    c = np.asarray(corners, dtype=np.float32).reshape(4, 2)
    top = np.linalg.norm(c[1] - c[0]) + np.linalg.norm(c[2] - c[3])
    side = np.linalg.norm(c[3] - c[0]) + np.linalg.norm(c[2] - c[1])
    long_side, short_side = landscape_width, int(round(landscape_width / ID1_ASPECT))
    return (long_side, short_side) if top >= side else (short_side, long_side)


def rectify(image: np.ndarray, corners: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """Warp the quadrilateral ``corners`` (design order: TL, TR, BR, BL) to an upright card image."""
    import cv2

    c = np.asarray(corners, dtype=np.float32).reshape(4, 2)
    w, h = size or rectified_size(c)
    dst = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=np.float32)
    m = cv2.getPerspectiveTransform(c, dst)
    return cv2.warpPerspective(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

# The card is cut with this margin (share of its width and height, every side): the detector's corners are
# a few per cent off (median 2.7–3.2 % of the diagonal on synthetic val, the value taken here), and on real
# cards that fill the frame they fall inside the card, cutting the first or last digit. A sliver of
# background costs the reader nothing: synthetic s51 / s55 read the same at 0, 1.5 and 3 %.
CARD_MARGIN = 0.03


def grow_quad(corners: np.ndarray, margin: float) -> np.ndarray:
    """``corners`` (design order) grown by ``margin`` of the card's width and height on every side, in the
    card's own plane: the perspective is kept, so a tilted card grows more on its near side."""
    import cv2

    c = np.asarray(corners, dtype=np.float32).reshape(4, 2)
    if not margin:
        return c
    unit = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=np.float32)
    m = float(margin)
    grown = np.array([[-m, -m], [1 + m, -m], [1 + m, 1 + m], [-m, 1 + m]], dtype=np.float32)
    return cv2.perspectiveTransform(grown[None], cv2.getPerspectiveTransform(unit, c))[0]
