"""``cardlens train fields``: the field locator's recipe for :mod:`cardlens.training.yolo`.

The locator sees the rectified upright card (``cardlens synth fields``), so the scene-level
augmentations the detector needs (mosaic, big scale changes) would only teach it cards it never sees.
"""

from __future__ import annotations

from pathlib import Path

from cardlens.modelspec import ModelSpec
from cardlens.synth.writers import FIELD_CLASSES
from cardlens.training.yolo import YoloRecipe, YoloTrainConfig, YoloTrainResult, train_yolo

ARCH = Path(__file__).resolve().parent / "arch" / "card-fields.yaml"

FIELDS_DEFAULTS = dict(
    mosaic=0.0,
    close_mosaic=0,
    scale=0.15,        # the rectified card always fills the frame; only corner error changes its scale
    translate=0.04,
)


def fields_spec(imgsz: int, scale: str, conf: float = 0.25, iou: float = 0.5) -> ModelSpec:
    return ModelSpec(
        name=f"card-fields-{scale}",
        task="field-detect",
        input_size=(imgsz, imgsz),
        input_name="images",
        labels=FIELD_CLASSES,
        output_names=("output0",),
        output_format="yolo-detect-raw: (1, 4+C, N) = cx, cy, w, h, C class scores (sigmoid) in input px",
        thresholds={"conf": conf, "iou": iou, "max_det": 40},
    )


FIELDS_RECIPE = YoloRecipe(kind="fields", task="detect", arch=ARCH, spec=fields_spec, defaults=FIELDS_DEFAULTS)


def train_fields(cfg: YoloTrainConfig) -> YoloTrainResult:
    return train_yolo(FIELDS_RECIPE, cfg)
