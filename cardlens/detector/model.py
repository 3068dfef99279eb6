"""``CardDetector``: letterbox → network (ONNX Runtime or torch) → decode + NMS → corners in design order."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cardlens.detector.postprocess import decode_pose
from cardlens.detector.preprocess import spec_input
from cardlens.detector.refine import refined
from cardlens.detector.runtime import RawRunner, open_model_folder, torch_runner
from cardlens.detector.types import CardDetection
from cardlens.errors import ModelError
from cardlens.geometry import rectify
from cardlens.imageio import load_image
from cardlens.modelspec import ModelSpec

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
DEFAULT_DETECTOR = MODELS_DIR / "card-detector"


class CardDetector:
    """Finds cards and their four corners. Per-call thresholds never change the detector's defaults."""

    def __init__(self, spec: ModelSpec, run: RawRunner, runtime: str):
        if spec.task != "card-pose":
            raise ModelError(f"{spec.name} is a {spec.task!r} model, not a card detector")
        self.spec = spec
        self._run = run
        self.runtime = runtime
        self.__name__ = f"{spec.name}[{runtime}]"  # shown as the scanner's engine

    @classmethod
    def load(cls, model_dir: str | Path | None = None, runtime: str = "onnx", threads: int | None = None,
             verify: bool = True) -> CardDetector:
        """Load a detector folder (``spec.json`` + ``model.onnx`` / ``model.pt``), checking sha256."""
        folder = Path(model_dir) if model_dir else DEFAULT_DETECTOR
        spec, run, used = open_model_folder(folder, runtime, threads, verify, "card-pose", "card detector")
        return cls(spec, torch_runner(run, threads) if used == "torch" else run, used)

    def detect(self, image: object, conf: float | None = None, iou: float | None = None,
               max_det: int | None = None, color: str = "bgr", refine: bool = True) -> list[CardDetection]:
        """All cards in ``image`` (path, bytes, PIL or array; arrays are BGR unless ``color="rgb"``).

        ``refine`` fits each card's edges near the network's corners (:mod:`cardlens.detector.refine`)."""
        img = load_image(image, color=color)
        s = self.spec
        x, lb = spec_input(img, s)
        raw = self._run(x)
        t = s.thresholds
        found = decode_pose(raw, lb, len(s.keypoints), t.get("conf", 0.25) if conf is None else conf,
                            t.get("iou", 0.5) if iou is None else iou, t.get("max_det", 10) if max_det is None else max_det)
        return [refined(img, d) for d in found] if refine else found

    def __call__(self, image: np.ndarray) -> CardDetection | None:
        """The most confident card, or None (the scanner's locator interface)."""
        found = self.detect(image)
        return found[0] if found else None

    @staticmethod
    def rectify(image: np.ndarray, detection: CardDetection, landscape_width: int = 856) -> np.ndarray:
        """Upright card image: landscape 1.586:1 or portrait, as the design's first edge says."""
        from cardlens.geometry import rectified_size

        return rectify(image, detection.corners, rectified_size(detection.corners, landscape_width))
