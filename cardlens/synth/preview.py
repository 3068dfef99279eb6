"""Contact sheet of samples with their labels drawn (card box, corners in order, field boxes)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from cardlens.cardrules import mask_pan

CORNER_COLOURS = ((255, 60, 60), (60, 220, 60), (60, 120, 255), (255, 220, 0))  # TL, TR, BR, BL


@dataclass(frozen=True)
class PreviewSummary:
    path: str
    n: int
    elapsed_s: float

    def to_dict(self) -> dict:
        return {"kind": "preview", "path": self.path, "n": self.n, "elapsed_s": self.elapsed_s}


def _draw_scene(s, tile: int) -> np.ndarray:
    im = s.image.copy()
    if s.box is not None:
        x1, y1, x2, y2 = (int(round(v)) for v in s.box)
        cv2.rectangle(im, (x1, y1), (x2, y2), (255, 255, 255), 2)
        for k, ((x, y), v) in enumerate(zip(s.corners, s.visibility, strict=True)):
            if v:
                cv2.circle(im, (int(x), int(y)), 7, CORNER_COLOURS[k], 2 if v == 2 else 1, cv2.LINE_AA)
                cv2.putText(im, str(k), (int(x) + 6, int(y) - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.6, CORNER_COLOURS[k], 2)
        sp = s.card.spec
        caption = f"{sp.text.brand} {sp.side} {sp.orientation} {sp.print_style}"
    else:
        caption = "negative (no card)"
    im = cv2.resize(im, (tile, tile), interpolation=cv2.INTER_AREA)
    cv2.rectangle(im, (0, tile - 22), (tile, tile), (0, 0, 0), -1)
    cv2.putText(im, caption, (4, tile - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return im


def _draw_rectified(rc, tile: int) -> np.ndarray:
    im = rc.image.copy()
    colours = {"number": (255, 0, 0), "number_group": (255, 160, 0), "expiry": (0, 200, 0), "name": (0, 120, 255)}
    for kind, _text, (x1, y1, x2, y2), _f in rc.fields:
        cv2.rectangle(im, (int(x1), int(y1)), (int(x2), int(y2)), colours[kind], 1 if kind == "number_group" else 2)
    h, w = im.shape[:2]
    s = tile / max(h, w)
    im = cv2.resize(im, (int(w * s), int(h * s)), interpolation=cv2.INTER_AREA)
    out = np.full((tile, tile, 3), 40, np.uint8)
    out[:im.shape[0], :im.shape[1]] = im
    num = next((t for k, t, _b, _f in rc.fields if k == "number"), "")
    sp = rc.sample.card.spec
    cap = f"{mask_pan(num.replace(' ', ''))} {sp.text.luhn_label} {sp.text.expiry}" if num else ""
    cv2.putText(out, cap, (4, tile - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def write_preview(path, seed: int = 0, n: int = 16, tile: int = 320, cols: int = 4) -> PreviewSummary:
    """A PNG contact sheet: detector scenes (box + numbered corners) then rectified cards (field boxes)."""
    from cardlens.synth.scene import render_scene
    from cardlens.synth.writers import rectified_card

    t0 = time.perf_counter()
    tiles = []
    n_rect = max(1, n // 4)
    for i in range(n - n_rect):
        tiles.append(_draw_scene(render_scene(seed, i, 640, negative=(i % 11 == 10)), tile))
    for i in range(n_rect):
        tiles.append(_draw_rectified(rectified_card(seed, 10_000 + i), tile))
    while len(tiles) % cols:
        tiles.append(np.zeros((tile, tile, 3), np.uint8))
    sheet = np.vstack([np.hstack(tiles[i:i + cols]) for i in range(0, len(tiles), cols)])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    path.write_bytes(buf.tobytes())
    return PreviewSummary(str(path), n, round(time.perf_counter() - t0, 3))
