"""Card artwork: colour schemes, backgrounds and textures, EMV chip, contactless mark, hologram, brand marks.

All drawing works on float32 RGB images in 0..1. Procedural textures come from a small per-process pool
whose members depend only on their pool index (never on what was rendered before), so caching keeps
output deterministic.
"""

from __future__ import annotations

import colorsys
from functools import lru_cache

import cv2
import numpy as np

from cardlens.synth.fonts import FACES_BY_KEY, load_font
from cardlens.synth.stroke_font import StrokeFont, stroke_text_mask

DESIGN_KINDS = ("solid", "gradient", "pattern", "photo")
SCHEMES = ("dark", "light", "pastel", "vivid", "silver", "gold")
TEXTURE_POOL = 12
TEXTURE_SIZE = 384


# ---------------------------------------------------------------- colours
def hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0), 1), min(max(v, 0), 1)), np.float32)


def make_palette(rng: np.random.Generator, scheme: str) -> dict[str, np.ndarray]:
    """Two base colours, an accent, and the colour flat text is printed in for ``scheme``."""
    h = rng.random()
    if scheme == "dark":
        a, b = hsv(h, rng.uniform(0, 0.7), rng.uniform(0.04, 0.22)), hsv(h + rng.uniform(-0.1, 0.1), rng.uniform(0, 0.8), rng.uniform(0.1, 0.35))
        ink = hsv(0, 0, rng.uniform(0.85, 1.0)) if rng.random() < 0.8 else hsv(0.12, 0.45, 0.85)
    elif scheme == "light":
        a, b = hsv(h, rng.uniform(0, 0.12), rng.uniform(0.85, 0.98)), hsv(h, rng.uniform(0, 0.2), rng.uniform(0.75, 0.95))
        ink = hsv(h, rng.uniform(0, 0.5), rng.uniform(0.05, 0.3))
    elif scheme == "pastel":
        a, b = hsv(h, rng.uniform(0.15, 0.4), rng.uniform(0.82, 0.97)), hsv(h + rng.uniform(-0.2, 0.2), rng.uniform(0.15, 0.45), rng.uniform(0.75, 0.95))
        ink = hsv(h, 0.3, rng.uniform(0.1, 0.35)) if rng.random() < 0.75 else hsv(0, 0, 1.0)
    elif scheme == "vivid":
        a, b = hsv(h, rng.uniform(0.6, 1.0), rng.uniform(0.45, 0.85)), hsv(h + rng.uniform(-0.15, 0.15), rng.uniform(0.5, 1.0), rng.uniform(0.3, 0.8))
        ink = hsv(0, 0, rng.uniform(0.9, 1.0)) if rng.random() < 0.85 else hsv(0, 0, 0.08)
    elif scheme == "silver":
        v = rng.uniform(0.62, 0.82)
        a, b = hsv(h, rng.uniform(0, 0.06), v), hsv(h, rng.uniform(0, 0.06), v - rng.uniform(0.05, 0.2))
        ink = hsv(0, 0, rng.uniform(0.1, 0.35))
    else:  # gold
        a, b = hsv(rng.uniform(0.1, 0.14), rng.uniform(0.4, 0.65), rng.uniform(0.7, 0.85)), hsv(rng.uniform(0.08, 0.12), rng.uniform(0.5, 0.75), rng.uniform(0.45, 0.7))
        ink = hsv(0.08, 0.5, rng.uniform(0.08, 0.25))
    accent = hsv(h + rng.choice([0.33, 0.5, 0.66]), rng.uniform(0.4, 0.9), rng.uniform(0.5, 1.0))
    return {"a": a, "b": b, "accent": accent, "ink": ink}


# ---------------------------------------------------------------- textures (pooled)
@lru_cache(maxsize=TEXTURE_POOL * 8)
def noise_texture(kind: str, index: int) -> np.ndarray:
    """A grey float32 texture (0..1, TEXTURE_SIZE square) that depends only on ``(kind, index)``."""
    rng = np.random.default_rng([0xCA4D, hash_kind(kind), index])
    n = TEXTURE_SIZE
    if kind == "fractal":
        acc = np.zeros((n, n), np.float32)
        amp = 1.0
        for octave in range(2, 7):
            s = 2 ** octave
            layer = rng.random((s, s), dtype=np.float32)
            acc += amp * cv2.resize(layer, (n, n), interpolation=cv2.INTER_CUBIC)
            amp *= 0.55
    elif kind == "brushed":
        line = rng.random((n, 1), dtype=np.float32)
        acc = np.repeat(line, n, axis=1) + 0.15 * rng.random((n, n), dtype=np.float32)
        acc = cv2.GaussianBlur(acc, (0, 0), sigmaX=6, sigmaY=0.6)
    elif kind == "marble":
        base = noise_texture("fractal", index)
        yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
        f = rng.uniform(0.02, 0.06)
        acc = np.sin(xx * f + yy * f * rng.uniform(0.2, 1.0) + base * rng.uniform(6, 14))
    elif kind == "waves":
        yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
        acc = np.zeros((n, n), np.float32)
        for _ in range(3):
            fx, fy, ph = rng.uniform(-0.05, 0.05), rng.uniform(-0.05, 0.05), rng.uniform(0, 6.28)
            acc += np.sin(xx * fx + yy * fy + ph + 2 * np.sin(xx * 0.01 * rng.uniform(0.5, 2)))
    elif kind == "blobs":
        acc = np.zeros((n, n), np.float32)
        for _ in range(int(rng.integers(6, 16))):
            c = (int(rng.integers(0, n)), int(rng.integers(0, n)))
            cv2.circle(acc, c, int(rng.integers(n // 16, n // 4)), float(rng.uniform(0.3, 1.0)), -1)
        acc = cv2.GaussianBlur(acc, (0, 0), sigmaX=n / 24)
    else:  # "grain"
        acc = rng.random((n, n), dtype=np.float32)
        acc = cv2.GaussianBlur(acc, (0, 0), sigmaX=1.2)
    acc = acc - acc.min()
    return (acc / max(float(acc.max()), 1e-6)).astype(np.float32)


def hash_kind(kind: str) -> int:
    return sum((i + 1) * ord(c) for i, c in enumerate(kind))


def texture_crop(rng: np.random.Generator, kind: str, w: int, h: int) -> np.ndarray:
    """A random crop of a pooled texture, resized to ``w x h`` (optionally flipped / transposed)."""
    t = noise_texture(kind, int(rng.integers(TEXTURE_POOL)))
    if rng.random() < 0.5:
        t = t.T
    n = t.shape[0]
    cw = int(rng.integers(n // 3, n + 1))
    ch = max(8, min(n, int(cw * h / max(w, 1))))
    x0, y0 = int(rng.integers(0, n - cw + 1)), int(rng.integers(0, n - ch + 1))
    return cv2.resize(t[y0:y0 + ch, x0:x0 + cw], (w, h), interpolation=cv2.INTER_LINEAR)


def gray3(m: np.ndarray) -> np.ndarray:
    """A one-channel map repeated into three channels (numpy broadcasting over a trailing axis of 3 is slow)."""
    return cv2.merge([m, m, m])


def _lerp(t: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel colour ramp: ``a`` where ``t`` is 0, ``b`` where it is 1 (float32 HxWx3)."""
    m = np.hstack([np.diag(b - a), np.asarray(a)[:, None]]).astype(np.float32)
    return cv2.transform(gray3(np.asarray(t, np.float32)), m)


def tint(t: np.ndarray, color: np.ndarray) -> np.ndarray:
    """``color`` scaled by the per-pixel amount ``t`` (float32 HxWx3)."""
    return cv2.transform(gray3(t), np.diag(color).astype(np.float32))


def mix(img: np.ndarray, t: np.ndarray, color: np.ndarray) -> np.ndarray:
    """``img`` moved towards ``color`` by the per-pixel amount ``t`` (float32 HxWx3)."""
    return img * (1 - gray3(t)) + tint(t, color)


def paint_background(rng: np.random.Generator, kind: str, scheme: str, pal: dict, w: int, h: int) -> np.ndarray:
    """Card face artwork of ``kind`` in ``scheme`` colours (float32 RGB)."""
    x = np.arange(w, dtype=np.float32)[None, :]
    y = np.arange(h, dtype=np.float32)[:, None]
    if kind == "solid":
        img = np.empty((h, w, 3), np.float32)
        img[:] = pal["a"]
    elif kind == "gradient":
        if rng.random() < 0.7:
            ang = rng.uniform(0, 2 * np.pi)
            t = x * np.float32(np.cos(ang)) + y * np.float32(np.sin(ang))
        else:
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
            t = np.hypot(x - np.float32(cx), y - np.float32(cy))
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
        img = _lerp(t, pal["a"], pal["b"])
    elif kind == "pattern":
        img = np.repeat(_lerp(x / max(w, 1), pal["a"], pal["b"]), h, axis=0)
        sub = rng.integers(4)
        layer = np.zeros((h, w), np.float32)
        if sub == 0:  # diagonal stripes
            period = rng.uniform(0.03, 0.12) * w
            ang = rng.uniform(0, np.pi)
            phase = (x * np.float32(np.cos(ang)) + y * np.float32(np.sin(ang))) * np.float32(2 * np.pi / period)
            layer = (np.sin(phase) > 0.4).astype(np.float32)
        elif sub == 1:  # dots grid
            step = max(4, int(rng.uniform(0.03, 0.08) * w))
            r = max(1, int(step * rng.uniform(0.15, 0.35)))
            for yc in range(step // 2, h, step):
                for xc in range(step // 2 + (yc // step % 2) * step // 2, w, step):
                    cv2.circle(layer, (xc, yc), r, 1.0, -1)
        elif sub == 2:  # wave lines
            layer = (np.abs(texture_crop(rng, "waves", w, h) - 0.5) < 0.04).astype(np.float32)
        else:  # geometric polygons
            for _ in range(int(rng.integers(3, 9))):
                pts = (rng.random((int(rng.integers(3, 6)), 2)) * [w * 1.4, h * 1.4] - [w * 0.2, h * 0.2]).astype(np.int32)
                cv2.fillPoly(layer, [pts], float(rng.uniform(0.3, 1.0)))
        layer = cv2.GaussianBlur(layer, (0, 0), 0.8)
        img = mix(img, layer * np.float32(rng.uniform(0.08, 0.35)), pal["accent"])
    else:  # photo-like procedural texture
        tkind = rng.choice(["fractal", "marble", "blobs", "waves"])
        t = texture_crop(rng, str(tkind), w, h)
        img = _lerp(t, pal["a"], pal["b"])
        if rng.random() < 0.5:
            img = mix(img, 0.3 * texture_crop(rng, "blobs", w, h), pal["accent"])
    if scheme in ("silver", "gold"):
        img *= gray3(0.88 + 0.24 * texture_crop(rng, "brushed", w, h))
        sheen = np.exp(-((x[0] / w - rng.uniform(0.2, 0.8)) ** 2) / 0.05).astype(np.float32)
        img.reshape(h, w * 3)[:] += np.repeat(0.12 * sheen, 3)  # a vertical band of light
    else:
        img *= gray3(0.97 + 0.06 * texture_crop(rng, "grain", w, h))
    return np.clip(img, 0, 1, out=img)


# ---------------------------------------------------------------- elements
def blend(img: np.ndarray, mask: np.ndarray, color, x0: int = 0, y0: int = 0) -> None:
    """Alpha-blend ``color`` (RGB or an image) through ``mask`` (0..1) into ``img`` at ``(x0, y0)``, in place."""
    h, w = mask.shape[:2]
    H, W = img.shape[:2]
    xa, ya, xb, yb = max(0, x0), max(0, y0), min(W, x0 + w), min(H, y0 + h)
    if xb <= xa or yb <= ya:
        return
    m = gray3(mask[ya - y0:yb - y0, xa - x0:xb - x0])
    c = np.asarray(color, np.float32)
    if c.ndim == 3:
        c = c[ya - y0:yb - y0, xa - x0:xb - x0]
    region = img[ya:yb, xa:xb]
    region *= 1 - m
    region += m * c


def draw_chip(img: np.ndarray, rng: np.random.Generator, x: int, y: int, w: int, h: int) -> None:
    """EMV contact plate: rounded metal rectangle with contact-pad dividing lines and shading."""
    gold = rng.random() < 0.65
    base = hsv(rng.uniform(0.1, 0.13), rng.uniform(0.35, 0.6), rng.uniform(0.7, 0.9)) if gold else hsv(0, 0, rng.uniform(0.7, 0.85))
    mask = np.zeros((h, w), np.float32)
    r = max(2, int(min(w, h) * 0.18))
    cv2.rectangle(mask, (r, 0), (w - 1 - r, h - 1), 1.0, -1)
    cv2.rectangle(mask, (0, r), (w - 1, h - 1 - r), 1.0, -1)
    for cx, cy in ((r, r), (w - 1 - r, r), (r, h - 1 - r), (w - 1 - r, h - 1 - r)):
        cv2.circle(mask, (cx, cy), r, 1.0, -1, cv2.LINE_AA)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    shade = 0.85 + 0.3 * (1 - (xx / w + yy / h) / 2)
    face = base[None, None] * shade[..., None]
    lines = np.zeros((h, w), np.float32)
    t = max(1, int(round(min(w, h) * 0.035)))
    cv2.line(lines, (w // 3, 0), (w // 3, h), 1.0, t)
    cv2.line(lines, (2 * w // 3, 0), (2 * w // 3, h), 1.0, t)
    for fy in (0.33, 0.66):
        cv2.line(lines, (0, int(h * fy)), (w // 3, int(h * fy)), 1.0, t)
        cv2.line(lines, (2 * w // 3, int(h * fy)), (w, int(h * fy)), 1.0, t)
    cv2.rectangle(lines, (int(w * 0.33), int(h * 0.3)), (int(w * 0.66), int(h * 0.7)), 1.0, t)
    face = face * (1 - 0.45 * lines[..., None])
    blend(img, mask, np.clip(face, 0, 1), x, y)


def draw_contactless(img: np.ndarray, cx: int, cy: int, size: int, color, vertical: bool = False) -> None:
    """The four-arc contactless indicator (generic drawing)."""
    m = np.zeros((size * 2 + 4, size * 2 + 4), np.float32)
    c = size + 2
    t = max(1, size // 9)
    for i in range(4):
        r = int(size * (0.25 + 0.22 * i))
        cv2.ellipse(m, (c - size // 2, c), (r, r), 0, -50, 50, 1.0, t, cv2.LINE_AA)
    if vertical:
        m = np.ascontiguousarray(np.rot90(m))
    blend(img, m, color, cx - c, cy - c)


def draw_hologram(img: np.ndarray, rng: np.random.Generator, x: int, y: int, w: int, h: int) -> None:
    """An iridescent rectangle with a rainbow sheen and a faint embossed motif."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    phase = (xx / max(w, 1) * rng.uniform(1, 3) + yy / max(h, 1) * rng.uniform(0.5, 2) + rng.random()) % 1.0
    hue = phase
    rgb = np.stack([0.5 + 0.5 * np.cos(2 * np.pi * (hue + k / 3)) for k in range(3)], -1).astype(np.float32)
    rgb = 0.55 + 0.35 * rgb
    motif = np.zeros((h, w), np.float32)
    cv2.circle(motif, (w // 2, h // 2), max(2, min(w, h) // 3), 1.0, max(1, min(w, h) // 12), cv2.LINE_AA)
    rgb = rgb * (1 - 0.25 * motif[..., None])
    mask = np.ones((h, w), np.float32) * 0.92
    blend(img, mask, rgb, x, y)


def text_mask(text: str, font_key: str, size: int) -> tuple[np.ndarray, int, int]:
    """Grey mask of ``text`` with the offset of its top-left from the left-baseline pen position."""
    return _text_mask(text, font_key, int(size))


@lru_cache(maxsize=4096)
def _text_mask(text: str, font_key: str, size: int) -> tuple[np.ndarray, int, int]:
    from PIL import Image, ImageDraw

    font = load_font(font_key, size)
    if isinstance(font, StrokeFont):
        face = FACES_BY_KEY[font_key]
        arr, x0, y0 = stroke_text_mask(text, font, lambda ch: _text_mask(ch, face.fallback, size))
        arr.setflags(write=False)
        return arr, x0, y0
    x0, y0, x1, y1 = font.getbbox(text, anchor="ls")
    w, h = max(1, x1 - x0), max(1, y1 - y0)
    im = Image.new("L", (w, h), 0)
    ImageDraw.Draw(im).text((-x0, -y0), text, font=font, fill=255, anchor="ls")
    arr = np.asarray(im, dtype=np.float32) / 255.0
    arr.setflags(write=False)
    return arr, int(x0), int(y0)


def draw_text(img: np.ndarray, text: str, font_key: str, size: int, x: int, baseline: int, color,
              italic: float = 0.0) -> tuple[int, int, int, int]:
    """Draw ``text`` with its pen at ``(x, baseline)``; returns the ink box ``(x1, y1, x2, y2)``."""
    m, ox, oy = text_mask(text, font_key, size)
    if italic:
        h, w = m.shape
        shear = np.float32([[1, -italic, italic * h], [0, 1, 0]])
        m = cv2.warpAffine(m, shear, (w + int(abs(italic) * h) + 1, h))
    blend(img, m, color, x + ox, baseline + oy)
    return x + ox, baseline + oy, x + ox + m.shape[1], baseline + oy + m.shape[0]


BRAND_MARK_STYLES = {"visa": "wordmark", "mastercard": "circles", "amex": "box", "discover": "wordmark_dot",
                     "jcb": "stripes", "diners": "ring", "unionpay": "stripes", "mir": "wordmark",
                     "rupay": "wordmark", "maestro": "circles"}
BRAND_WORDS = {"visa": "VISA", "mastercard": "", "amex": "AMEX", "discover": "DISCOVER", "jcb": "JCB",
               "diners": "DINERS", "unionpay": "UnionPay", "mir": "МИР", "rupay": "RuPay", "maestro": ""}


def draw_brand_mark(img: np.ndarray, rng: np.random.Generator, brand: str, x: int, y: int, w: int, h: int,
                    color) -> None:
    """A generic brand mark (no real logo): wordmark, two overlapping discs, banded box or a ring."""
    style = BRAND_MARK_STYLES.get(brand, "wordmark")
    word = BRAND_WORDS.get(brand, brand.upper())
    if word == "МИР":
        word = "MIR"
    if style == "circles":
        r = int(h * 0.45)
        m1, m2 = np.zeros((h, w), np.float32), np.zeros((h, w), np.float32)
        cv2.circle(m1, (w // 2 - int(r * 0.6), h // 2), r, 1.0, -1, cv2.LINE_AA)
        cv2.circle(m2, (w // 2 + int(r * 0.6), h // 2), r, 1.0, -1, cv2.LINE_AA)
        c1, c2 = (hsv(0.0, 0.9, 0.9), hsv(0.11, 0.9, 1.0)) if rng.random() < 0.6 else (hsv(0.6, 0.8, 0.8), hsv(0.0, 0.8, 0.9))
        blend(img, m1, c1, x, y)
        blend(img, m2 * 0.85, c2, x, y)
        return
    if style in ("box", "stripes"):
        m = np.zeros((h, w), np.float32)
        cv2.rectangle(m, (0, 0), (w - 1, h - 1), 1.0, -1)
        fill = hsv(rng.random(), 0.7, 0.75)
        if style == "stripes":
            cols = [hsv(rng.random(), 0.8, 0.8) for _ in range(3)]
            for i, c in enumerate(cols):
                sub = np.zeros((h, w), np.float32)
                cv2.rectangle(sub, (i * w // 3, 0), ((i + 1) * w // 3 - 1, h - 1), 1.0, -1)
                blend(img, sub, c, x, y)
        else:
            blend(img, m, fill, x, y)
        size = int(h * 0.5)
        m2, ox, oy = text_mask(word, "liberation_sans_bold", size)
        scale = min(1.0, (w * 0.9) / m2.shape[1])
        m2 = cv2.resize(m2, (max(1, int(m2.shape[1] * scale)), max(1, int(m2.shape[0] * scale))))
        blend(img, m2, hsv(0, 0, 1.0), x + (w - m2.shape[1]) // 2, y + (h - m2.shape[0]) // 2)
        return
    if style == "ring":
        m = np.zeros((h, w), np.float32)
        r = int(h * 0.42)
        cv2.circle(m, (w // 2, h // 2), r, 1.0, max(1, r // 4), cv2.LINE_AA)
        blend(img, m, color, x, y)
        return
    m2, ox, oy = text_mask(word, "liberation_sans_bold", int(h * 0.9))
    italic = 0.2 if rng.random() < 0.7 else 0.0
    if italic:
        hh, ww = m2.shape
        m2 = cv2.warpAffine(m2, np.float32([[1, -italic, italic * hh], [0, 1, 0]]), (ww + int(italic * hh) + 1, hh))
    scale = min(1.0, w / m2.shape[1], h / m2.shape[0])
    m2 = cv2.resize(m2, (max(1, int(m2.shape[1] * scale)), max(1, int(m2.shape[0] * scale))))
    blend(img, m2, color, x + w - m2.shape[1], y + (h - m2.shape[0]) // 2)
    if style == "wordmark_dot":
        d = np.zeros((h, h), np.float32)
        cv2.circle(d, (h // 2, h // 2), h // 4, 1.0, -1, cv2.LINE_AA)
        blend(img, d, hsv(0.07, 0.9, 1.0), x + w - m2.shape[1] - h, y)
