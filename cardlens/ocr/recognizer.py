"""``TextRecognizer``: line crop → per-frame character probabilities (ONNX Runtime or torch).

Pre-processing (:mod:`cardlens.ocr.line_preprocess`) and decoding (:mod:`cardlens.ocr.ctc`) are numpy
and shared by every runtime; this class only runs the network.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cardlens.detector.runtime import open_model_folder
from cardlens.errors import ModelError, require
from cardlens.ocr.charset import CHARSET
from cardlens.ocr.ctc import softmax
from cardlens.ocr.line_preprocess import line_tensor

DEFAULT_RECOGNIZER = Path(__file__).resolve().parent.parent / "models" / "text-recognizer"


def _torch_line_runner(path: Path, threads: int | None):
    torch = require("torch", "train")
    from cardlens.ocr.recognizer_net import LineRecognizer

    if threads:
        torch.set_num_threads(int(threads))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model = LineRecognizer(width=float(state["width"]))
        model.load_state_dict(state["state_dict"])
    except Exception as exc:
        raise ModelError(f"cannot load recognizer weights {path}: {str(exc).splitlines()[0][:200]}") from None
    model.eval()

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(x)).numpy()

    return run


class TextRecognizer:
    def __init__(self, spec, run, runtime: str):
        if spec.charset != CHARSET:
            raise ModelError(f"{spec.name}: charset differs from this cardlens version's; retrain or upgrade")
        self.spec = spec
        self._run = run
        self.runtime = runtime

    @classmethod
    def load(cls, folder: str | Path | None = None, runtime: str = "onnx", threads: int | None = None,
             verify: bool = True) -> TextRecognizer:
        folder = Path(folder) if folder else DEFAULT_RECOGNIZER
        spec, run, used = open_model_folder(folder, runtime, threads, verify, "line-ctc", "text recognizer")
        return cls(spec, _torch_line_runner(run, threads) if used == "torch" else run, used)

    def probabilities(self, crop: object, color: str = "bgr") -> np.ndarray:
        """``(T, C)`` per-frame class probabilities for one line crop (frames past the text dropped)."""
        h, w = self.spec.input_size
        x, used = line_tensor(crop, h, w, color=color)
        logits = np.asarray(self._run(x), dtype=np.float32)[0]      # (T, C)
        frames = logits.shape[0]
        keep = min(frames, int(np.ceil(used / (w / frames))) + 2)   # a little of the padding: trailing blanks
        return softmax(logits[:keep])
