"""``FieldLocator``: where the number (and its groups), expiry and name are on the rectified card.

letterbox → network (ONNX Runtime or torch) → :func:`decode_detect` (numpy, shared by every runtime).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cardlens.detector.postprocess import decode_detect
from cardlens.detector.preprocess import spec_input
from cardlens.detector.runtime import open_model_folder, torch_runner
from cardlens.imageio import load_image
from cardlens.modelspec import ModelSpec

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


class FieldLocator:
    def __init__(self, spec: ModelSpec, run, runtime: str):
        self.spec = spec
        self._run = run
        self.runtime = runtime

    @classmethod
    def load(cls, folder: str | Path | None = None, runtime: str = "onnx", threads: int | None = None,
             verify: bool = True) -> FieldLocator:
        folder = Path(folder) if folder else DEFAULT_LOCATOR
        spec, run, used = open_model_folder(folder, runtime, threads, verify, "field-detect", "field locator")
        return cls(spec, torch_runner(run, threads) if used == "torch" else run, used)

    def locate(self, card: object, conf: float | None = None, color: str = "bgr") -> list[FieldBox]:
        """Field boxes on an upright rectified card image, best first."""
        img = load_image(card, color=color)
        s = self.spec
        x, lb = spec_input(img, s)
        raw = self._run(x)
        t = s.thresholds
        found = decode_detect(raw, lb, tuple(s.labels), t.get("conf", 0.25) if conf is None else conf,
                              t.get("iou", 0.5), t.get("max_det", 40))
        return [FieldBox(kind, box, score) for kind, box, score in found]

