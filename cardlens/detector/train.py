"""``cardlens train detector``: the card detector's recipe for :mod:`cardlens.training.yolo`."""

from __future__ import annotations

from pathlib import Path

from cardlens.detector.types import CORNER_ORDER
from cardlens.modelspec import ModelSpec
from cardlens.training.yolo import (  # noqa: F401  (re-exported: the detector's training API)
    DetectorTrainConfig,
    DetectorTrainResult,
    YoloRecipe,
    export_only,
    export_onnx,
    train_yolo,
)

ARCH = Path(__file__).resolve().parent / "arch" / "card-pose.yaml"

DETECTOR_DEFAULTS = dict(
    mosaic=0.5,        # some 4-up tiles teach small cards; not every batch
    close_mosaic=3,
)


# with the card verifier (cardlens.detector.verifier) the detector takes weaker boxes: it drops the false ones
CONF_VERIFIED = 0.1


def detector_spec(imgsz: int, scale: str, conf: float = 0.25, iou: float = 0.5) -> ModelSpec:
    return ModelSpec(
        name=f"card-detector-{scale}",
        task="card-pose",
        input_size=(imgsz, imgsz),
        input_name="images",
        labels=("card",),
        keypoints=CORNER_ORDER,
        output_names=("output0",),
        output_format="yolo-pose-raw: (1, 5+3K, N) = cx, cy, w, h, score (sigmoid), K x (x, y, vis) in input px",
        thresholds={"conf": conf, "conf_verified": CONF_VERIFIED, "iou": iou, "max_det": 10},
    )


DETECTOR_RECIPE = YoloRecipe(kind="detector", task="pose", arch=ARCH, spec=detector_spec, defaults=DETECTOR_DEFAULTS)


def train_detector(cfg: DetectorTrainConfig) -> DetectorTrainResult:
    return train_yolo(DETECTOR_RECIPE, cfg)
