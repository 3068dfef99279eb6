"""Finish a trained detector folder: model card with complexity, latency and eval figures.

``python -m cardlens.detector.package OUT --stage RUN:DATA:SEED:N [--stage ...] [--install]``
(``--install`` copies the shipped files into ``cardlens/models/card-detector``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

from cardlens.detector.model import DEFAULT_DETECTOR, CardDetector
from cardlens.detector.modelcard import git_commit, model_complexity, write_model_card
from cardlens.modelspec import ModelSpec, sha256_of

SHIPPED = ("model.onnx", "model.pt", "spec.json", "MODEL_CARD.md", "model_card.json")


def measure_latency(folder: Path, runtime: str, runs: int = 30) -> float:
    """Median ms per frame (letterbox + network + decode) at 1 thread on a 640×480 frame."""
    det = CardDetector.load(folder, runtime=runtime, threads=1)
    frame = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    for _ in range(3):
        det.detect(frame)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        det.detect(frame)
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.median(times))


def set_thresholds(folder: Path, **thresholds: float) -> dict:
    """Rewrite score thresholds (``conf``, ``conf_verified``, …) in the ONNX metadata and spec.json, and
    the ONNX sha256 in the spec; only where they differ from what is there. Returns what changed."""
    from dataclasses import replace

    from cardlens.errors import CardlensError
    from cardlens.modelspec import METADATA_KEY

    spec = ModelSpec.load(folder / "spec.json")
    changes = {k: float(v) for k, v in thresholds.items()
               if v is not None and float(spec.thresholds.get(k, -1)) != float(v)}
    if not changes:
        return {}
    import onnx

    merged = {**spec.thresholds, **changes}
    path = folder / spec.weights
    model = onnx.load(str(path))
    meta = {p.key: p for p in model.metadata_props}
    if METADATA_KEY not in meta:
        raise CardlensError(f"{path} carries no cardlens spec ({METADATA_KEY!r} metadata): re-export it")
    meta[METADATA_KEY].value = replace(ModelSpec.from_json(meta[METADATA_KEY].value), thresholds=merged).to_json()
    onnx.save(model, str(path))
    replace(spec, thresholds=merged).with_weights(path).save(folder / "spec.json")
    return changes


def data_command(n: int, seed: int | str, n_negatives: int, closeups: float = 0.0) -> str:
    """The ``cardlens synth detector`` command that renders a set of ``n`` scenes, ``n_negatives`` without
    a card (``--negatives`` only where it is not the default share), ``closeups`` of them framed close."""
    from cardlens.synth.writers import DEFAULT_NEGATIVES

    share = round(n_negatives / n, 2)
    flag = "" if share == DEFAULT_NEGATIVES else f" --negatives {share:g}"
    flag += f" --closeups {closeups:g}" if closeups else ""
    return f"cardlens synth detector --out DATA --n {n} --seed {seed} --imgsz 416{flag}"


def _stage(run_dir: str, data_dir: str, seed: str, n: str, data_commit: str, closeups: str = "0") -> dict:
    run, data = Path(run_dir), Path(data_dir)
    spec = ModelSpec.load(run / "spec.json")
    train = spec.extra.get("train", {})
    summary = json.loads((run / "train_summary.json").read_text())
    if data.is_file():  # the set was rendered elsewhere (e.g. on a GPU machine): its --json summary
        gen = json.loads(data.read_text())
        n_val, n_neg = gen["val"], gen["negatives"]
    else:
        n_val = len(list((data / "images" / "val").glob("*.jpg")))
        n_neg = sum(1 for p in (data / "labels").rglob("*.txt") if not p.read_text().strip())
    init = " --init PREVIOUS/model.pt" if train.get("init") else ""
    device = str(train.get("device", "cpu"))
    extra = "".join(f" --{k} {train[k]}" for k in ("hours", "cache") if train.get(k))
    extra += "".join(f" --set {k}={v}" for k, v in (train.get("overrides") or {}).items())
    if device != "cpu":
        extra += f" --device {device} --batch {train.get('batch')} --workers {train.get('workers')}"
    return {
        "host": "a lent NVIDIA H200 GPU machine (16 cores)" if device != "cpu" else "this 2-core CPU machine",
        "data_command": data_command(int(n), seed, n_neg, float(closeups)),
        "data_commit": data_commit,
        "data_train": int(n) - n_val, "data_val": n_val, "data_negatives": n_neg,
        "train_command": (f"cardlens train detector --data DATA/data.yaml --out OUT --scale {train.get('scale')} "
                          f"--imgsz {spec.input_size[0]} --epochs {train.get('epochs')} --seed {train.get('seed')} "
                          f"{init}{extra}"),
        "epochs": summary.get("epochs_run", train.get("epochs")), "train_minutes": summary["seconds"] / 60,
        "last_epoch_metrics": summary.get("metrics"),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cardlens.detector.package")
    ap.add_argument("out")
    ap.add_argument("--stage", action="append", required=True, metavar="RUN_DIR:DATA_DIR:SEED:N:DATA_COMMIT[:CLOSEUPS]",
                    help="one per training stage, in order (the last one is the packaged model)")
    ap.add_argument("--after-shipped", action="store_true",
                    help="the --stage runs continue the shipped model: its card's stages come first")
    ap.add_argument("--install", action="store_true")
    ap.add_argument("--conf", type=float, default=None,
                    help="set the score threshold (chosen on a synthetic tuning split) in both specs")
    ap.add_argument("--note", action="append", default=[], help="a line for the model card's notes")
    ap.add_argument("--no-latency", action="store_true", help="skip latency (e.g. while other jobs load the CPU)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    if args.conf is not None:
        set_thresholds(out, conf=args.conf)
    spec = ModelSpec.load(out / "spec.json")
    evaluation = json.loads((out / "eval.json").read_text())
    imgsz = spec.input_size[0]
    stages = [_stage(*item.split(":")) for item in args.stage]
    if args.after_shipped:
        stages = json.loads((DEFAULT_DETECTOR / "model_card.json").read_text())["stages"] + stages
    info = {
        "name": spec.name,
        "imgsz": imgsz,
        "stages": stages,
        "code_commit": git_commit(Path(__file__).resolve().parents[2]),
        **model_complexity(out / "model.pt", imgsz),
        "files": [(f, (out / f).stat().st_size, sha256_of(out / f)) for f in ("model.onnx", "model.pt")],
        "synthetic_val": evaluation.get("synthetic_val"),
        "realcards": evaluation.get("realcards") if isinstance(evaluation.get("realcards"), dict) else None,
        "notes": args.note,
        "latency_ms": None if args.no_latency else
        {f"{rt} 1 thread": measure_latency(out, rt) for rt in ("onnx", "torch")},
    }
    write_model_card(out, info)
    if args.install:
        DEFAULT_DETECTOR.mkdir(parents=True, exist_ok=True)
        for f in SHIPPED:
            shutil.copyfile(out / f, DEFAULT_DETECTOR / f)
        print(f"installed into {DEFAULT_DETECTOR}")
    print((out / "MODEL_CARD.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
