"""Render a card face (front or back, landscape or portrait) with exact field and character boxes."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np

from cardlens.synth import design as D
from cardlens.synth.emboss import FOILS, PRINT_STYLES, apply_print
from cardlens.synth.fonts import faces_for, load_font
from cardlens.synth.geometry import card_size_px, rounded_rect_mask
from cardlens.synth.seeding import sample_rngs
from cardlens.synth.text import CardText, make_card_text, phone_number, random_digits, small_print

ORIENTATIONS = ("landscape", "portrait")
SIDES = ("front", "back")
FIELD_KINDS = ("number", "number_group", "expiry", "name")


@dataclass(frozen=True)
class CardSpec:
    """Every choice that defines one card (render it at any pixel size)."""

    text: CardText
    orientation: str  # "landscape" | "portrait"
    side: str  # "front" | "back"
    number_on: str  # "front" | "back" | "none" (no number printed anywhere visible)
    design: str  # one of design.DESIGN_KINDS
    scheme: str  # one of design.SCHEMES
    print_style: str  # one of emboss.PRINT_STYLES
    foil: str  # one of emboss.FOILS (embossed only)
    number_font: str
    label_font: str
    art_seed: int  # seeds artwork and layout jitter

    @property
    def portrait(self) -> bool:
        return self.orientation == "portrait"

    @property
    def number_visible(self) -> bool:
        return self.number_on == self.side


@dataclass(frozen=True)
class CharBox:
    char: str
    box: tuple[float, float, float, float]


@dataclass(frozen=True)
class FieldBox:
    """A text field on the card, in card pixels (continuous coordinates, ``x2``/``y2`` exclusive)."""

    kind: str  # number | number_group | expiry | name | distractor_* (not a training target)
    text: str
    box: tuple[float, float, float, float]
    chars: tuple[CharBox, ...] = ()
    ink_id: int = 0  # value of this field's pixels in RenderedCard.ink_ids (0: not tracked)
    font: str = ""  # font key and pixel size the text was drawn with
    size: int = 0


@dataclass(frozen=True, eq=False)
class RenderedCard:
    spec: CardSpec
    image: np.ndarray  # HxWx3 uint8 RGB, the card face (outside the rounded outline undefined)
    alpha: np.ndarray  # HxW float32, rounded ID-1 outline coverage
    fields: tuple[FieldBox, ...]
    ink_ids: np.ndarray = field(repr=False)  # HxW uint8: ink_id of the field whose ink covers a pixel

    @property
    def size(self) -> tuple[int, int]:
        return self.image.shape[1], self.image.shape[0]

    def fields_of(self, kind: str) -> tuple[FieldBox, ...]:
        return tuple(f for f in self.fields if f.kind == kind)


# ------------------------------------------------------------------ spec
def make_card_spec(seed_or_rng: int | random.Random, index: int = 0, **overrides) -> CardSpec:
    """A random card spec; ``overrides`` fix any :class:`CardSpec` field (or ``brand``/``specimen``)."""
    if isinstance(seed_or_rng, random.Random):
        rnd = seed_or_rng
    else:
        rnd = sample_rngs(int(seed_or_rng), index, "card")[1]
    text_kw = {k: overrides.pop(k) for k in ("brand", "length", "specimen", "number_layout") if k in overrides}
    text = overrides.pop("text", None) or make_card_text(rnd, **text_kw)
    orientation = rnd.choices(ORIENTATIONS, weights=(0.8, 0.2))[0]
    side = rnd.choices(SIDES, weights=(0.8, 0.2))[0]
    r = rnd.random()
    number_on = "front" if r < 0.78 else ("back" if r < 0.95 else "none")
    design = rnd.choice(D.DESIGN_KINDS)
    scheme = rnd.choice(D.SCHEMES)
    style = rnd.choices(PRINT_STYLES, weights=(0.42, 0.42, 0.08, 0.08))[0]
    style = overrides.pop("print_style", style)
    if style == "silver_on_silver":
        scheme = "silver"
    if portrait_forces_flat(orientation) and style == "embossed" and rnd.random() < 0.7:
        style = "flat"
    faces = faces_for("emboss" if style in ("embossed", "silver_on_silver") else "flat")
    spec = dict(text=text, orientation=orientation, side=side, number_on=number_on, design=design, scheme=scheme,
                print_style=style, foil=rnd.choice(FOILS), number_font=rnd.choice(faces).key,
                label_font=rnd.choice(faces_for("label")).key, art_seed=rnd.getrandbits(63))
    spec.update(overrides)
    if spec["print_style"] == "silver_on_silver":
        spec["scheme"] = "silver"
    return CardSpec(**spec)


def portrait_forces_flat(orientation: str) -> bool:
    return orientation == "portrait"  # vertical designs are almost always flat-printed


# ------------------------------------------------------------------ glyphs
@lru_cache(maxsize=8192)
def _glyph(ch: str, font_key: str, size: int) -> tuple[np.ndarray, int, int, float]:
    """Mask of one character, offsets of its ink from the left-baseline pen, and its advance."""
    m, ox, oy = D.text_mask(ch, font_key, size)
    ys, xs = np.nonzero(m > 0.02)
    if len(xs):
        m = m[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
        ox, oy = ox + int(xs.min()), oy + int(ys.min())
    return m, ox, oy, float(load_font(font_key, size).getlength(ch))


@lru_cache(maxsize=1024)
def char_pitch(font_key: str, size: int) -> float:
    font = load_font(font_key, size)
    return max(float(font.getlength(d)) for d in "0123456789")


class _Canvas:
    """Collects field ink (for print styles) and the ink-id map while fields are laid out."""

    def __init__(self, w: int, h: int):
        self.ink = np.zeros((h, w), np.float32)
        self.ids = np.zeros((h, w), np.uint8)
        self.fields: list[FieldBox] = []

    def place(self, kind: str, text: str, font_key: str, size: int, x: float, baseline: float,
              pitch: float | None = None, gaps: dict[int, float] | None = None, track: bool = True) -> FieldBox:
        """Draw ``text`` char by char (fixed ``pitch`` if given); record exact ink boxes."""
        H, W = self.ink.shape
        fid = len(self.fields) + 1 if track else 0
        chars: list[CharBox] = []
        pen = float(x)
        b = int(round(baseline))
        for i, ch in enumerate(text):
            if gaps and i in gaps:
                pen += gaps[i]
            m, ox, oy, adv = _glyph(ch, font_key, size)
            step = pitch if pitch is not None else adv
            if ch != " " and m.size:
                x0 = int(round(pen + (step - adv) / 2 if pitch is not None else pen)) + ox
                y0 = b + oy
                xa, ya = max(0, x0), max(0, y0)
                xb, yb = min(W, x0 + m.shape[1]), min(H, y0 + m.shape[0])
                if xb > xa and yb > ya:
                    sub = m[ya - y0:yb - y0, xa - x0:xb - x0]
                    np.maximum(self.ink[ya:yb, xa:xb], sub, out=self.ink[ya:yb, xa:xb])
                    if fid:
                        reg = self.ids[ya:yb, xa:xb]
                        reg[sub > 0.5] = fid
                    chars.append(CharBox(ch, (float(xa), float(ya), float(xb), float(yb))))
            pen += step
        if chars:
            xs1, ys1, xs2, ys2 = zip(*(c.box for c in chars), strict=True)
            box = (min(xs1), min(ys1), max(xs2), max(ys2))
        else:
            box = (float(x), float(baseline), float(x), float(baseline))
        fb = FieldBox(kind, text, box, tuple(chars), fid, font_key, int(size))
        self.fields.append(fb)
        return fb


def _fit_size(font_key: str, size: int, n_chars: int, extra_units: float, max_w: float, tracking: float) -> tuple[int, float]:
    """Largest size <= ``size`` whose fixed-pitch line fits ``max_w``; returns ``(size, pitch)``."""
    while True:
        pitch = char_pitch(font_key, size) * tracking
        if pitch * (n_chars + extra_units) <= max_w or size <= 6:
            return size, pitch
        size = max(6, int(size * 0.92))


# ------------------------------------------------------------------ render
def render_card(spec: CardSpec | int, long_side_px: int = 640) -> RenderedCard:
    """Render ``spec`` (or the spec drawn from an integer seed) with its long side ``long_side_px``."""
    if not isinstance(spec, CardSpec):
        spec = make_card_spec(int(spec))
    rng = np.random.default_rng(spec.art_seed)
    W, H = card_size_px(long_side_px, spec.portrait)
    pal = D.make_palette(rng, spec.scheme)
    img = D.paint_background(rng, spec.design, spec.scheme, pal, W, H)
    cv = _Canvas(W, H)
    ink_color = pal["ink"]
    if spec.print_style == "embossed" and spec.scheme in ("light", "pastel") and rng.random() < 0.5:
        ink_color = D.hsv(0, 0, 0.15)
    L = max(W, H)  # long side
    S = min(W, H)  # short side
    lab = spec.label_font
    if spec.side == "front":
        _front_art(img, rng, spec, pal, W, H)
    else:
        _back_art(img, rng, spec, pal, W, H, cv)
    if spec.number_visible:
        _lay_fields(cv, img, rng, spec, W, H, L, S, lab, ink_color)
    # field ink takes the print style (labels were drawn flat already)
    num_size = max((f.box[3] - f.box[1] for f in cv.fields if f.kind == "number_group"), default=S * 0.08)
    apply_print(img, cv.ink, spec.print_style, spec.foil, ink_color, rng, float(num_size))
    alpha = rounded_rect_mask(W, H)
    out = cv2.convertScaleAbs(img, alpha=255)  # img is never negative: a saturating, rounding x255
    return RenderedCard(spec, out, alpha, tuple(cv.fields), cv.ids)


def _front_art(img, rng, spec: CardSpec, pal, W, H) -> None:
    L, S = max(W, H), min(W, H)
    lab = spec.label_font
    text_col = pal["ink"] if spec.print_style != "embossed" else (D.hsv(0, 0, 1.0) if pal["a"].mean() < 0.5 else D.hsv(0, 0, 0.1))
    # bank name and tier
    bank_size = int(S * rng.uniform(0.06, 0.1))
    bx = int(W * rng.uniform(0.05, 0.09))
    D.draw_text(img, spec.text.bank, "liberation_sans_bold" if rng.random() < 0.6 else lab, bank_size, bx,
                int(H * 0.04 + bank_size * 1.1), text_col)
    if rng.random() < 0.7:
        tsize = int(S * rng.uniform(0.04, 0.065))
        m, _, _ = D.text_mask(spec.text.tier, lab, tsize)
        D.draw_text(img, spec.text.tier, lab, tsize, int(W * 0.94) - m.shape[1], int(H * 0.06 + bank_size * 1.1 + tsize * 1.3), text_col)
    # chip + contactless
    if spec.portrait:
        cw, ch = int(S * 0.2), int(S * 0.26)
        cx, cy = int(W * rng.uniform(0.1, 0.2)), int(H * rng.uniform(0.2, 0.3))
    else:
        cw, ch = int(L * 0.14), int(S * 0.17)
        cx, cy = int(W * rng.uniform(0.07, 0.11)), int(H * rng.uniform(0.3, 0.38))
    if rng.random() < 0.95:
        D.draw_chip(img, rng, cx, cy, cw, ch)
    if rng.random() < 0.75:
        D.draw_contactless(img, cx + cw + int(S * 0.12), cy + ch // 2, int(S * 0.07), text_col, spec.portrait)
    if rng.random() < 0.15 and not spec.portrait:
        D.draw_hologram(img, rng, int(W * 0.78), int(H * 0.35), int(W * 0.15), int(H * 0.2))
    # brand mark bottom right
    bw, bh = int(S * rng.uniform(0.28, 0.38)), int(S * rng.uniform(0.13, 0.18))
    D.draw_brand_mark(img, rng, spec.text.brand, W - bw - int(S * 0.06), H - bh - int(S * 0.05), bw, bh, text_col)


def _back_art(img, rng, spec: CardSpec, pal, W, H, cv: _Canvas) -> None:
    S = min(W, H)
    text_col = pal["ink"]
    pr = np.random.default_rng(spec.art_seed + 1)
    rnd = random.Random(spec.art_seed)
    stripe = np.ones((int(S * 0.19), W if not spec.portrait else H), np.float32)
    dark = D.hsv(0, 0, rng.uniform(0.03, 0.2))
    if spec.portrait:
        D.blend(img, stripe.T.copy(), dark, int(W * 0.06), 0)
        x0 = int(W * 0.06) + stripe.shape[0] + int(S * 0.05)
    else:
        D.blend(img, stripe, dark, 0, int(H * 0.08))
        x0 = int(W * 0.05)
    top = int(H * 0.08) + (stripe.shape[0] + int(S * 0.06) if not spec.portrait else 0)
    # signature panel with a CVV distractor
    pw, ph = int((W - x0) * rng.uniform(0.5, 0.7)), int(S * 0.13)
    panel = np.ones((ph, pw), np.float32)
    D.blend(img, panel, D.hsv(0, 0, rng.uniform(0.88, 0.98)), x0, top)
    yy, xx = np.mgrid[0:ph, 0:pw]
    hatch = ((xx + yy) % 8 < 2).astype(np.float32) * 0.5
    D.blend(img, hatch, D.hsv(rng.random(), 0.3, 0.8), x0, top)
    cvv = random_digits(rnd, 3)
    size = int(ph * 0.55)
    D.draw_text(img, (random_digits(rnd, 4) + " " if rng.random() < 0.5 else "") + cvv, "liberation_sans",
                size, x0 + pw - int(size * (4.8 if len(cvv) else 2)), top + int(ph * 0.72), D.hsv(0, 0, 0.1), italic=0.2)
    y = top + ph + int(S * 0.1)
    # phone numbers, small print, long digit strings
    small = max(6, int(S * rng.uniform(0.03, 0.045)))
    lines = [phone_number(rnd), small_print(rnd, rnd.randint(6, 12)), small_print(rnd, rnd.randint(6, 12))]
    if rnd.random() < 0.7:
        lines.insert(rnd.randint(0, len(lines)), " ".join(random_digits(rnd, 4) for _ in range(rnd.randint(3, 5))))
    if spec.number_visible:  # the number block takes the lower half; keep only a phone line up top
        lines = lines[:1] if spec.portrait else []
    for t in lines:
        if y > H * 0.95:
            break
        D.draw_text(img, t, "liberation_sans" if rnd.random() < 0.6 else "inconsolata", small, x0, y, text_col)
        y += int(small * 1.5)
    if pr.random() < 0.4 and not spec.number_visible and not spec.portrait:
        D.draw_hologram(img, rng, int(W * 0.74), int(H * 0.7), int(W * 0.18), int(H * 0.22))


def _lay_fields(cv: _Canvas, img, rng, spec: CardSpec, W, H, L, S, lab, ink_color) -> None:
    t = spec.text
    font = spec.number_font
    emb = spec.print_style in ("embossed", "silver_on_silver")
    tracking = rng.uniform(1.0, 1.2) if emb else rng.uniform(0.95, 1.15)
    lab_col = ink_color if not emb else (D.hsv(0, 0, 0.95) if img[int(H * 0.7), int(W * 0.5)].mean() < 0.5 else D.hsv(0, 0, 0.1))
    back = spec.side == "back"
    x0 = int(W * rng.uniform(0.06, 0.1)) if not (back and spec.portrait) else int(W * 0.4)
    if spec.portrait:
        base_size = int(S * rng.uniform(0.075, 0.1))
        y_num = int(H * rng.uniform(0.6, 0.7)) if not back else int(H * 0.5)
    else:
        base_size = int(S * (rng.uniform(0.1, 0.13) if emb else rng.uniform(0.07, 0.11)))
        y_num = int(H * rng.uniform(0.6, 0.66)) if not back else int(H * 0.7)
    max_w = (W - x0) * 0.94 - (W * 0.02)
    groups = t.number_groups
    nd = len(t.pan)
    stacked = t.number_layout == "stacked" and not back
    if stacked:
        # a 4x4 "quick read" block in the lower left; expiry and name go to its right
        top = H * (0.5 if not spec.portrait else 0.52)
        size, pitch = _fit_size(font, int(base_size * 1.1), 4, 0, W * 0.4, tracking)
        line_h = size * rng.uniform(1.05, 1.2)
        while top + 3 * line_h + size * 0.8 > H * 0.93 and size > 8:
            size = int(size * 0.9)
            pitch = char_pitch(font, size) * tracking
            line_h = size * 1.1
        for i, g in enumerate(groups):
            cv.place("number_group", g, font, size, x0, top + i * line_h + size * 0.75, pitch)
        num_bottom = top
    else:
        gap_units = rng.uniform(0.6, 1.3)
        size, pitch = _fit_size(font, base_size, nd, gap_units * (len(groups) - 1), max_w, tracking)
        pen = float(x0)
        for g in groups:
            cv.place("number_group", g, font, size, pen, y_num, pitch)
            pen += pitch * (len(g) + gap_units)
        num_bottom = y_num
    gfields = cv.fields[-len(groups):]
    xs1, ys1, xs2, ys2 = zip(*(f.box for f in gfields), strict=True)
    cv.fields.append(FieldBox("number", t.number_text, (min(xs1), min(ys1), max(xs2), max(ys2)),
                              tuple(c for f in gfields for c in f.chars), 0, font, gfields[0].size))
    # expiry with its label, and maybe a distractor date
    esize = max(6, int(size * rng.uniform(0.6, 0.8)))
    epitch = char_pitch(font, esize) * tracking
    lsize = max(5, int(esize * rng.uniform(0.35, 0.5)))
    y_exp = int(num_bottom + esize * rng.uniform(1.4, 1.9))
    x = float(x0 + (W - x0) * rng.uniform(0.0, 0.3)) if not spec.portrait else float(x0)
    name_x = x0
    if stacked:
        block_right = max(f.box[2] for f in gfields)
        x = name_x = block_right + S * 0.08
        esize = max(6, min(esize, int((W * 0.95 - x) / (len(t.expiry) + 6) / 0.6)))
        epitch = char_pitch(font, esize) * tracking
        y_exp = int(gfields[0].box[3] + esize * 0.2)
    if t.distractor_date and not spec.portrait and not stacked:
        x = _label(img, t.distractor_date_label, lab, lsize, x, y_exp, lab_col)
        cv.place("distractor_date", t.distractor_date, font, esize, x, y_exp, epitch, track=False)
        x += epitch * (len(t.distractor_date) + 1.5)
    x = _label(img, t.expiry_label, lab, lsize, x, y_exp, lab_col)
    cv.place("expiry", t.expiry, font, esize, x, y_exp, epitch)
    # name
    nsize = max(6, int(size * rng.uniform(0.55, 0.75)))
    npitch = char_pitch(font, nsize) * rng.uniform(0.95, 1.1)
    limit = (W * 0.62 if not spec.portrait else W * 0.84) - x0 if not stacked else W * 0.95 - name_x
    while npitch * len(t.name) > limit and nsize > 6:
        nsize = max(6, int(nsize * 0.9))
        npitch = char_pitch(font, nsize)
    y_name = int(y_exp + nsize * rng.uniform(1.5, 2.0))
    y_name = min(y_name, int(H - nsize * 0.6 - S * 0.04))
    y_name = max(y_name, int(y_exp + nsize * 1.25))
    cv.place("name", t.name, font, nsize, name_x, y_name, npitch)


def _label(img, text: str, font_key: str, size: int, x: float, baseline: int, color) -> float:
    """Draw a (possibly two-line) small label ending just left of a value; return the value's pen x."""
    if not text:
        return x
    lines = text.split("\n")
    widest = 0
    for i, ln in enumerate(lines):
        y = baseline - (len(lines) - 1 - i) * int(size * 1.15)
        box = D.draw_text(img, ln, font_key, size, int(x), y, color)
        widest = max(widest, box[2] - int(x))
    return x + widest + size * 0.8
