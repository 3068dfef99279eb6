"""``cardlens train detector|fields``: ultralytics YOLO training with cardlens' defaults.

Offline and silent (see :mod:`cardlens.offline`), seeded, from scratch (no pretrained weights exist
here), resumable (``resume=True`` continues ``<out>/run/weights/last.pt``), time-boxed on request
(``hours``), and finished by packaging: ``model.pt`` + ``model.onnx`` + ``spec.json`` +
``train_summary.json`` in ``<out>``. One :class:`YoloRecipe` per model says what differs.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cardlens.errors import CardlensError, UsageError
from cardlens.logs import get_logger
from cardlens.modelspec import METADATA_KEY, ModelSpec, sha256_of

log = get_logger(__name__)

# Deliberate departures from ultralytics' defaults shared by every cardlens YOLO, and why:
COMMON_DEFAULTS = dict(
    fliplr=0.0,        # a mirrored card never reaches a camera (and it would swap ordered corners)
    flipud=0.0,
    degrees=0.0,       # rotation and perspective come from the generator, with exact labels
    pretrained=False,  # from scratch: no pretrained weights can be loaded here
    amp=False,         # ultralytics' AMP check downloads a model; our nets are small enough for fp32
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
class YoloRecipe:
    """What one cardlens YOLO model needs beyond ultralytics' defaults."""

    kind: str                       # CLI name: "detector" | "fields"
    task: str                       # ultralytics task: "pose" | "detect"
    arch: Path                      # our YAML; the scale letter is appended to the copied file name
    spec: Callable[..., ModelSpec]  # spec(imgsz, scale) -> ModelSpec
    defaults: dict


@dataclass(frozen=True)
class YoloTrainConfig:
    data: str                      # dataset YAML (cardlens synth detector|fields)
    out: str                       # output folder for the packaged model
    scale: str = "t"               # arch scale in the recipe's YAML
    imgsz: int = 320
    epochs: int = 30
    batch: int = 32
    seed: int = 0
    workers: int = 2
    threads: int | None = None
    resume: bool = False
    init: str | None = None        # start from these cardlens weights instead of random init
    device: str = "cpu"
    hours: float | None = None     # time box: ultralytics fits the LR schedule to it (overrides epochs)
    cache: str | None = None       # "ram" | "disk": decode the images once
    export: bool = True            # False: leave ONNX export to a later --export-only call
    overrides: dict = field(default_factory=dict)  # any other ultralytics train argument


DetectorTrainConfig = YoloTrainConfig  # the name the detector code has used


@dataclass(frozen=True)
class YoloTrainResult:
    out: str
    weights: str
    onnx: str | None
    spec: str
    epochs: int
    seconds: float
    metrics: dict


DetectorTrainResult = YoloTrainResult


def _ultralytics_model(recipe: YoloRecipe, scale: str, workdir: Path, init: str | None = None):
    from cardlens.offline import import_ultralytics

    import_ultralytics()
    from ultralytics import YOLO

    if init:  # our own earlier weights: a continued run (still nothing pretrained elsewhere)
        return YOLO(str(init), task=recipe.task)
    # ultralytics guesses a scale only from stock names (yolo26n.yaml) and otherwise takes the file's first
    # one, so the copy lists the chosen scale alone (a suffix like card-pose-t.yaml was silently ignored)
    cfg = workdir / f"{recipe.arch.stem}-{scale}.yaml"
    cfg.write_text(yaml_text_with_scale(recipe.arch, scale))
    return YOLO(str(cfg), task=recipe.task)


def yaml_text_with_scale(arch: Path, scale: str) -> str:
    """The architecture file's text with ``scales`` reduced to ``scale`` (ValueError naming the scales it has)."""
    import yaml

    d = yaml.safe_load(Path(arch).read_text())
    scales = d.get("scales") or {}
    if scale not in scales:
        raise ValueError(f"{arch.name} has no scale {scale!r}; it has {', '.join(scales) or 'none'}")
    d["scales"] = {scale: scales[scale]}
    return yaml.safe_dump(d, sort_keys=False)


def export_onnx(pt_path: Path, spec: ModelSpec, out_path: Path, opset: int = 17) -> Path:
    """Raw one-to-many output (1, 4+C(+3K), N), no embedded NMS/top-k: our numpy post-processing is
    the contract for every runtime. (``nms=False`` would select the end-to-end head instead.)"""
    from cardlens.errors import require
    from cardlens.offline import import_ultralytics

    import_ultralytics()
    from ultralytics import YOLO

    onnx = require("onnx", "export")
    h, w = spec.input_size
    exported = YOLO(str(pt_path)).export(format="onnx", imgsz=[h, w], opset=opset, simplify=True,
                                         dynamic=False, nms=None, half=False, device="cpu", verbose=False)
    model = onnx.load(str(exported))
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, spec.to_json()
    if Path(exported).resolve() != Path(out_path).resolve():
        Path(exported).unlink(missing_ok=True)
    onnx.save(model, str(out_path))
    return out_path


def train_yolo(recipe: YoloRecipe, cfg: YoloTrainConfig) -> YoloTrainResult:
    out = Path(cfg.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    data = Path(cfg.data).resolve()
    if not data.is_file():
        raise CardlensError(f"dataset YAML not found: {data} (make one with: cardlens synth {recipe.kind} --out DIR)")
    _set_training_threads(cfg.threads)
    t0 = time.time()
    run_dir = out / "run"
    last = run_dir / "weights" / "last.pt"
    if cfg.resume and last.is_file():
        from ultralytics import YOLO

        _ultralytics_model(recipe, cfg.scale, out)  # sets up the offline environment
        model = YOLO(str(last))
        model.add_callback("on_fit_epoch_end", _progress_printer(t0))
        model.train(resume=True)
    else:
        if cfg.resume:
            log.warning("nothing to resume at %s; starting a new run", last)
        model = _ultralytics_model(recipe, cfg.scale, out, init=cfg.init)
        model.add_callback("on_fit_epoch_end", _progress_printer(t0))
        params = {**COMMON_DEFAULTS, **recipe.defaults, **cfg.overrides}
        if cfg.init:  # ultralytics drops the loaded weights when pretrained=False
            params["pretrained"] = True
        if cfg.hours:
            params["time"] = cfg.hours
        if cfg.cache:
            params["cache"] = cfg.cache
        model.train(data=str(data), epochs=cfg.epochs, imgsz=cfg.imgsz, batch=cfg.batch, seed=cfg.seed,
                    workers=cfg.workers, device=cfg.device, project=str(out), name="run", exist_ok=True, **params)
    seconds = time.time() - t0
    print(f"training finished in {seconds / 60:.1f} min", flush=True)
    best = run_dir / "weights" / "best.pt"
    if not best.is_file():
        best = last
    pt = out / "model.pt"
    _strip_checkpoint(best, pt)
    metrics = _final_metrics(run_dir)
    epochs = _epochs_run(run_dir) or cfg.epochs
    train_params = {k: v for k, v in asdict(cfg).items() if k not in ("data", "out", "export")}
    train_params["epochs_run"] = epochs
    (out / "train_summary.json").write_text(json.dumps({"seconds": round(seconds, 1), "metrics": metrics,
                                                        "config": asdict(cfg), "epochs_run": epochs}, indent=2))
    spec_path, onnx_path = package_run(recipe, out, cfg.imgsz, cfg.scale, train_params, export=cfg.export)
    return YoloTrainResult(str(out), str(pt), onnx_path, spec_path, epochs, round(seconds, 1), metrics)


def package_run(recipe: YoloRecipe, out: Path, imgsz: int, scale: str, train_params: dict,
                export: bool = True) -> tuple[str, str | None]:
    """``spec.json`` (+ ``model.onnx`` when ``export``) from ``out/model.pt``."""
    pt = out / "model.pt"
    spec = recipe.spec(imgsz, scale)
    onnx_path = None
    if export:
        onnx_path = str(export_onnx(pt, spec.with_weights(pt), out / "model.onnx"))
        spec = spec.with_weights(Path(onnx_path))
    spec = ModelSpec.from_dict({**spec.to_dict(), "extra": {"torch_weights": pt.name, "torch_sha256": sha256_of(pt),
                                                           "train": train_params}})
    spec.save(out / "spec.json")
    return str(out / "spec.json"), onnx_path


def export_only(recipe: YoloRecipe, out: Path) -> tuple[str, str | None]:
    """Finish a run trained with ``export=False`` (e.g. on a machine without the export stack)."""
    out = Path(out)
    summary_path = out / "train_summary.json"
    if not (out / "model.pt").is_file() or not summary_path.is_file():
        raise UsageError(f"{out} holds no trained run (model.pt and train_summary.json are needed)")
    summary = json.loads(summary_path.read_text())
    cfg = summary["config"]
    train_params = {k: v for k, v in cfg.items() if k not in ("data", "out", "export")}
    train_params["epochs_run"] = summary.get("epochs_run", cfg.get("epochs"))
    return package_run(recipe, out, cfg["imgsz"], cfg["scale"], train_params, export=True)


def _epochs_run(run_dir: Path) -> int | None:
    results = run_dir / "results.csv"
    if not results.is_file():
        return None
    return max(0, len(results.read_text().strip().splitlines()) - 1) or None


def _progress_printer(t0: float):
    """One line per epoch on stdout (ultralytics runs quiet here), for logs of background runs."""

    def on_fit_epoch_end(trainer) -> None:
        done = trainer.epoch + 1
        if done > trainer.epochs:  # the final validation calls back once more
            return
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
