"""``cardlens train detector``: ultralytics YOLO-pose training with cardlens' defaults.

Offline and silent (see :mod:`cardlens.offline`), seeded, from scratch (no pretrained weights exist
here), resumable (``resume=True`` continues ``<out>/run/weights/last.pt``), and finished by packaging:
``model.pt`` + ``model.onnx`` + ``spec.json`` + ``MODEL_CARD.md`` in ``<out>``.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cardlens.detector.types import CORNER_ORDER
from cardlens.errors import CardlensError
from cardlens.logs import get_logger
from cardlens.modelspec import METADATA_KEY, ModelSpec, sha256_of

log = get_logger(__name__)
ARCH = Path(__file__).resolve().parent / "arch" / "card-pose.yaml"

# Deliberate departures from ultralytics' defaults, and why:
TRAIN_DEFAULTS = dict(
    fliplr=0.0,        # a mirrored card never reaches a camera, and it would swap the ordered corners
    flipud=0.0,
    degrees=0.0,       # rotation, perspective and scale come from the generator with exact corners
    mosaic=0.5,        # some 4-up tiles teach small cards; not every batch
    close_mosaic=3,
    pretrained=False,  # from scratch: no pretrained weights can be loaded here
    amp=False,         # CPU
    plots=False,       # also avoids font lookups
    val=True,
    cache=False,
    deterministic=True,
    verbose=False,
    optimizer="AdamW",
    lr0=0.002,
    cos_lr=True,
    patience=0,
)


@dataclass(frozen=True)
class DetectorTrainConfig:
    data: str                      # dataset YAML (cardlens synth detector)
    out: str                       # output folder for the packaged model
    scale: str = "t"               # arch scale in card-pose.yaml
    imgsz: int = 320
    epochs: int = 30
    batch: int = 32
    seed: int = 0
    workers: int = 2
    threads: int | None = None
    resume: bool = False
    init: str | None = None        # start from these cardlens detector weights instead of random init
    device: str = "cpu"
    overrides: dict = field(default_factory=dict)


@dataclass(frozen=True)
class DetectorTrainResult:
    out: str
    weights: str
    onnx: str
    spec: str
    epochs: int
    seconds: float
    metrics: dict


def _ultralytics_model(scale: str, workdir: Path, init: str | None = None):
    from cardlens.offline import import_ultralytics

    import_ultralytics()
    from ultralytics import YOLO

    if init:  # our own earlier weights: a continued run (still nothing pretrained elsewhere)
        return YOLO(str(init), task="pose")
    # ultralytics picks the scale from the file name suffix (card-pose-t.yaml → scale 't').
    cfg = workdir / f"card-pose-{scale}.yaml"
    shutil.copyfile(ARCH, cfg)
    return YOLO(str(cfg), task="pose")


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
        thresholds={"conf": conf, "iou": iou, "max_det": 10},
    )


def export_onnx(pt_path: Path, spec: ModelSpec, out_path: Path, opset: int = 17) -> Path:
    """Raw one-to-many output (1, 5+3K, N), no embedded NMS/top-k: our numpy post-processing is the
    contract for every runtime. (``nms=False`` would select the end-to-end head instead.)"""
    from cardlens.errors import require
    from cardlens.offline import import_ultralytics

    import_ultralytics()
    from ultralytics import YOLO

    onnx = require("onnx", "export")
    exported = YOLO(str(pt_path)).export(format="onnx", imgsz=list(spec.input_size), opset=opset, simplify=True,
                                         dynamic=False, nms=None, half=False, device="cpu", verbose=False)
    model = onnx.load(str(exported))
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, spec.to_json()
    if Path(exported).resolve() != Path(out_path).resolve():
        Path(exported).unlink(missing_ok=True)
    onnx.save(model, str(out_path))
    return out_path


def train_detector(cfg: DetectorTrainConfig) -> DetectorTrainResult:
    out = Path(cfg.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    data = Path(cfg.data).resolve()
    if not data.is_file():
        raise CardlensError(f"dataset YAML not found: {data} (make one with: cardlens synth detector --out DIR)")
    _set_training_threads(cfg.threads)
    t0 = time.time()
    run_dir = out / "run"
    last = run_dir / "weights" / "last.pt"
    if cfg.resume and last.is_file():
        from ultralytics import YOLO

        _ultralytics_model(cfg.scale, out)  # sets up the offline environment
        model = YOLO(str(last))
        model.add_callback("on_fit_epoch_end", _progress_printer(t0))
        model.train(resume=True)
    else:
        if cfg.resume:
            log.warning("nothing to resume at %s; starting a new run", last)
        model = _ultralytics_model(cfg.scale, out, init=cfg.init)
        model.add_callback("on_fit_epoch_end", _progress_printer(t0))
        params = {**TRAIN_DEFAULTS, **cfg.overrides}
        if cfg.init:  # ultralytics drops the loaded weights when pretrained=False
            params["pretrained"] = True
        model.train(data=str(data), epochs=cfg.epochs, imgsz=cfg.imgsz, batch=cfg.batch, seed=cfg.seed,
                    workers=cfg.workers, device=cfg.device, project=str(out), name="run", exist_ok=True, **params)
    seconds = time.time() - t0
    print(f"training finished in {seconds / 60:.1f} min", flush=True)
    best = run_dir / "weights" / "best.pt"
    if not best.is_file():
        best = last
    pt = out / "model.pt"
    _strip_checkpoint(best, pt)
    spec = detector_spec(cfg.imgsz, cfg.scale)
    onnx_path = export_onnx(pt, spec.with_weights(pt), out / "model.onnx")
    spec = spec.with_weights(onnx_path)
    train_params = {k: v for k, v in asdict(cfg).items() if k not in ("data", "out")}
    spec = ModelSpec.from_dict({**spec.to_dict(), "extra": {"torch_weights": pt.name, "torch_sha256": sha256_of(pt),
                                                           "train": train_params}})
    spec.save(out / "spec.json")
    metrics = _final_metrics(run_dir)
    (out / "train_summary.json").write_text(json.dumps({"seconds": round(seconds, 1), "metrics": metrics,
                                                        "config": asdict(cfg)}, indent=2))
    return DetectorTrainResult(str(out), str(pt), str(onnx_path), str(out / "spec.json"), cfg.epochs,
                               round(seconds, 1), metrics)


def _progress_printer(t0: float):
    """One line per epoch on stdout (ultralytics runs quiet here), for logs of background runs."""

    def on_fit_epoch_end(trainer) -> None:
        done = trainer.epoch + 1
        elapsed = time.time() - t0
        eta = elapsed / done * (trainer.epochs - done)
        m = trainer.metrics or {}
        shown = " ".join(f"{k.split('/')[-1]}={v:.4f}" for k, v in m.items() if "mAP50-95" in k)
        print(f"epoch {done}/{trainer.epochs} elapsed {elapsed / 60:.1f} min eta {eta / 60:.1f} min {shown}",
              flush=True)

    return on_fit_epoch_end


def _set_training_threads(threads: int | None) -> None:
    """ultralytics trains on min(8, cores - 1) torch threads: one thread on a 2-core machine. Use all
    cores (or ``threads``) instead; the data loader workers overlap with the backward pass."""
    import os

    from cardlens.offline import import_ultralytics

    import_ultralytics()
    from ultralytics.utils import torch_utils

    torch_utils.NUM_THREADS = int(threads or os.cpu_count() or 1)


def _strip_checkpoint(src: Path, dst: Path) -> None:
    """A small, inference-only copy of the checkpoint (no optimizer state), like ultralytics' strip."""
    from ultralytics.utils.torch_utils import strip_optimizer

    shutil.copyfile(src, dst)
    strip_optimizer(str(dst))


def _final_metrics(run_dir: Path) -> dict:
    results = run_dir / "results.csv"
    if not results.is_file():
        return {}
    import csv

    rows = list(csv.DictReader(results.open()))
    if not rows:
        return {}
    return {k.strip(): float(v) for k, v in rows[-1].items() if k.strip().startswith("metrics/")}
