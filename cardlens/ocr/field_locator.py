"""``FieldLocator``: where the number (and its groups), expiry and name are on the rectified card.

letterbox → network (ONNX Runtime or torch) → :func:`decode_detect` (numpy, shared by every runtime).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cardlens.detector.postprocess import decode_detect
from cardlens.detector.preprocess import letterbox, to_input_tensor
from cardlens.detector.runtime import artifact_runner, torch_runner
from cardlens.errors import ModelError
from cardlens.imageio import load_image
from cardlens.modelspec import ModelSpec, verify_file

DEFAULT_LOCATOR = Path(__file__).resolve().parent.parent / "models" / "field-locator"


@dataclass(frozen=True)
class FieldBox:
    kind: str                                 # "number" | "number_group" | "expiry" | "name"
    box: tuple[float, float, float, float]    # xyxy in rectified-card pixels
    confidence: float

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def cy(self) -> float:
        return (self.box[1] + self.box[3]) / 2

    def to_dict(self) -> dict:
        return {"kind": self.kind, "box": [round(v, 1) for v in self.box], "confidence": round(self.confidence, 4)}


def load_model_folder(folder: Path, runtime: str, threads: int | None, verify: bool, task: str, what: str):
    """(spec, raw runner) for a cardlens model folder; checks sha256 and the embedded spec's task."""
    spec_path = folder / "spec.json"
    if not spec_path.is_file():
        raise ModelError(f"no {what} at {folder} (spec.json missing)")
    spec = ModelSpec.load(spec_path)
    if spec.task != task:
        raise ModelError(f"{folder} holds a {spec.task!r} model, not a {what} ({task!r})")
    if runtime in ("onnx", "tflite", "auto"):
        path = folder / spec.weights
        if verify:
            verify_file(path, spec.sha256)
        run, embedded = artifact_runner(path, threads)
        if embedded is not None and (embedded.task, tuple(embedded.input_size)) != (spec.task, tuple(spec.input_size)):
            raise ModelError(f"{path}: the spec inside the model does not match {spec_path}; re-export the model")
        return spec, run
    if runtime == "torch":
        pt = spec.extra.get("torch_weights")
        if not pt:
            raise ModelError(f"{folder} ships no torch weights")
        if verify:
            verify_file(folder / pt, spec.extra.get("torch_sha256", ""))
        return spec, folder / pt
    raise ValueError(f"unknown runtime {runtime!r}: use 'onnx', 'tflite', 'auto' (by file) or 'torch'")


class FieldLocator:
    def __init__(self, spec: ModelSpec, run, runtime: str):
        self.spec = spec
        self._run = run
        self.runtime = runtime

    @classmethod
    def load(cls, folder: str | Path | None = None, runtime: str = "onnx", threads: int | None = None,
             verify: bool = True) -> FieldLocator:
        folder = Path(folder) if folder else DEFAULT_LOCATOR
        spec, run = load_model_folder(folder, runtime, threads, verify, "field-detect", "field locator")
        if runtime == "torch":
            run = torch_runner(run, threads)
        return cls(spec, run, runtime)

    def locate(self, card: object, conf: float | None = None, color: str = "bgr") -> list[FieldBox]:
        """Field boxes on an upright rectified card image, best first."""
        img = load_image(card, color=color)
        s = self.spec
        padded, lb = letterbox(img, tuple(s.input_size), s.pad_value)
        x = to_input_tensor(padded, s.color, s.scale, s.mean, s.std, s.layout)
        raw = self._run(x)
        t = s.thresholds
        found = decode_detect(raw, lb, tuple(s.labels), t.get("conf", 0.25) if conf is None else conf,
                              t.get("iou", 0.5), t.get("max_det", 40))
        return [FieldBox(kind, box, score) for kind, box, score in found]


def boxes_array(boxes: list[FieldBox]) -> np.ndarray:
    return np.array([b.box for b in boxes], dtype=np.float64).reshape(-1, 4)
