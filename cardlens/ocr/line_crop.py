"""Line crops from the rectified card, straightened when the card was rectified slightly askew.

The detector's corners are a few per cent of the diagonal off on many frames, so the rectified card can
still be turned by a few degrees. The field locator's boxes are axis-aligned: around a turned number
line the box is taller than the text, and a crop of it squeezes the digits (and clips the line ends).
The digit groups of the number line show the turn — their centres lie on the text's baseline — so
every line is cropped along that direction instead (numpy + OpenCV, shared by every runtime).

Measured on the synthetic scans (400, seed 51) with the shipped models: number read exactly
0.739 → 0.785 with the number line straightened.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from cardlens.ocr.line_preprocess import MIN_LINE_SIDE

# Crop margins around a field box, as the line set was cut (mean of its jitter), in box heights.
PAD_X, PAD_Y = 0.3, 0.15
# Turns under this (radians, about 0.5°) are left alone: within the recognizer's training jitter.
MIN_TILT = 0.008
# Turns over this are not a rectification error but a misfit of the group boxes.
MAX_TILT = 0.35


def crop_line(card: np.ndarray, box: tuple[float, float, float, float], tilt: float = 0.0,
              encloses: bool = True, pad_x: float = PAD_X) -> np.ndarray | None:
    """The crop of one text line: ``box`` (xyxy, card pixels) with the line set's margins. With ``tilt``
    (radians, the text's slope dy/dx as an angle) the crop follows the line and comes back level; a box
    that ``encloses`` the turned line (the number line grown over its digit groups) is narrowed to the
    text's band, any other box's height is taken as the text's. None when the crop would be under
    ``MIN_LINE_SIDE``.

    Measured (synthetic scans, 400): narrowing the expiry and name boxes as well lost 12 names of 284
    (their boxes hug the text, they do not enclose its turn); cropping them turned at full height
    gained 6."""
    if abs(tilt) < MIN_TILT or abs(tilt) > MAX_TILT:
        return _axis_crop(card, box, pad_x)
    x1, y1, x2, y2 = box
    w, h = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
    cos, sin = math.cos(tilt), math.sin(tilt)
    # a line of thickness t turned by the tilt spans about t + w·|tan| vertically: keep t
    text_h = max(h - w * abs(sin / cos), 0.5 * h) if encloses else h
    length = w / cos
    out_w = int(round(length + 2 * pad_x * text_h))
    out_h = int(round(text_h + 2 * PAD_Y * text_h))
    if out_w < MIN_LINE_SIDE or out_h < MIN_LINE_SIDE:
        return None
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    # output (u, v) → card (x, y): along the line for u, across it for v, centred on the box
    m = np.array([[cos, -sin, cx - cos * out_w / 2 + sin * out_h / 2],
                  [sin, cos, cy - sin * out_w / 2 - cos * out_h / 2]], dtype=np.float64)
    return cv2.warpAffine(card, m, (out_w, out_h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


def _axis_crop(card: np.ndarray, box: tuple[float, float, float, float], pad_x: float = PAD_X) -> np.ndarray | None:
    h, w = card.shape[:2]
    x1, y1, x2, y2 = box
    bh = max(y2 - y1, 1.0)
    xa, xb = int(max(0, x1 - pad_x * bh)), int(min(w, np.ceil(x2 + pad_x * bh)))
    ya, yb = int(max(0, y1 - PAD_Y * bh)), int(min(h, np.ceil(y2 + PAD_Y * bh)))
    if xb - xa < MIN_LINE_SIDE or yb - ya < MIN_LINE_SIDE:
        return None
    return card[ya:yb, xa:xb]


def tilt_from_groups(groups: Sequence) -> float:
    """The number line's turn (radians) from its digit groups' centres (a least-squares line); 0 with
    fewer than two groups, groups that overlap along x (stacked rows are not one line), or a turn
    outside [MIN_TILT, MAX_TILT]."""
    if len(groups) < 2:
        return 0.0
    xs = np.array([(g.box[0] + g.box[2]) / 2 for g in groups], dtype=np.float64)
    ys = np.array([(g.box[1] + g.box[3]) / 2 for g in groups], dtype=np.float64)
    widths = np.array([g.box[2] - g.box[0] for g in groups], dtype=np.float64)
    if xs.max() - xs.min() < 0.5 * float(np.median(widths)):
        return 0.0
    slope = float(np.polyfit(xs, ys, 1)[0])
    angle = math.atan(slope)
    return angle if MIN_TILT <= abs(angle) <= MAX_TILT else 0.0
