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
    return grow_sides(corners, margin, margin, margin, margin)


def grow_sides(corners: np.ndarray, left: float, top: float, right: float, bottom: float) -> np.ndarray:
    """``corners`` (design order) grown on each side of the card's design by its own share of the card's
    width (left, right) or height (top, bottom), in the card's plane like :func:`grow_quad`."""
    import cv2

    c = np.asarray(corners, dtype=np.float32).reshape(4, 2)
    if not any((left, top, right, bottom)):
        return c
    unit = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=np.float32)
    grown = np.array([[-left, -top], [1 + right, -top], [1 + right, 1 + bottom], [-left, 1 + bottom]], dtype=np.float32)
    return cv2.perspectiveTransform(grown[None], cv2.getPerspectiveTransform(unit, c))[0]


# A card partly outside the frame: the detector never learned corners it cannot see (labels cannot hold
# them), so it puts the hidden corners on the visible part and the rectified card loses the text at that
# end ("HLOE PETROV"). A quad whose sides are off the ID-1 proportion by more than CUT_ASPECT_TOLERANCE is
# completed when one of its edges is the cut: both its corners within CUT_BORDER_SHARE of the frame's
# border, and no card edge under it (its contrast across is under CUT_CONTRAST_SHARE of the opposite
# edge's, a real card edge against the background). The two sides meeting the cut edge are lengthened
# until the card has ID-1 proportions, and only when the moved corners land outside the frame (one may
# stop just short of it: the sides' directions are a few degrees off), so no part of the card that the
# camera sees well inside the frame is made up.
CUT_ASPECT_TOLERANCE = 0.06
CUT_BORDER_SHARE = 0.06
CUT_CONTRAST_SHARE = 0.5


def _outside(point: np.ndarray, width: int, height: int) -> bool:
    x, y = float(point[0]), float(point[1])
    return x < 0 or y < 0 or x > width - 1 or y > height - 1


def _near_border(point: np.ndarray, width: int, height: int, near: float) -> bool:
    x, y = float(point[0]), float(point[1])
    return min(x, y, width - 1 - x, height - 1 - y) <= near


def edge_contrast(gray: np.ndarray, a: np.ndarray, b: np.ndarray, inward: np.ndarray, offset: float,
                  samples: int = 24) -> float:
    """Median absolute grey difference across the segment ``a``–``b``, between points ``offset`` pixels
    to either side (``inward`` is the unit normal towards the card); samples whose outer point leaves the
    image are skipped, and an edge with under a quarter of its samples left has no contrast (0)."""
    h, w = gray.shape[:2]
    t = np.linspace(0.15, 0.85, samples)[:, None]
    pts = a[None] + t * (b - a)[None]
    inner, outer = pts + inward * offset, pts - inward * offset
    ok = np.array([not _outside(p, w, h) and not _outside(q, w, h) for p, q in zip(inner, outer, strict=True)])
    if ok.sum() < samples / 4:
        return 0.0
    ii, oo = np.round(inner[ok]).astype(int), np.round(outer[ok]).astype(int)
    diff = gray[ii[:, 1], ii[:, 0]].astype(np.float64) - gray[oo[:, 1], oo[:, 0]].astype(np.float64)
    return float(np.median(np.abs(diff)))


def complete_cut_quad(corners: np.ndarray, image: np.ndarray, aspect: float = ID1_ASPECT,
                      tolerance: float = CUT_ASPECT_TOLERANCE, border_share: float = CUT_BORDER_SHARE,
                      contrast_share: float = CUT_CONTRAST_SHARE) -> np.ndarray | None:
    """The whole card's corners (design order) when ``corners`` look cut off by the border of ``image``
    (BGR or grey), else None. Of the edges that could be the cut one, the one needing the least
    lengthening wins; each side meeting it keeps its direction and grows by the same factor, so a side
    shortened by perspective stays shorter."""
    import cv2

    c = np.asarray(corners, dtype=np.float64).reshape(4, 2)
    h, w = image.shape[:2]
    lens = np.array([np.linalg.norm(c[(i + 1) % 4] - c[i]) for i in range(4)])
    if lens.min() < 4.0:
        return None
    ratio = max(lens[0] + lens[2], lens[1] + lens[3]) / min(lens[0] + lens[2], lens[1] + lens[3])
    if abs(ratio / aspect - 1.0) <= tolerance:
        return None
    near = border_share * min(w, h)
    centre = c.mean(axis=0)
    offset = max(3.0, 0.03 * float(lens.mean()))
    grays: list[np.ndarray] = []  # converted only once an edge passes the geometric tests

    def contrast(i: int) -> float:
        if not grays:
            grays.append(image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
        gray = grays[0]
        a, b = c[i], c[(i + 1) % 4]
        d = (b - a) / np.linalg.norm(b - a)
        n = np.array([-d[1], d[0]])
        if np.dot(centre - (a + b) / 2, n) < 0:
            n = -n
        return edge_contrast(gray, a, b, n, offset)

    best: tuple[float, np.ndarray] | None = None
    for e in range(4):  # edge e joins corners e and e+1; its opposite edge is kept
        moved, anchors = (e, (e + 1) % 4), ((e + 3) % 4, (e + 2) % 4)
        if not all(_near_border(c[m], w, h, near) for m in moved):
            continue
        kept = lens[(e + 2) % 4]
        sides = np.array([np.linalg.norm(c[m] - c[a]) for m, a in zip(moved, anchors, strict=True)])
        grown = [t for t in (kept * aspect, kept / aspect) if t > sides.mean() * (1.0 + tolerance)]
        if not grown:
            continue
        factor = min(grown) / sides.mean()
        new = c.copy()
        for m, a in zip(moved, anchors, strict=True):
            new[m] = c[a] + (c[m] - c[a]) * factor
        beyond = [_outside(new[m], w, h) for m in moved]
        if not any(beyond) or not all(b or _near_border(new[m], w, h, near) for b, m in zip(beyond, moved, strict=True)):
            continue
        if contrast(e) >= contrast_share * contrast((e + 2) % 4):
            continue
        if best is None or factor < best[0]:
            best = (factor, new)
    return None if best is None else best[1].astype(np.float32)


def clip_box(box, width: float, height: float) -> tuple[float, float, float, float] | None:
    """``box`` clipped to the image; ``None`` when nothing of it is left inside."""
    x1, y1, x2, y2 = box
    x1, x2 = max(0.0, min(width, x1)), max(0.0, min(width, x2))
    y1, y2 = max(0.0, min(height, y1)), max(0.0, min(height, y2))
    if x2 - x1 < 1e-6 or y2 - y1 < 1e-6:
        return None
    return (x1, y1, x2, y2)


def polygon_clip_box(poly: np.ndarray, width: float, height: float) -> tuple[float, float, float, float] | None:
    """Bounding box of the part of convex polygon ``poly`` inside the image (Sutherland-Hodgman)."""
    pts = [tuple(p) for p in np.asarray(poly, np.float64)]
    for axis, limit, keep_less in ((0, 0.0, False), (0, width, True), (1, 0.0, False), (1, height, True)):
        out = []
        n = len(pts)
        for i in range(n):
            a, b = pts[i], pts[(i + 1) % n]
            ina = a[axis] <= limit if keep_less else a[axis] >= limit
            inb = b[axis] <= limit if keep_less else b[axis] >= limit
            if ina:
                out.append(a)
            if ina != inb:
                t = (limit - a[axis]) / (b[axis] - a[axis])
                out.append((a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])))
        pts = out
        if not pts:
            return None
    arr = np.array(pts)
    return clip_box((arr[:, 0].min(), arr[:, 1].min(), arr[:, 0].max(), arr[:, 1].max()), width, height)
