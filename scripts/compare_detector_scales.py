"""Choose the detector scale by measured accuracy per millisecond (issue #4).

Trains each scale from scratch on the same scenes, epochs, seed and schedule, then measures every
network alone on the same val split (ultralytics' final validation: box and pose mAP50-95) and its
onnxruntime latency (1 thread, interleaved across scales, median of 50 runs), and applies the rule:
going up one scale must buy at least ``--min-gain-per-ms`` pose mAP50-95 per added millisecond.

    .venv/bin/python scripts/compare_detector_scales.py --data D61/data.yaml --val-images S31/images/val \
        --out runs/scales              # trains p, t and u (about 2 h on a 2-core CPU), then measures
    .venv/bin/python scripts/compare_detector_scales.py --out runs/scales --measure-only

A short, matched budget ranks the scales; it does not say what each reaches trained to the end.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from cardlens.training.scale_choice import choose_scale

SCALES = ("p", "t", "u")


def write_subset(data_yaml: Path, val_images: Path, n_train: int, out: Path) -> Path:
    """A dataset YAML over the first ``n_train`` training scenes (sorted names) of ``data_yaml``."""
    train_dir = data_yaml.parent / "images" / "train"
    images = sorted(p for p in train_dir.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})[:n_train]
    if len(images) < n_train:
        raise SystemExit(f"{train_dir} holds {len(images)} images, fewer than --n-train {n_train}")
    out.mkdir(parents=True, exist_ok=True)
    (out / f"train{n_train}.txt").write_text("".join(f"{p.resolve()}\n" for p in images))
    yaml = out / "data.yaml"
    yaml.write_text(
        f"# first {n_train} (sorted) training scenes of {data_yaml.resolve()}; val = {val_images.resolve()}\n"
        f"train: {(out / f'train{n_train}.txt').resolve()}\nval: {val_images.resolve()}\n"
        "kpt_shape: [4, 3]\nflip_idx: [1, 0, 3, 2]\nnames:\n  0: card\n")
    return yaml


def train_scale(yaml: Path, out: Path, scale: str, epochs: int, imgsz: int) -> None:
    from cardlens.cli import main
    rc = main(["train", "detector", "--data", str(yaml), "--out", str(out / scale), "--scale", scale,
               "--imgsz", str(imgsz), "--epochs", str(epochs), "--seed", "0", "--cache", "ram",
               "--set", "val=False", "--set", "close_mosaic=3", "--json"])
    if rc:
        raise SystemExit(f"training scale {scale} failed (exit {rc})")


def onnx_latency_ms(models: dict[str, Path], imgsz: int, runs: int = 50) -> dict[str, list[float]]:
    import onnxruntime as ort
    sessions = {}
    for scale, path in models.items():
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = 1
        sessions[scale] = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((1, 3, imgsz, imgsz), dtype=np.float32)
    feeds = {s: {sess.get_inputs()[0].name: x} for s, sess in sessions.items()}
    for s, sess in sessions.items():
        for _ in range(5):
            sess.run(None, feeds[s])
    times: dict[str, list[float]] = {s: [] for s in sessions}
    for _ in range(runs):  # interleaved, so a slower moment of a shared host hits every scale alike
        for s, sess in sessions.items():
            t = time.perf_counter()
            sess.run(None, feeds[s])
            times[s].append(1e3 * (time.perf_counter() - t))
    return times


def final_metrics(scale_dir: Path) -> dict:
    """The final validation the training wrote (``train_summary.json``)."""
    summary = json.loads((scale_dir / "train_summary.json").read_text())
    m = summary["metrics"]
    return {"epochs": summary["config"]["epochs"], "train_s": summary["seconds"],
            "box_map50_95": m["metrics/mAP50-95(B)"], "box_map50": m["metrics/mAP50(B)"],
            "pose_map50_95": m["metrics/mAP50-95(P)"], "pose_map50": m["metrics/mAP50(P)"]}


def size_figures(scale_dir: Path, imgsz: int) -> dict:
    import torch
    from ultralytics.utils.torch_utils import get_flops
    net = torch.load(scale_dir / "model.pt", map_location="cpu", weights_only=False)["model"].float()
    return {"params": sum(p.numel() for p in net.parameters()), "gflops": round(get_flops(net, imgsz), 3),
            "onnx_mb": round((scale_dir / "model.onnx").stat().st_size / 1e6, 2),
            "pt_mb": round((scale_dir / "model.pt").stat().st_size / 1e6, 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, help="a 'cardlens synth detector' data.yaml (its train split)")
    ap.add_argument("--val-images", type=Path, help="val images folder (labels beside, as synth writes them)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--scales", default=",".join(SCALES))
    ap.add_argument("--n-train", type=int, default=3000)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--min-gain-per-ms", type=float, default=0.002)
    ap.add_argument("--measure-only", action="store_true", help="measure the runs already in --out")
    args = ap.parse_args(argv)
    scales = [s for s in args.scales.split(",") if s]
    if not args.measure_only:
        if not (args.data and args.val_images):
            ap.error("--data and --val-images are needed to train")
        yaml = write_subset(args.data, args.val_images, args.n_train, args.out)
        for s in scales:
            train_scale(yaml, args.out, s, args.epochs, args.imgsz)
    scales = [s for s in scales if (args.out / s / "model.onnx").exists()]
    times = onnx_latency_ms({s: args.out / s / "model.onnx" for s in scales}, args.imgsz)
    rows = {}
    for s in scales:
        rows[s] = {**final_metrics(args.out / s), **size_figures(args.out / s, args.imgsz),
                   "onnx_ms_median": round(float(np.median(times[s])), 2),
                   "onnx_ms_p90": round(float(np.percentile(times[s], 90)), 2)}
    choice = choose_scale(SCALES, {s: r["pose_map50_95"] for s, r in rows.items()},
                          {s: r["onnx_ms_median"] for s, r in rows.items()}, args.min_gain_per_ms)
    chosen, why = choice.chosen, [f"{step} (needs {args.min_gain_per_ms} pose mAP50-95 per ms)" for step in choice.steps]
    report = {"rows": rows, "chosen": chosen, "steps": why, "min_gain_per_ms": args.min_gain_per_ms,
              "imgsz": args.imgsz, "latency": "onnxruntime, 1 thread, median of 50 interleaved runs"}
    (args.out / "scales.json").write_text(json.dumps(report, indent=1))
    print("| scale | params | GFLOPs | ONNX MB | ONNX ms (1 thread) | box mAP50-95 | pose mAP50-95 | pose mAP50 |")
    print("|---|---|---|---|---|---|---|---|")
    for s, r in rows.items():
        print(f"| {s} | {r['params']:,} | {r['gflops']} | {r['onnx_mb']} | {r['onnx_ms_median']} | "
              f"{r['box_map50_95']:.4f} | {r['pose_map50_95']:.4f} | {r['pose_map50']:.4f} |")
    print("\n".join(why))
    print(f"chosen: {chosen}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
