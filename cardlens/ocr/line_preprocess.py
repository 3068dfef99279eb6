"""Line crop → network input (numpy only, shared by every runtime).

Grayscale, resized to the input height keeping the aspect ratio (squeezed horizontally only when the
line is wider than the input), right-padded with the line's own median grey, scaled to [0, 1].
"""

from __future__ import annotations

import cv2
import numpy as np

from cardlens.imageio import load_image, to_bgr

MIN_LINE_SIDE = 4  # a name line on a small rectified card can be 15 px tall: under a card's minimum


def line_tensor(crop: object, height: int, width: int, color: str = "bgr", pad_to_width: bool = True) -> tuple[np.ndarray, int]:
    """``(1, 1, height, W)`` float32 and the width in pixels the text occupies before padding."""
    img = to_bgr(crop, name="line crop", color=color, min_side=MIN_LINE_SIDE) if isinstance(crop, np.ndarray) \
        else load_image(crop, color=color)
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY if color == "rgb" else cv2.COLOR_BGR2GRAY)
    h, w = gray.shape
    new_w = max(1, min(width, int(round(w * height / h))))
    resized = cv2.resize(gray, (new_w, height), interpolation=cv2.INTER_AREA if h > height else cv2.INTER_LINEAR)
    out_w = width if pad_to_width else max(new_w, 16)
    canvas = np.full((height, out_w), float(np.median(resized)), dtype=np.float32)
    canvas[:, :new_w] = resized
    return (canvas / 255.0)[None, None], new_w
