"""Reading and validating input images. Everything downstream gets contiguous uint8 BGR (H, W, 3)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from cardlens.errors import ImageError, UsageError

MIN_SIDE = 16
MAX_PIXELS = 100_000_000  # 100 MP: larger frames are refused rather than risking the memory
MAX_FILE_BYTES = 256 * 1024 * 1024
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file into uint8 BGR, with errors that name the file and what is wrong."""

    p = Path(path)
    try:
        if not p.exists():
            raise ImageError(f"image not found: {p}")
        if p.is_dir():
            raise ImageError(f"expected an image file but got a directory: {p}")
        size = p.stat().st_size
    except OSError as exc:  # a name too long, a permission denied on a parent folder…
        raise ImageError(f"cannot read image file {p}: {exc.strerror or exc}") from None
    if size == 0:
        raise ImageError(f"image file is empty: {p}")
    if size > MAX_FILE_BYTES:
        raise ImageError(f"image file is too large ({size} bytes > {MAX_FILE_BYTES}): {p}")
    try:
        data = np.fromfile(p, dtype=np.uint8)
    except OSError as exc:
        raise ImageError(f"cannot read image file {p}: {exc.strerror or exc}") from None
    return decode_image(data, name=str(p))


def decode_image(data: bytes | np.ndarray, name: str = "image bytes") -> np.ndarray:
    import cv2

    if isinstance(data, bytes | bytearray | memoryview):
        buf = np.frombuffer(data, dtype=np.uint8)
    elif isinstance(data, np.ndarray) and data.dtype == np.uint8:
        buf = np.ascontiguousarray(data).reshape(-1)
    else:
        raise ImageError(f"{name}: encoded image data must be bytes or a uint8 array, got {type(data).__name__}")
    if buf.size == 0:
        raise ImageError(f"{name}: no data")
    _check_header_size(buf, name)  # refuse absurd dimensions before decoding allocates them
    try:
        img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    except cv2.error:  # OpenCV's own limits (e.g. more than 2**30 pixels) raise instead of returning None
        img = None
    if img is None:
        raise ImageError(f"{name}: not a readable image (unsupported format, corrupt or truncated file)")
    return to_bgr(img, name=name)


def _check_header_size(buf: np.ndarray, name: str) -> None:
    """Read the width and height from the file header (Pillow parses headers lazily) and refuse images
    over ``MAX_PIXELS`` without decoding them: a few hundred KB of PNG can otherwise inflate to GBs."""
    import io
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(buf.tobytes())) as im:
                w, h = im.size
    except Image.DecompressionBombError:
        raise ImageError(f"{name}: the image is larger than {MAX_PIXELS // 1_000_000} MP; downscale it first") from None
    except Exception:  # not a format Pillow knows, or a broken header: OpenCV decides below
        return
    if w * h > MAX_PIXELS:
        raise ImageError(f"{name}: {w}x{h} px is larger than {MAX_PIXELS // 1_000_000} MP; downscale it first")


def to_bgr(image: object, name: str = "image", color: str = "bgr", min_side: int = MIN_SIDE) -> np.ndarray:
    """Validate an in-memory image and convert it to contiguous uint8 BGR.

    ``min_side``: the smallest side accepted — a card needs ``MIN_SIDE`` px; a text line crop fewer.

    Accepts (H, W), (H, W, 1), (H, W, 3) and (H, W, 4) arrays of uint8, uint16 or float (0–1 or
    0–255). ``color`` says whether 3/4-channel input is ``"bgr"`` (OpenCV) or ``"rgb"`` (PIL, most
    camera APIs).
    """
    import cv2

    if image is None:
        raise ImageError(f"{name}: got None instead of an image")
    if not isinstance(image, np.ndarray):
        try:
            from PIL import Image
        except ImportError:  # pragma: no cover - pillow is a core dependency
            Image = None
        if Image is not None and isinstance(image, Image.Image):
            if image.width * image.height > MAX_PIXELS:
                raise ImageError(f"{name}: {image.width}x{image.height} px is larger than "
                                 f"{MAX_PIXELS // 1_000_000} MP; downscale it first")
            try:
                rgb = np.asarray(image.convert("RGB"))
            except (ValueError, OSError) as exc:  # modes Pillow cannot convert (e.g. "La"), broken image data
                raise ImageError(f"{name}: cannot convert a PIL {image.mode!r} image to RGB ({exc})") from None
            return to_bgr(rgb, name=name, color="rgb", min_side=min_side)
        raise ImageError(f"{name}: expected a numpy array, a PIL image or a file path, got {type(image).__name__}")
    if color not in ("bgr", "rgb"):
        raise UsageError(f"color must be 'bgr' or 'rgb', not {color!r}")
    arr = image
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ImageError(f"{name}: expected shape (H, W), (H, W, 3) or (H, W, 4), got {arr.shape}")
    h, w = arr.shape[:2]
    if min(h, w) < min_side:
        what = "to hold a card" if min_side == MIN_SIDE else "to read"
        raise ImageError(f"{name}: {w}x{h} px is too small {what} (need at least {min_side} px a side)")
    if h * w > MAX_PIXELS:
        raise ImageError(f"{name}: {w}x{h} px is larger than {MAX_PIXELS // 1_000_000} MP; downscale it first")
    arr = _to_uint8(arr, name)
    if arr.ndim == 2:
        return cv2.cvtColor(arr, cv2.COLOR_GRAY2BGR)
    if arr.shape[2] == 4:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGBA2BGR if color == "rgb" else cv2.COLOR_BGRA2BGR)
    elif color == "rgb":
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    return np.ascontiguousarray(arr)


def _to_uint8(arr: np.ndarray, name: str) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise ImageError(f"{name}: float image contains NaN or infinite values")
        scale = 255.0 if arr.max(initial=0.0) <= 1.0 else 1.0
        return np.clip(arr * scale, 0, 255).round().astype(np.uint8)
    if arr.dtype == np.uint16:
        return (arr >> 8).astype(np.uint8)
    if np.issubdtype(arr.dtype, np.integer):
        return np.clip(arr, 0, 255).astype(np.uint8)
    raise ImageError(f"{name}: unsupported pixel type {arr.dtype}")


def load_image(source: object, color: str = "bgr") -> np.ndarray:
    """A file path, encoded bytes, PIL image or array → validated uint8 BGR image."""
    if isinstance(source, str | os.PathLike):
        return read_image(source)
    if isinstance(source, bytes | bytearray):
        return decode_image(bytes(source))
    return to_bgr(source, color=color)
