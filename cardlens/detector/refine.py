"""Sub-pixel corner refinement: fit the card's four edges near the network's corners.

The network places corners to a few per cent of the card diagonal; a card's edge against its
background is usually the strongest straight gradient near there. For each side we search, along
its normal, within a band around the predicted side for the strongest gradient, fit a robust line
through those edge points, and intersect adjacent lines (rounded card corners are cut away: the
intersection is the virtual sharp corner, which is what the labels and the warp use). A side whose
edge is not found consistently keeps the network's line. numpy + OpenCV only, shared by every runtime.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SAMPLES = 32          # points per side
END_MARGIN = 0.12     # skip this share of each side at both ends (rounded corners, fingers)
MIN_SUPPORT = 0.7     # share of a side's samples that must agree on the fitted line
HALF_SUPPORT = 0.5    # share of each half of a side that must agree
MAX_TURN_DEG = 30.0   # a fitted side may turn at most this much from the predicted one
OUTER_SHARE = 0.7     # take the outermost gradient peak at least this share of the strongest
WORK_LONG = 640       # refine on an image whose long side is at most this (speed; sub-pixel anyway)


@dataclass(frozen=True)
class Refinement:
    corners: np.ndarray          # (4, 2) float32, image pixels
    sides_refined: int           # how many of the 4 sides were re-fitted
    moved: float                 # mean corner displacement / card diagonal


def _line_from_points(p0: np.ndarray, p1: np.ndarray) -> np.ndarray:
    """Homogeneous line through two points."""
    return np.cross(np.append(p0, 1.0), np.append(p1, 1.0))


def _intersect(l1: np.ndarray, l2: np.ndarray) -> np.ndarray | None:
    p = np.cross(l1, l2)
    if abs(p[2]) < 1e-9:
        return None
    return p[:2] / p[2]


def _fit_side(gx: np.ndarray, gy: np.ndarray, a: np.ndarray, b: np.ndarray, inside: np.ndarray,
              band: float) -> tuple[np.ndarray, bool]:
    """Line for the side a→b: (fitted, True) or the original line and False."""
    d = b - a
    length = float(np.hypot(*d))
    original = _line_from_points(a, b)
    if length < 8:
        return original, False
    t = d / length
    n = np.array([-t[1], t[0]])
    if np.dot(inside - (a + b) / 2, n) > 0:  # normal points out of the card
        n = -n
    steps = np.linspace(-band, band, max(9, int(2 * band) + 1))
    along = np.linspace(END_MARGIN, 1 - END_MARGIN, SAMPLES)
    base = a[None, :] + along[:, None] * d[None, :]                       # (S, 2)
    pts = base[:, None, :] + steps[None, :, None] * n[None, None, :]      # (S, K, 2)
    mx = pts[..., 0].astype(np.float32)
    my = pts[..., 1].astype(np.float32)
    sx = cv2.remap(gx, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    sy = cv2.remap(gy, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    g = np.abs(sx * n[0] + sy * n[1])                                     # gradient across the side
    h, w = gx.shape
    seen = (base[:, 0] >= 2) & (base[:, 0] < w - 2) & (base[:, 1] >= 2) & (base[:, 1] < h - 2)
    if seen.sum() < SAMPLES // 4:  # the side is (mostly) outside the frame: nothing to fit
        return original, False
    k = np.argmax(g, axis=1)
    peak = g[np.arange(len(k)), k]
    if OUTER_SHARE < 1.0:  # the card's outline is the outermost strong edge; design edges lie inside
        ok = g >= OUTER_SHARE * peak[:, None]
        k = len(steps) - 1 - np.argmax(ok[:, ::-1], axis=1)
        peak = g[np.arange(len(k)), k]
    strong = peak > max(8.0, 0.35 * float(np.median(peak)) + 1e-6)
    # sub-pixel peak by a parabola through the neighbours
    km = np.clip(k, 1, len(steps) - 2)
    g0, g1, g2 = g[np.arange(len(k)), km - 1], g[np.arange(len(k)), km], g[np.arange(len(k)), km + 1]
    denom = g0 - 2 * g1 + g2
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(np.abs(denom) > 1e-6, 0.5 * (g0 - g2) / denom, 0.0).clip(-0.5, 0.5)
    offset = steps[km] + frac * (steps[1] - steps[0])
    edge = base + offset[:, None] * n[None, :]
    inner = (k > 0) & (k < len(steps) - 1) & strong & seen
    if inner.sum() < MIN_SUPPORT * seen.sum():
        return original, False
    cand = edge[inner].astype(np.float32)
    vx, vy, x0, y0 = cv2.fitLine(cand, cv2.DIST_HUBER, 0, 0.01, 0.01).ravel()
    line = _line_from_points(np.array([x0, y0]), np.array([x0 + vx, y0 + vy]))
    norm = np.hypot(line[0], line[1])
    resid = np.abs(cand @ line[:2] + line[2]) / norm
    agree = resid < max(1.0, 0.15 * band)
    if agree.sum() < MIN_SUPPORT * seen.sum():  # samples outside the frame do not count against a side
        return original, False
    # the agreeing points must run along the whole visible side, not bunch up on one half (a text line
    # or a design edge near one end can otherwise tilt the fit across the card)
    idx = np.flatnonzero(inner)[agree]
    vis = np.flatnonzero(seen)
    mid = (vis[0] + vis[-1]) / 2
    first, second = (vis <= mid).sum(), (vis > mid).sum()
    if (idx <= mid).sum() < HALF_SUPPORT * first or (idx > mid).sum() < HALF_SUPPORT * second:
        return original, False
    if agree.sum() < len(cand):  # refit on the points that agree
        vx, vy, x0, y0 = cv2.fitLine(cand[agree], cv2.DIST_L2, 0, 0.01, 0.01).ravel()
        line = _line_from_points(np.array([x0, y0]), np.array([x0 + vx, y0 + vy]))
    if abs(np.dot([vx, vy], t)) < np.cos(np.radians(MAX_TURN_DEG)):  # not parallel to the predicted side
        return original, False
    return line, True


def refine_corners(image: np.ndarray, corners: np.ndarray, passes: tuple[float, ...] = (0.10, 0.04, 0.02)) -> Refinement:
    """Refine four corners (design order, image pixels) of a card in a BGR or RGB uint8 image."""
    c = np.asarray(corners, dtype=np.float64).reshape(4, 2)
    h, w = image.shape[:2]
    scale = min(1.0, WORK_LONG / max(h, w))
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if scale < 1.0:
        gray = cv2.resize(gray, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    gray = cv2.GaussianBlur(gray.astype(np.float32), (3, 3), 0)
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    cs = c * scale
    diag = float(np.hypot(*(cs[2] - cs[0])) + np.hypot(*(cs[3] - cs[1]))) / 2
    if not np.isfinite(cs).all() or diag < 16:
        return Refinement(c.astype(np.float32), 0, 0.0)
    out, refined = cs.copy(), 0
    for share in passes:  # coarse to fine: each pass searches a narrower band around the last fit
        band = share * diag
        center = out.mean(axis=0)
        lines, refined = [], 0
        for i in range(4):
            line, ok = _fit_side(gx, gy, out[i], out[(i + 1) % 4], center, band)
            lines.append(line)
            refined += ok
        if refined == 0:
            break
        nxt = out.copy()
        for i in range(4):  # corner i lies on side (i-1) and side i
            p = _intersect(lines[(i - 1) % 4], lines[i])
            if p is not None and np.linalg.norm(p - out[i]) < 1.5 * band:
                nxt[i] = p
        out = nxt
    moved = float(np.linalg.norm(out - cs, axis=1).mean() / diag)
    return Refinement((out / scale).astype(np.float32), refined, moved)


def refined(image: np.ndarray, detection):
    """``detection`` with refined corners (same object when no side could be fitted)."""
    from dataclasses import replace

    r = refine_corners(image, detection.corners)
    if r.sides_refined == 0:
        return detection
    return replace(detection, corners=r.corners, method=f"{detection.method}+edges{r.sides_refined}")
