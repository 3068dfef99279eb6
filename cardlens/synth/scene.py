"""Photo-like scenes: a card composited onto a background with perspective, occluders, distractors,
shadows, glare, and an albumentations photometric pipeline (blur, noise, low light, colour casts, JPEG).

Keypoint visibility (YOLO-pose): 2 = corner inside the frame and not covered; 1 = inside the frame but
covered by a finger/occluder; corners outside the frame are written as ``0 0 0`` (not labelled) because
ultralytics rejects label coordinates outside the image. :class:`SceneSample` keeps their exact position.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np

from cardlens.synth import design as D
from cardlens.synth.geometry import cv2_matrix, design_corners, homography, polygon_clip_box
from cardlens.synth.photometric import photometric
from cardlens.synth.render import CardSpec, RenderedCard, make_card_spec, render_card
from cardlens.synth.seeding import sample_rngs, sample_seed
from cardlens.synth.text import phone_number, random_digits, small_print

BACKGROUND_KINDS = ("wood", "fabric", "paper", "table", "marble", "clutter")
BG_POOL = 10
BG_SIZE = 768


@dataclass(frozen=True, eq=False)
class SceneSample:
    image: np.ndarray  # HxWx3 uint8 RGB
    card: RenderedCard | None  # None for a negative scene (no card)
    corners: np.ndarray | None  # (4, 2) float64, image continuous coords, design order, may lie outside
    visibility: tuple[int, ...] | None  # per corner: 2 visible, 1 covered, 0 outside the frame
    box: tuple[float, float, float, float] | None  # card box clipped to the image
    homography: np.ndarray | None  # card pixels -> image pixels (continuous coordinates)
    background: str
    occluded: bool
    distractors: tuple[str, ...]
    card_alpha: np.ndarray | None = field(default=None, repr=False)  # card coverage in the image (pre-occlusion)
    occluder_alpha: np.ndarray | None = field(default=None, repr=False)  # fingers over the image (with keep_masks)


# ------------------------------------------------------------------ backgrounds (pooled per process)
@lru_cache(maxsize=BG_POOL * len(BACKGROUND_KINDS))
def _background(kind: str, index: int) -> np.ndarray:
    rng = np.random.default_rng([0xB6, D.hash_kind(kind), index])
    n = BG_SIZE
    xx = np.arange(n, dtype=np.float32)[None, :]
    yy = xx.T
    if kind == "wood":
        warp = D.noise_texture("fractal", index % D.TEXTURE_POOL)
        warp = cv2.resize(warp, (n, n))
        rings = np.sin((yy + 40 * warp) * rng.uniform(0.05, 0.15) + 6 * warp)
        t = 0.5 + 0.5 * rings
        a, b = D.hsv(rng.uniform(0.05, 0.1), rng.uniform(0.4, 0.8), rng.uniform(0.25, 0.6)), D.hsv(rng.uniform(0.05, 0.1), rng.uniform(0.5, 0.9), rng.uniform(0.15, 0.4))
        img = D._lerp(t, a, b)
    elif kind == "fabric":
        p = rng.uniform(3, 7)
        weave = 0.5 + 0.25 * np.sin(xx * 2 * np.pi / p) * np.sign(np.sin(yy * np.pi / p)) + 0.25 * np.sin(yy * 2 * np.pi / p)
        c = D.hsv(rng.random(), rng.uniform(0.1, 0.7), rng.uniform(0.2, 0.8))
        img = D.tint(0.75 + 0.35 * weave, c)
    elif kind == "paper":
        g = cv2.resize(D.noise_texture("grain", index % D.TEXTURE_POOL), (n, n))
        c = D.hsv(rng.uniform(0.08, 0.15), rng.uniform(0, 0.15), rng.uniform(0.8, 0.97))
        img = D.tint(0.92 + 0.1 * g, c)
    elif kind == "marble":
        m = cv2.resize(D.noise_texture("marble", index % D.TEXTURE_POOL), (n, n))
        a, b = D.hsv(rng.random(), rng.uniform(0, 0.2), rng.uniform(0.5, 0.9)), D.hsv(rng.random(), rng.uniform(0, 0.3), rng.uniform(0.15, 0.5))
        img = D._lerp(m, a, b)
    elif kind == "clutter":
        img = np.broadcast_to(D.hsv(rng.random(), rng.uniform(0, 0.5), rng.uniform(0.2, 0.8)), (n, n, 3)).copy()
        for _ in range(int(rng.integers(8, 20))):
            c = D.hsv(rng.random(), rng.uniform(0, 1), rng.uniform(0.1, 1))
            x, y = int(rng.integers(-50, n)), int(rng.integers(-50, n))
            if rng.random() < 0.5:
                cv2.rectangle(img, (x, y), (x + int(rng.integers(20, 300)), y + int(rng.integers(20, 300))), c.tolist(), -1)
            else:
                cv2.ellipse(img, (x, y), (int(rng.integers(10, 150)), int(rng.integers(10, 150))), float(rng.uniform(0, 180)), 0, 360, c.tolist(), -1)
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 3))
    else:  # "table": smooth surface with a soft gradient
        c = D.hsv(rng.random(), rng.uniform(0, 0.4), rng.uniform(0.3, 0.95))
        t = (xx * rng.uniform(-1, 1) + yy * rng.uniform(-1, 1)) / n
        img = D.tint(0.8 + 0.25 * t, c)
    vign = 1 - 0.35 * (((xx / n - 0.5) ** 2 + (yy / n - 0.5) ** 2) * rng.uniform(0, 2))
    img = np.clip(img * D.gray3(vign), 0, 1)
    out = (img * 255).astype(np.uint8)
    out.setflags(write=False)
    return out


def background(rng: np.random.Generator, imgsz: int) -> tuple[np.ndarray, str]:
    kind = str(rng.choice(BACKGROUND_KINDS))
    src = _background(kind, int(rng.integers(BG_POOL)))
    n = src.shape[0]
    c = int(rng.integers(n // 2, n + 1))
    x0, y0 = int(rng.integers(0, n - c + 1)), int(rng.integers(0, n - c + 1))
    img = cv2.resize(src[y0:y0 + c, x0:x0 + c], (imgsz, imgsz), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        img = cv2.flip(img, 1)
    gain = rng.uniform(0.8, 1.2, size=3)
    img = cv2.transform(img, np.diag(gain).astype(np.float32))
    return img, kind


# ------------------------------------------------------------------ distractors and occluders
def _paste_quad(dst: np.ndarray, src: np.ndarray, quad: np.ndarray) -> None:
    """Warp RGBA ``src`` onto ``quad`` of RGB ``dst`` (in place), working only inside the quad's bounding box."""
    h, w = src.shape[:2]
    box = polygon_clip_box(quad, dst.shape[1], dst.shape[0])
    if box is None:
        return
    x0, y0 = int(box[0]), int(box[1])
    x1, y1 = min(dst.shape[1], int(np.ceil(box[2])) + 1), min(dst.shape[0], int(np.ceil(box[3])) + 1)
    H = homography(design_corners(w, h), quad - [x0, y0])
    size = (x1 - x0, y1 - y0)
    warped = cv2.warpPerspective(src, cv2_matrix(H), size, flags=cv2.INTER_LINEAR)
    roi = dst[y0:y1, x0:x1]
    m3 = D.gray3(warped[..., 3])
    rgb = cv2.cvtColor(warped, cv2.COLOR_RGBA2RGB)
    roi[:] = cv2.add(cv2.multiply(roi, 255 - m3, scale=1 / 255), cv2.multiply(rgb, m3, scale=1 / 255))


def _random_quad(rng: np.random.Generator, imgsz: int, w: int, h: int, scale: float) -> np.ndarray:
    ang = rng.uniform(0, 2 * np.pi)
    c, s = np.cos(ang), np.sin(ang)
    pts = design_corners(w, h) - [w / 2, h / 2]
    pts = pts * scale @ np.array([[c, s], [-s, c]])
    pts += rng.normal(0, 0.04 * scale * max(w, h), pts.shape)
    return pts + rng.uniform(0, imgsz, 2)


def _paper_item(rng: np.random.Generator, kind: str) -> np.ndarray:
    return _paper_item_pooled(kind, int(rng.integers(PAPER_POOL)))


PAPER_POOL = 16


@lru_cache(maxsize=PAPER_POOL * 3)
def _paper_item_pooled(kind: str, index: int) -> np.ndarray:
    """A business card, receipt or sticky note with text (no payment-card features), opaque RGBA; pooled
    per process."""
    import random as _random

    rng = np.random.default_rng([0x9A, D.hash_kind(kind), index])
    rnd = _random.Random(index * 7919 + D.hash_kind(kind))
    if kind == "receipt":
        w, h = 220, 420
        col = D.hsv(0.1, 0.05, rng.uniform(0.85, 0.98))
    elif kind == "note":
        w, h = 240, 240
        col = D.hsv(rng.choice([0.15, 0.3, 0.9, 0.55]), 0.45, 0.95)
    else:  # business card (ID-1-like size: the hardest negative)
        w, h = 340, 200
        col = D.hsv(rng.random(), rng.uniform(0, 0.3), rng.uniform(0.7, 1.0))
    img = np.broadcast_to(col, (h, w, 3)).copy()
    ink = D.hsv(rng.random(), rng.uniform(0, 0.6), rng.uniform(0.05, 0.4))
    y = 28
    fk = "liberation_sans" if rnd.random() < 0.6 else "inconsolata"
    while y < h - 10:
        r = rnd.random()
        if r < 0.35:
            t = " ".join(random_digits(rnd, 4) for _ in range(rnd.randint(2, 4)))
        elif r < 0.55:
            t = phone_number(rnd)
        else:
            t = small_print(rnd, rnd.randint(2, 5))
        sz = rnd.randint(12, 26)
        D.draw_text(img, t[:40], fk, sz, 12, y, ink)
        y += int(sz * 1.5)
    return cv2.cvtColor((img * 255).astype(np.uint8), cv2.COLOR_RGB2RGBA)


def add_distractors(rng: np.random.Generator, img: np.ndarray, imgsz: int, n: int) -> list[str]:
    kinds = []
    for _ in range(n):
        kind = str(rng.choice(["business_card", "receipt", "note", "text"]))
        if kind == "text":
            import random as _random

            rnd = _random.Random(int(rng.integers(1 << 31)))
            t = " ".join(random_digits(rnd, 4) for _ in range(rnd.randint(2, 4))) if rnd.random() < 0.5 else small_print(rnd, 4)
            _draw_text_u8(img, t, "liberation_sans_bold", int(imgsz * rng.uniform(0.03, 0.07)),
                          int(rng.integers(0, imgsz // 2)), int(rng.integers(20, imgsz)), D.hsv(rng.random(), 0.5, rng.uniform(0, 1)))
        else:
            item = _paper_item(rng, "business" if kind == "business_card" else kind)
            scale = imgsz * rng.uniform(0.25, 0.7) / max(item.shape[:2])
            _paste_quad(img, item, _random_quad(rng, imgsz, item.shape[1], item.shape[0], scale))
        kinds.append(kind)
    return kinds


def _draw_text_u8(img: np.ndarray, text: str, font_key: str, size: int, x: int, baseline: int, color) -> None:
    """:func:`design.draw_text` onto a uint8 image, converting only the text's box to float."""
    m, ox, oy = D.text_mask(text, font_key, size)
    x0, y0 = max(0, x + ox), max(0, baseline + oy)
    x1, y1 = min(img.shape[1], x + ox + m.shape[1]), min(img.shape[0], baseline + oy + m.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    roi = img[y0:y1, x0:x1]
    f = roi.astype(np.float32) / 255
    D.draw_text(f, text, font_key, size, x - x0, baseline - y0, color)
    roi[:] = cv2.convertScaleAbs(f, alpha=255)


def draw_fingers(rng: np.random.Generator, img: np.ndarray, corners: np.ndarray, card_long: float) -> np.ndarray:
    """Fingers (shaded capsules) reaching over one card edge; returns their coverage mask (float32)."""
    h, w = img.shape[:2]
    e = int(rng.integers(4))
    a, b = corners[e], corners[(e + 1) % 4]
    centre = corners.mean(0)
    n = int(rng.integers(1, 4))
    width = card_long * rng.uniform(0.08, 0.13)
    t0 = rng.uniform(0.0, 1.0 - 0.15 * n)
    ends = []
    for i in range(n):
        p = a + (b - a) * (t0 + i * 0.16)
        inward = centre - p
        inward /= np.linalg.norm(inward) + 1e-9
        tip = p + inward * card_long * rng.uniform(0.05, 0.22)
        base = p - inward * card_long * 0.6
        ends.append(np.round([base, tip]).astype(int))
    mask = np.zeros((h, w), np.float32)
    # work in the fingers' bounding box, padded by the line half-width and the shade blur's reach
    blur = max(1.0, width * 0.3)
    pad = int(width / 2 + 4 * blur) + 4
    pts = np.concatenate(ends)
    x0, y0 = np.maximum(pts.min(0) - pad, 0)
    x1, y1 = np.minimum(pts.max(0) + pad + 1, (w, h))
    if x1 <= x0 or y1 <= y0:
        return mask
    cover = np.zeros((y1 - y0, x1 - x0), np.float32)
    shade = np.zeros_like(cover)
    for base, tip in ends:
        base, tip = tuple(base - (x0, y0)), tuple(tip - (x0, y0))
        cv2.line(cover, base, tip, 1.0, int(width), cv2.LINE_AA)
        cv2.line(shade, base, tip, 1.0, max(1, int(width * 0.4)), cv2.LINE_AA)
    if not cover.any():
        return mask
    skin = D.hsv(rng.uniform(0.02, 0.09), rng.uniform(0.25, 0.6), rng.uniform(0.35, 0.95)) * 255
    shade = cv2.GaussianBlur(shade, (0, 0), blur)
    col = skin[None, None] * (0.75 + 0.35 * shade[..., None])
    m = cv2.GaussianBlur(cover, (0, 0), 1.0)
    roi = img[y0:y1, x0:x1]
    roi[:] = np.clip(roi * (1 - m[..., None]) + col * m[..., None], 0, 255).astype(np.uint8)
    mask[y0:y1, x0:x1] = m
    return mask


# ------------------------------------------------------------------ lighting
def add_glare(rng: np.random.Generator, img: np.ndarray, alpha: np.ndarray, size: int) -> None:
    """A specular streak or hot spot on the card surface (inside the card outline only). ``img`` and ``alpha``
    may be any window of the scene holding the card; ``size`` (the scene width) scales the glare."""
    ys, xs = np.nonzero(alpha > 0.5)
    if not len(xs):
        return
    x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    img, alpha = img[y0:y1, x0:x1], alpha[y0:y1, x0:x1]
    xx = np.arange(x1 - x0, dtype=np.float32)[None, :]
    yy = np.arange(y1 - y0, dtype=np.float32)[:, None]
    i = int(rng.integers(len(xs)))
    cx, cy = np.float32(xs[i] - x0), np.float32(ys[i] - y0)
    ang = rng.uniform(0, np.pi)
    if rng.random() < 0.6:
        width = rng.uniform(0.01, 0.06) * size
        d = (xx - cx) * np.float32(np.cos(ang)) + (yy - cy) * np.float32(np.sin(ang))
        g = np.exp(-(d ** 2) / np.float32(2 * width ** 2))
    else:
        r = rng.uniform(0.03, 0.15) * size
        g = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / np.float32(2 * r ** 2))
    g *= alpha * np.float32(rng.uniform(0.4, 0.95))
    img[:] = cv2.convertScaleAbs(img + (255 - img.astype(np.float32)) * D.gray3(g))


def _composite_card(rng: np.random.Generator, region: np.ndarray, card: RenderedCard, H: np.ndarray, edge: float,
                    effects: bool) -> np.ndarray:
    """Warp ``card`` through ``H`` (card -> ``region`` pixels) onto ``region`` in place, with its soft shadow
    and uneven light; returns the card's coverage of ``region``."""
    size = (region.shape[1], region.shape[0])
    # alpha rides along as an 8-bit fourth channel: one warp instead of two (render_card's alpha is 8-bit anyway)
    rgba = cv2.merge([*cv2.split(card.image), cv2.convertScaleAbs(card.alpha, alpha=255)])
    warped = cv2.warpPerspective(rgba, cv2_matrix(H), size, flags=cv2.INTER_LINEAR)
    a = warped[..., 3] * np.float32(1 / 255)
    out = region.astype(np.float32)
    if effects and rng.random() < 0.7:  # soft shadow under the card
        k = max(3, int(edge * rng.uniform(0.01, 0.04)))
        off = np.int32(rng.integers(-k, k + 1, 2))
        sh = _wide_blur(np.roll(a, tuple(off), (1, 0)), k)
        out *= D.gray3(1 - np.float32(rng.uniform(0.3, 0.6)) * sh)
    face = cv2.cvtColor(warped, cv2.COLOR_RGBA2RGB).astype(np.float32)
    if effects and rng.random() < 0.25:  # uneven light across the card (a shadow edge)
        xx = np.arange(size[0], dtype=np.float32)[None, :]
        yy = np.arange(size[1], dtype=np.float32)[:, None]
        t = np.clip((xx * rng.uniform(-1, 1) + yy * rng.uniform(-1, 1)) / max(size) + rng.uniform(-0.3, 0.3), 0, 1)
        face *= D.gray3(1 - np.float32(rng.uniform(0.2, 0.5)) * t)
    a3 = D.gray3(a)
    region[:] = cv2.convertScaleAbs(out * (1 - a3) + face * a3)
    return a


def _wide_blur(m: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of a one-channel map; wide ones run on a downscaled copy (the result is smooth anyway)."""
    f = int(sigma // 4)
    if f < 2:
        return cv2.GaussianBlur(m, (0, 0), sigma)
    h, w = m.shape
    small = cv2.resize(m, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)
    return cv2.resize(cv2.GaussianBlur(small, (0, 0), sigma / f), (w, h), interpolation=cv2.INTER_LINEAR)


# ------------------------------------------------------------------ card placement
STEEP_TILT_DEG = 65.0     # the steepest tilt a card lying on a table is photographed at in realcards-dev-like photos
STEEP_TILT_SHARE = 0.25   # share of detector scenes (render_scene) with one axis tilted past tilt_deg
def place_card(rng: np.random.Generator, imgsz: int, card_w: int, card_h: int, scale_range: tuple[float, float],
               tilt_deg: float, inside: bool, rotation_deg: tuple[float, float] = (0.0, 360.0),
               steep_share: float = 0.0, steep_deg: float = STEEP_TILT_DEG) -> np.ndarray:
    """Destination corners (design order) of a card under 3-D tilt, any in-plane rotation and scale.

    ``steep_share`` of the cards get one axis tilted between ``tilt_deg`` and ``steep_deg``: a card
    lying on a table photographed at a grazing angle (no random draw is spent on it when 0)."""
    long_px = imgsz * float(np.exp(rng.uniform(np.log(scale_range[0]), np.log(scale_range[1]))))
    rx, ry = np.radians(rng.uniform(-tilt_deg, tilt_deg, 2))
    if steep_share and rng.random() < steep_share:
        steep = np.radians(rng.uniform(tilt_deg, steep_deg)) * (1 if rng.random() < 0.5 else -1)
        rx, ry = (steep, ry) if rng.random() < 0.5 else (rx, steep)
    rz = np.radians(rng.uniform(*rotation_deg))
    pts = design_corners(card_w, card_h) - [card_w / 2, card_h / 2]
    pts3 = np.hstack([pts / max(card_w, card_h), np.zeros((4, 1))])
    Rx = np.array([[1, 0, 0], [0, np.cos(rx), -np.sin(rx)], [0, np.sin(rx), np.cos(rx)]])
    Ry = np.array([[np.cos(ry), 0, np.sin(ry)], [0, 1, 0], [-np.sin(ry), 0, np.cos(ry)]])
    Rz = np.array([[np.cos(rz), -np.sin(rz), 0], [np.sin(rz), np.cos(rz), 0], [0, 0, 1]])
    p = pts3 @ (Rz @ Ry @ Rx).T
    f = rng.uniform(1.2, 3.0)  # focal length in card lengths: smaller = stronger perspective
    proj = p[:, :2] * f / (f + p[:, 2:3])
    proj *= long_px
    lo, hi = proj.min(0), proj.max(0)
    span = hi - lo
    if inside and (span <= imgsz * 0.98).all():
        cx = rng.uniform(-lo[0] + 1, imgsz - hi[0] - 1)
        cy = rng.uniform(-lo[1] + 1, imgsz - hi[1] - 1)
    else:
        cx, cy = rng.uniform(imgsz * 0.2, imgsz * 0.8, 2)
    return proj + [cx, cy]


def compose_scene(seed: int, index: int, imgsz: int = 640, *, negative: bool | None = None,
                  spec: CardSpec | None = None, scale_range: tuple[float, float] = (0.18, 1.3),
                  tilt_deg: float = 38.0, occluders: bool = True, inside_share: float = 0.8,
                  distractor_rate: float = 0.8, effects: bool = True, keep_masks: bool = False,
                  rotation_deg: tuple[float, float] = (0.0, 360.0), steep_share: float = 0.0) -> SceneSample:
    """One scene from ``(seed, index)``; every choice comes from per-sample generators."""
    rng, rnd = sample_rngs(seed, index, "scene")
    if negative is None:
        negative = False
    img, bg_kind = background(rng, imgsz)
    n_distr = int(rng.integers(1, 4)) if rng.random() < distractor_rate or negative else 0
    distractors = tuple(add_distractors(rng, img, imgsz, n_distr))
    if negative:
        if effects:
            img = photometric(img, sample_seed(seed, index, "photometric"))
        return SceneSample(img, None, None, None, None, None, bg_kind, False, distractors)
    if spec is None:
        spec = make_card_spec(seed, index)
    from cardlens.synth.geometry import card_size_px

    base_w, base_h = card_size_px(1000, spec.portrait)
    dst = place_card(rng, imgsz, base_w, base_h, scale_range, tilt_deg, rng.random() < inside_share, rotation_deg,
                     steep_share)
    edge = max(np.linalg.norm(dst[1] - dst[0]), np.linalg.norm(dst[2] - dst[3]),
               np.linalg.norm(dst[3] - dst[0]), np.linalg.norm(dst[2] - dst[1]))
    long_side = int(np.clip(np.ceil(edge * 1.15 / 32) * 32, 128, 1280))
    card = render_card(spec, long_side)
    cw, ch = card.size
    H = homography(design_corners(cw, ch), dst)
    box = polygon_clip_box(dst, imgsz, imgsz)
    full_alpha = np.zeros((imgsz, imgsz), np.float32)
    if box is not None:
        x0, y0 = int(np.floor(box[0])), int(np.floor(box[1]))
        x1, y1 = min(imgsz, int(np.ceil(box[2])) + 1), min(imgsz, int(np.ceil(box[3])) + 1)
        T = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64)
        region = img[y0:y1, x0:x1]
        a = _composite_card(rng, region, card, T @ H, edge, effects)
        full_alpha[y0:y1, x0:x1] = a
        if effects and rng.random() < 0.35:
            add_glare(rng, region, a, imgsz)
    occ = np.zeros((imgsz, imgsz), np.float32)
    occluded = False
    if occluders and rng.random() < 0.25:
        occ = draw_fingers(rng, img, dst, edge)
        occluded = bool(occ.any())
    vis = []
    for x, y in dst:
        if not (0 <= x <= imgsz and 0 <= y <= imgsz):
            vis.append(0)
            continue
        xi, yi = min(imgsz - 1, int(x)), min(imgsz - 1, int(y))
        ya, yb, xa, xb = max(0, yi - 2), yi + 3, max(0, xi - 2), xi + 3
        vis.append(1 if occ[ya:yb, xa:xb].max(initial=0) > 0.5 else 2)
    if effects:
        img = photometric(img, sample_seed(seed, index, "photometric"))
    return SceneSample(img, card, dst, tuple(vis), box, H, bg_kind, occluded, distractors,
                       full_alpha if keep_masks else None, occ if keep_masks else None)


def render_scene(seed: int, index: int, imgsz: int = 640, **kw) -> SceneSample:
    """A detector scene; ``negative=True`` gives one with no card. A quarter of the cards lie at a
    grazing angle (``STEEP_TILT_SHARE``)."""
    kw.setdefault("steep_share", STEEP_TILT_SHARE)
    return compose_scene(seed, index, imgsz, **kw)
