"""A drawn stroke face for card numbers in the style of embossing fonts (Farrington 7B and its kin).

No freely licensed Farrington 7B exists, and real embossed cards read badly with the free faces alone:
their ``7`` bends into a vertical stem, their ``6`` and ``9`` are ``b`` and ``q`` shapes, ``4`` is open
and ``3`` has a flat top. These glyphs are monoline strokes drawn here (digits and ``/``); any other
character comes from the face's fallback font. The object answers the few calls the renderer makes of a
PIL font (``getlength``) and draws masks with the same offset convention as ``design.text_mask``.
"""

from __future__ import annotations

import math
from functools import lru_cache

import cv2
import numpy as np

CAP = 0.72       # cap height per em, as OCR-A / OCR-B
INK_W = 0.58     # glyph ink width per cap height
ADVANCE = 0.60   # advance per em
SUPERSAMPLE = 4


def _arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, square: float = 2.6,
         n: int = 24) -> list[tuple[float, float]]:
    """Points on a superellipse arc (``square`` 2 is an ellipse, higher is boxier); angles in degrees,
    y pointing down, so increasing angles run clockwise on screen."""
    out = []
    for t in np.linspace(math.radians(a0), math.radians(a1), n):
        c, s = math.cos(t), math.sin(t)
        out.append((cx + rx * math.copysign(abs(c) ** (2 / square), c),
                    cy + ry * math.copysign(abs(s) ** (2 / square), s)))
    return out


def _turned(strokes: list[list[tuple[float, float]]]) -> list[list[tuple[float, float]]]:
    return [[(1 - x, 1 - y) for x, y in s] for s in strokes]


def _glyph_strokes() -> dict[str, list[list[tuple[float, float]]]]:
    six = [[(0.72, 0.0)] + _arc(0.3, 0.3, 0.3, 0.3, 270, 180) + [(0.0, 0.72)],
           _arc(0.5, 0.71, 0.5, 0.29, 0, 360, n=40)]
    return {
        "0": [_arc(0.5, 0.3, 0.5, 0.3, 180, 360) + _arc(0.5, 0.7, 0.5, 0.3, 0, 180) + [(0.0, 0.3)]],
        "1": [[(0.12, 0.22), (0.55, 0.0), (0.55, 1.0)], [(0.12, 1.0), (0.98, 1.0)]],
        "2": [_arc(0.5, 0.28, 0.5, 0.28, 200, 360) + [(1.0, 0.42), (0.0, 1.0), (1.0, 1.0)]],
        "3": [[(0.0, 0.0), (1.0, 0.0), (0.42, 0.42)] + _arc(0.45, 0.71, 0.55, 0.29, -90, 150)],
        "4": [[(0.08, 0.0), (0.0, 0.68), (1.0, 0.68)], [(0.74, 0.22), (0.74, 1.0)]],
        "5": [[(0.95, 0.0), (0.05, 0.0), (0.02, 0.44)] + _arc(0.45, 0.71, 0.55, 0.29, -125, 135)],
        "6": six,
        "7": [[(0.0, 0.0), (1.0, 0.0), (0.58, 0.5), (0.58, 1.0)]],
        "8": [_arc(0.5, 0.24, 0.42, 0.24, 0, 360, n=40), _arc(0.5, 0.72, 0.5, 0.28, 0, 360, n=40)],
        "9": _turned(six),
        "/": [[(0.9, -0.05), (0.1, 1.05)]],
    }


GLYPHS = _glyph_strokes()


class StrokeFont:
    """One size of a stroke face: ``weight`` is the stroke width per cap height."""

    def __init__(self, size_px: int, weight: float, fallback):
        self.size = max(4, int(size_px))
        self.weight = float(weight)
        self.fallback = fallback  # a PIL font at the same size, for characters without a stroke glyph

    def getlength(self, text: str) -> float:
        return float(sum(self.size * ADVANCE if ch in GLYPHS or ch == " " else self.fallback.getlength(ch)
                         for ch in text))


@lru_cache(maxsize=2048)
def _glyph_mask(ch: str, size: int, weight: float) -> tuple[np.ndarray, int, int]:
    """Mask of one stroke glyph and the offset of its top-left from the left-baseline pen."""
    cap = size * CAP
    w = cap * INK_W
    t = max(1.0, cap * weight)
    bear = (size * ADVANCE - w) / 2
    pad = t / 2 + 1
    ss = SUPERSAMPLE
    H = int(math.ceil((cap * 1.1 + 2 * pad) * ss))
    W = int(math.ceil((w + 2 * pad) * ss))
    canvas = np.zeros((H, W), np.uint8)
    top = pad + cap * 0.05
    for stroke in GLYPHS[ch]:
        pts = np.array([[(pad + x * w) * ss, (top + y * cap) * ss] for x, y in stroke], np.float64)
        cv2.polylines(canvas, [np.round(pts * 16).astype(np.int32)], False, 255, int(round(t * ss)),
                      cv2.LINE_AA, shift=4)
    small = cv2.resize(canvas, (W // ss, H // ss), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    baseline = top + cap  # in the small canvas
    return small, int(round(bear - pad)), -int(round(baseline))


def stroke_text_mask(text: str, font: StrokeFont, fallback_mask) -> tuple[np.ndarray, int, int]:
    """Grey mask of ``text`` and the offset of its top-left from the left-baseline pen position.
    ``fallback_mask(ch) -> (mask, ox, oy)`` draws characters the stroke face lacks."""
    pieces = []
    pen = 0.0
    for ch in text:
        if ch in GLYPHS:
            m, ox, oy = _glyph_mask(ch, font.size, font.weight)
            pieces.append((m, int(round(pen)) + ox, oy))
        elif ch != " ":
            m, ox, oy = fallback_mask(ch)
            pieces.append((m, int(round(pen)) + ox, oy))
        pen += font.getlength(ch)
    if not pieces:
        return np.zeros((1, 1), np.float32), 0, 0
    x0 = min(p[1] for p in pieces)
    y0 = min(p[2] for p in pieces)
    x1 = max(p[1] + p[0].shape[1] for p in pieces)
    y1 = max(p[2] + p[0].shape[0] for p in pieces)
    out = np.zeros((y1 - y0, x1 - x0), np.float32)
    for m, ox, oy in pieces:
        region = out[oy - y0:oy - y0 + m.shape[0], ox - x0:ox - x0 + m.shape[1]]
        np.maximum(region, m, out=region)
    return out, x0, y0
