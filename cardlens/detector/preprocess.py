"""Detector pre-processing (numpy + OpenCV only; shared by every runtime)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Letterbox:
    """How an image was fitted into the network input: ``input = image * scale + (pad_x, pad_y)``."""

    scale: float
    pad_x: float
    pad_y: float
    input_size: tuple[int, int]   # (height, width)
    image_size: tuple[int, int]   # (height, width)

    def to_image(self, xy: np.ndarray) -> np.ndarray:
        """Map (..., 2) input-pixel coordinates back to the original image."""
        out = np.asarray(xy, dtype=np.float32).copy()
        out[..., 0] = (out[..., 0] - self.pad_x) / self.scale
        out[..., 1] = (out[..., 1] - self.pad_y) / self.scale
        return out


def letterbox(image_bgr: np.ndarray, input_size: tuple[int, int], pad_value: int = 114) -> tuple[np.ndarray, Letterbox]:
    """Resize keeping aspect, pad to ``input_size``; return the padded BGR uint8 image and the mapping."""
    import cv2

    ih, iw = image_bgr.shape[:2]
    h, w = input_size
    r = min(h / ih, w / iw)
    nw, nh = max(1, int(round(iw * r))), max(1, int(round(ih * r)))
    resized = cv2.resize(image_bgr, (nw, nh), interpolation=cv2.INTER_AREA if r < 1 else cv2.INTER_LINEAR)
    left, top = (w - nw) // 2, (h - nh) // 2
    out = np.full((h, w, 3), pad_value, dtype=np.uint8)
    out[top:top + nh, left:left + nw] = resized
    return out, Letterbox(r, float(left), float(top), (h, w), (ih, iw))


def to_input_tensor(image_bgr: np.ndarray, color: str = "RGB", scale: float = 1 / 255.0,
                    mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), layout: str = "NCHW") -> np.ndarray:
    """uint8 BGR (H, W, 3) → float32 batch of one in the spec's colour order, scaling and layout."""
    img = image_bgr[:, :, ::-1] if color.upper() == "RGB" else image_bgr
    x = img.astype(np.float32) * np.float32(scale)
    if any(mean) or any(s != 1.0 for s in std):
        x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    if layout.upper() == "NCHW":
        x = x.transpose(2, 0, 1)
    return np.ascontiguousarray(x[None])


def spec_input(image_bgr: np.ndarray, spec) -> tuple[np.ndarray, Letterbox]:
    """A YOLO model's network input for ``image_bgr`` as its :class:`ModelSpec` describes it, and the
    letterbox mapping back to the image."""
    padded, lb = letterbox(image_bgr, tuple(spec.input_size), spec.pad_value)
    return to_input_tensor(padded, spec.color, spec.scale, spec.mean, spec.std, spec.layout), lb
