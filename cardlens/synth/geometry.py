"""ISO/IEC 7810 ID-1 card geometry, rounded-rectangle masks, corner order and homographies.

Coordinates are *continuous* pixel coordinates throughout the synth package: pixel ``(i, j)`` covers
``[i, i+1) x [j, j+1)``, so a card image ``w`` pixels wide spans ``0..w`` and its corners are
``(0, 0), (w, 0), (w, h), (0, h)``. This is the convention YOLO labels use (``x / image_width``).
OpenCV samples at pixel centres; :func:`cv2_matrix` converts a continuous homography for
``cv2.warpPerspective``.

Corner order: corner 0 is the top-left of the card *design* (for a portrait design, the top-left of
the portrait layout), then clockwise: top-right, bottom-right, bottom-left.
"""

from __future__ import annotations

import cv2
import numpy as np

from cardlens.geometry import (  # noqa: F401  (re-exported for the synthetic writers)
    CORNER_ORDER,
    ID1_ASPECT,
    ID1_CORNER_RADIUS_MM,
    ID1_HEIGHT_MM,
    ID1_WIDTH_MM,
    clip_box,
    polygon_clip_box,
)

CORNER_NAMES = CORNER_ORDER


def card_size_px(long_side_px: int, portrait: bool = False) -> tuple[int, int]:
    """``(width, height)`` in pixels of an ID-1 card whose long side is ``long_side_px``."""
    long_side = int(round(long_side_px))
    short_side = int(round(long_side / ID1_ASPECT))
    return (short_side, long_side) if portrait else (long_side, short_side)


def corner_radius_px(width: int, height: int) -> float:
    return ID1_CORNER_RADIUS_MM * max(width, height) / ID1_WIDTH_MM


def design_corners(width: float, height: float) -> np.ndarray:
    """The four corners of a ``width x height`` design, in corner order, float64 ``(4, 2)``."""
    return np.array([[0.0, 0.0], [width, 0.0], [width, height], [0.0, height]], dtype=np.float64)


def rounded_rect_mask(width: int, height: int, radius: float | None = None, supersample: int = 4) -> np.ndarray:
    """Anti-aliased alpha (float32 0..1) of the rounded ID-1 outline filling ``width x height``."""
    r = corner_radius_px(width, height) if radius is None else radius
    s = supersample
    rs = int(round(r * s))
    # only the corner squares are partly covered: supersample just those, everything between them is 1
    p = min(rs // s + 2, width, height)
    mask = np.ones((height, width), np.float32)
    for x0, y0 in ((0, 0), (width - p, 0), (0, height - p), (width - p, height - p)):
        big = np.zeros((p * s, p * s), np.uint8)
        _draw_outline(big, width * s, height * s, rs, x0 * s, y0 * s)
        mask[y0:y0 + p, x0:x0 + p] = cv2.resize(big, (p, p), interpolation=cv2.INTER_AREA) / np.float32(255)
    return mask


def _draw_outline(img: np.ndarray, w: int, h: int, r: int, ox: int, oy: int) -> None:
    """Fill the ``w x h`` rounded rectangle (corner radius ``r``) into ``img``, whose origin lies at ``(ox, oy)``."""
    cv2.rectangle(img, (r - ox, -oy), (w - 1 - r - ox, h - 1 - oy), 255, -1)
    cv2.rectangle(img, (-ox, r - oy), (w - 1 - ox, h - 1 - r - oy), 255, -1)
    for cx, cy in ((r, r), (w - 1 - r, r), (w - 1 - r, h - 1 - r), (r, h - 1 - r)):
        cv2.circle(img, (cx - ox, cy - oy), r, 255, -1, lineType=cv2.LINE_8)


def homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Continuous-coordinate homography mapping 4 ``src`` points onto 4 ``dst`` points."""
    return cv2.getPerspectiveTransform(np.asarray(src, np.float32), np.asarray(dst, np.float32)).astype(np.float64)


_SHIFT_IN = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]], np.float64)
_SHIFT_OUT = np.array([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]], np.float64)


def cv2_matrix(h_continuous: np.ndarray) -> np.ndarray:
    """The matrix to hand ``cv2.warpPerspective`` for a continuous-coordinate homography."""
    return _SHIFT_OUT @ h_continuous @ _SHIFT_IN


def apply_homography(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    pts = np.asarray(pts, np.float64).reshape(-1, 2)
    ones = np.ones((len(pts), 1))
    out = np.hstack([pts, ones]) @ h.T
    return out[:, :2] / out[:, 2:3]


def box_corners(box: tuple[float, float, float, float]) -> np.ndarray:
    x1, y1, x2, y2 = box
    return np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], np.float64)


def warp_box(h: np.ndarray, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """Axis-aligned box enclosing ``box`` mapped through ``h``."""
    p = apply_homography(h, box_corners(box))
    return (float(p[:, 0].min()), float(p[:, 1].min()), float(p[:, 0].max()), float(p[:, 1].max()))


def rotate_corner_order(corners: np.ndarray, quarter_turns: int) -> np.ndarray:
    """Corners re-listed starting from a different one (what a 90-degree re-labelling does)."""
    return np.roll(np.asarray(corners), -quarter_turns, axis=0)
