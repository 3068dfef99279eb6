"""A synthetic test video for the demo: a card moves and turns, leaves, and a second card enters.

Both cards are rendered by the data engine (flat-printed, Luhn-valid numbers); the frames are a pure
function of the seed. Returns the two cards' numbers so tests can check the session's answers.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from cardlens.synth.geometry import card_size_px


def _card(seed: int, index: int):
    from cardlens.synth.render import make_card_spec, render_card

    spec = make_card_spec(seed, index, side="front", number_on="front", orientation="landscape",
                          print_style="flat", specimen=False, number_layout="line", design="gradient")
    card = render_card(spec, 640)
    bgr = cv2.cvtColor(card.image, cv2.COLOR_RGB2BGR)
    return bgr, card.alpha, spec.text.pan


def _place(frame: np.ndarray, card: np.ndarray, alpha: np.ndarray, center, width: float, angle: float) -> None:
    h, w = card.shape[:2]
    cw, ch = card_size_px(int(width))
    a = np.radians(angle)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    local = np.array([[-cw / 2, -ch / 2], [cw / 2, -ch / 2], [cw / 2, ch / 2], [-cw / 2, ch / 2]])
    dst = (local @ rot.T + np.asarray(center)).astype(np.float32)
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    H = cv2.getPerspectiveTransform(src, dst)
    size = (frame.shape[1], frame.shape[0])
    warped = cv2.warpPerspective(card, H, size, flags=cv2.INTER_AREA)
    cover = cv2.warpPerspective(alpha.astype(np.float32), H, size)[..., None]
    frame[:] = (frame * (1 - cover) + warped * cover).astype(np.uint8)


def synthetic_frames(seed: int = 0, size: tuple[int, int] = (640, 480), n_first: int = 24, n_gap: int = 8,
                     n_second: int = 24):
    """Yield BGR frames; the plan: card A (moving, turning), no card, card B entering and settling."""
    w, h = size
    rng = np.random.default_rng(seed)
    base = np.full((h, w, 3), 0, np.uint8)
    base[:] = (rng.integers(40, 90), rng.integers(50, 100), rng.integers(60, 110))
    base = cv2.GaussianBlur((base + rng.normal(0, 6, base.shape)).clip(0, 255).astype(np.uint8), (5, 5), 0)
    card_a, alpha_a, _ = _card(seed, 1)
    card_b, alpha_b, _ = _card(seed, 2)
    for i in range(n_first):
        f = base.copy()
        _place(f, card_a, alpha_a, (w / 2 + 25 * np.sin(i / 5), h / 2 + 10 * np.cos(i / 7)), 0.78 * w, 8 * np.sin(i / 6))
        yield f
    for _ in range(n_gap):
        yield base.copy()
    for i in range(n_second):
        f = base.copy()
        x = w / 2 + max(0.0, (8 - i)) * 0.1 * w  # slides in from the right, then holds
        _place(f, card_b, alpha_b, (x, h / 2), 0.78 * w, -5 + 4 * np.cos(i / 5))
        yield f


def write_synthetic_video(path: str | Path, seed: int = 0, fps: float = 10.0, **kw) -> tuple[str, str]:
    """Write the video (mp4v) and return the two cards' numbers (first, second)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    for frame in synthetic_frames(seed, **kw):
        if writer is None:
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (frame.shape[1], frame.shape[0]))
        writer.write(frame)
    writer.release()
    return _card(seed, 1)[2], _card(seed, 2)[2]
