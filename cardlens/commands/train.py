"""``cardlens train detector|fields|recognizer``."""

from __future__ import annotations

import argparse
import json

from cardlens.commands import register_pending
from cardlens.errors import UsageError


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train the detector, field locator or recognizer",
                              description="Train a cardlens model from scratch on synthetic data.")
    sub = p.add_subparsers(dest="model", metavar="MODEL", required=True)
    d = sub.add_parser("detector", help="YOLO-pose card + corner detector")
    d.add_argument("--data", required=True, help="dataset YAML from 'cardlens synth detector'")
    d.add_argument("--out", required=True, help="folder for model.pt, model.onnx, spec.json, the run logs")
    d.add_argument("--scale", default="t", choices=["t", "u", "n"], help="network scale (default t)")
    d.add_argument("--imgsz", type=int, default=320, help="input size, 256–384 (default 320)")
    d.add_argument("--epochs", type=int, default=30)
    d.add_argument("--batch", type=int, default=32)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--workers", type=int, default=2)
    d.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all cores)")
    d.add_argument("--device", default="cpu", help="'cpu' or a CUDA index such as 0")
    d.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    d.add_argument("--init", default=None,
                   help="start from earlier cardlens detector weights (model.pt) instead of random init")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=run_detector)
    register_pending(sub, "fields", "train fields", "field locator", "#5")
    register_pending(sub, "recognizer", "train recognizer", "card text recognizer", "#5")


def run_detector(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from cardlens.detector.train import DetectorTrainConfig, train_detector

    if not 256 <= args.imgsz <= 384 or args.imgsz % 32:
        raise UsageError("--imgsz must be a multiple of 32 between 256 and 384")
    result = train_detector(DetectorTrainConfig(
        data=args.data, out=args.out, scale=args.scale, imgsz=args.imgsz, epochs=args.epochs, batch=args.batch,
        seed=args.seed, workers=args.workers, threads=args.threads, resume=args.resume, init=args.init,
        device=args.device))
    if args.json:
        print(json.dumps(asdict(result)))
    else:
        print(f"trained {result.epochs} epochs in {result.seconds / 60:.1f} min → {result.out}")
        for k, v in result.metrics.items():
            print(f"  {k}: {v:.4f}")
    return 0
