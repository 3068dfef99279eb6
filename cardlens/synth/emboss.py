"""Print styles for the card's text fields: embossed relief with foil tipping, flat ink, laser engraving,
low-contrast silver-on-silver."""

from __future__ import annotations

import cv2
import numpy as np

from cardlens.synth.design import gray3, hsv, tint

PRINT_STYLES = ("embossed", "flat", "laser", "silver_on_silver")
FOILS = ("gold", "silver", "none")


def foil_color(foil: str, rng: np.random.Generator) -> np.ndarray | None:
    if foil == "gold":
        return hsv(rng.uniform(0.11, 0.14), rng.uniform(0.45, 0.7), rng.uniform(0.75, 0.95))
    if foil == "silver":
        return hsv(0, 0, rng.uniform(0.78, 0.95))
    return None


def apply_print(img: np.ndarray, ink: np.ndarray, style: str, foil: str, ink_color: np.ndarray,
                rng: np.random.Generator, char_size: float) -> np.ndarray:
    """Compose the field ink layer (float 0..1 coverage) onto the card artwork ``img`` in place."""
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    if not len(rows):
        return img
    ang = rng.uniform(0, 2 * np.pi)
    light = np.array([np.cos(ang), np.sin(ang)], np.float32)
    # work on the inked area, padded by the furthest reach of relief, drop shadow and rim
    pad = 2 if style in ("flat", "laser") else int(6 * max(0.6, 0.05 * char_size)) + 3
    y0, y1 = max(0, rows[0] - pad), min(ink.shape[0], rows[-1] + pad + 1)
    x0, x1 = max(0, cols[0] - pad), min(ink.shape[1], cols[-1] + pad + 1)
    roi, ink = img[y0:y1, x0:x1], ink[y0:y1, x0:x1]
    if style == "flat":
        m = gray3(ink)
        roi *= 1 - m
        roi += tint(ink, ink_color)
    elif style == "laser":
        _engrave(roi, ink, light, rng)
    else:
        _raise(roi, ink, style, foil, light, rng, char_size)
    return img


def _engrave(img: np.ndarray, ink: np.ndarray, light: np.ndarray, rng: np.random.Generator) -> None:
    """Laser engraving: slightly darker or lighter than the plastic, with a thin bright rim on one side."""
    tone = np.clip(img * (0.45 if rng.random() < 0.7 else 1.35) + 0.02, 0, 1)
    m = gray3(ink)
    img[:] = img * (1 - m) + tone * m
    shift = np.float32([[1, 0, light[0]], [0, 1, light[1]]])
    rim = np.clip(cv2.warpAffine(ink, shift, (ink.shape[1], ink.shape[0])) - ink, 0, 1)
    img += gray3(0.25 * rim)
    np.clip(img, 0, 1, out=img)


def _raise(img: np.ndarray, ink: np.ndarray, style: str, foil: str, light: np.ndarray, rng: np.random.Generator,
           char_size: float) -> None:
    """Embossed or silver-on-silver: raised relief lit from ``light``, tipped or not, with a drop shadow."""
    sigma = max(0.6, char_size * rng.uniform(0.025, 0.05))
    height = cv2.GaussianBlur(ink, (0, 0), sigma)
    gx = cv2.Sobel(height, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(height, cv2.CV_32F, 0, 1, ksize=3)
    shade = -(gx * light[0] + gy * light[1])
    shade /= max(float(np.abs(shade).max()), 1e-6)
    if style == "silver_on_silver":
        face = np.clip(img * rng.uniform(1.02, 1.12) + 0.03, 0, 1)
        strength = rng.uniform(0.08, 0.18)
    else:
        fc = foil_color(foil, rng)
        if fc is None:  # untipped plastic: same colour as the card, a little lighter or darker
            face = np.clip(img * rng.uniform(0.85, 1.2), 0, 1)
            strength = rng.uniform(0.3, 0.5)
        else:
            wear = 0.85 + 0.3 * cv2.GaussianBlur(rng.random(ink.shape, dtype=np.float32), (0, 0), char_size * 0.08 + 0.5)
            face = np.clip(tint(wear, fc), 0, 1)
            strength = rng.uniform(0.2, 0.4)
    # drop shadow of the raised characters on the card
    off = sigma * 1.5
    shadow = cv2.warpAffine(height, np.float32([[1, 0, -light[0] * off], [0, 1, -light[1] * off]]),
                            (ink.shape[1], ink.shape[0]))
    img *= gray3(1 - 0.25 * np.clip(shadow - ink, 0, 1))
    m = gray3(ink)
    img[:] = img * (1 - m) + face * m
    img += gray3(strength * shade + 0.35 * strength * np.clip(shade, 0, 1) ** 3)
    np.clip(img, 0, 1, out=img)
