"""``cardlens train detector|fields|recognizer|verifier``."""

from __future__ import annotations

import argparse
import json

from cardlens.errors import UsageError

YOLO_MODELS = {
    # name: (help, dataset command, module:recipe, default imgsz)
    "detector": ("YOLO-pose card + corner detector", "cardlens synth detector", "cardlens.detector.train:DETECTOR_RECIPE", 320),
    "fields": ("YOLO field locator on the rectified card", "cardlens synth fields", "cardlens.ocr.locator_train:FIELDS_RECIPE", 384),
}


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train the detector, field locator, recognizer or card verifier",
                              description="Train a cardlens model from scratch on synthetic data.")
    sub = p.add_subparsers(dest="model", metavar="MODEL", required=True)
    for name, (help_text, synth_cmd, _recipe, imgsz) in YOLO_MODELS.items():
        d = sub.add_parser(name, help=help_text, description=f"Train the {help_text} (ultralytics, offline).")
        d.add_argument("--data", help=f"dataset YAML from '{synth_cmd}'")
        d.add_argument("--out", required=True, help="folder for model.pt, model.onnx, spec.json, the run logs")
        d.add_argument("--scale", default="t", choices=["p", "t", "u", "n"],
                       help="network scale: p(ico), t(iny), u, n (default t)")
        d.add_argument("--imgsz", type=int, default=imgsz, help=f"input size, 256–384 (default {imgsz})")
        d.add_argument("--epochs", type=int, default=30)
        d.add_argument("--hours", type=float, default=None,
                       help="time box in hours: the LR schedule is fitted to it (overrides --epochs)")
        d.add_argument("--batch", type=int, default=32)
        d.add_argument("--seed", type=int, default=0)
        d.add_argument("--workers", type=int, default=2)
        d.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all cores)")
        d.add_argument("--device", default="cpu", help="'cpu' or a CUDA index such as 0")
        d.add_argument("--cache", choices=["ram", "disk"], default=None, help="decode the training images once")
        d.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
        d.add_argument("--init", default=None,
                       help="start from earlier cardlens weights (model.pt) instead of random init")
        d.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="any other ultralytics train argument (e.g. lr0=0.001); repeatable")
        d.add_argument("--no-export", action="store_true", help="skip the ONNX export (finish later with --export-only)")
        d.add_argument("--export-only", action="store_true", help="only export and describe an already trained --out")
        d.add_argument("--json", action="store_true")
        d.set_defaults(func=run_yolo)
    r = sub.add_parser("recognizer", help="CNN + CTC card text recognizer",
                       description="Train the card text recognizer (CNN + CTC) on 'cardlens synth lines' crops.")
    r.add_argument("--data", required=True, help="line set folder (manifest.jsonl) from 'cardlens synth lines'")
    r.add_argument("--extra-data", action="append", default=[], help="more line set folders (train split)")
    r.add_argument("--out", required=True)
    r.add_argument("--epochs", type=int, default=12)
    r.add_argument("--batch", type=int, default=64)
    r.add_argument("--lr", type=float, default=2e-3)
    r.add_argument("--width", type=float, default=1.0, help="channel multiplier (default 1.0, ~0.36 M params)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--threads", type=int, default=None)
    r.add_argument("--limit", type=int, default=None, help="at most this many training lines (quick runs)")
    r.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    r.add_argument("--init", default=None, help="start from earlier recognizer weights (model.pt)")
    r.add_argument("--stop-after", type=int, default=None, metavar="N",
                   help="end after N epochs of the --epochs-long schedule (OUT/last.pt can continue it)")
    r.add_argument("--glyph-warp", type=float, default=0.0, metavar="SHARE",
                   help="share of training lines whose glyphs are warped (elastic field, stroke weight); default 0")
    r.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N, or auto (CUDA when there is one)")
    r.add_argument("--workers", type=int, default=0,
                   help="processes that augment and collate training batches (0: in this process, as before; "
                        "a GPU needs several to be kept busy)")
    r.add_argument("--max-minutes", type=float, default=None, metavar="M",
                   help="end after the epoch that passes M minutes of training (best epoch kept and exported)")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=run_recognizer)
    v = sub.add_parser("verifier", help="card verifier: is the detected box a payment card?",
                       description="Train the card verifier on the shipped detector's boxes on synthetic scenes "
                                   "('cardlens synth detector'): its cards against its false boxes.")
    v.add_argument("--scenes", action="append", required=True, metavar="DIR",
                   help="a 'cardlens synth detector' folder (its train split); repeatable")
    v.add_argument("--val", default=None, metavar="DIR", help="a 'cardlens synth detector' folder whose val split is measured")
    v.add_argument("--detector", default=None, help="detector folder whose boxes are harvested (default: the shipped one)")
    v.add_argument("--out", required=True)
    v.add_argument("--epochs", type=int, default=20)
    v.add_argument("--batch", type=int, default=64)
    v.add_argument("--lr", type=float, default=3e-3)
    v.add_argument("--width", type=int, default=8,
                   help="channels of the first block (default 8: ~32 k params, 0.04 MB in int8; 16: ~0.13 M)")
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--threads", type=int, default=None)
    v.add_argument("--workers", type=int, default=2, help="processes that run the detector while harvesting")
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=run_verifier)


def _overrides(items: list[str]) -> dict:
    import yaml

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set wants KEY=VALUE, got {item!r}")
        out[key.strip()] = yaml.safe_load(value)
    return out


def _recipe(name: str):
    import importlib

    module, attr = YOLO_MODELS[name][2].split(":")
    return getattr(importlib.import_module(module), attr)


def run_yolo(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from cardlens.training.yolo import YoloTrainConfig, export_only, train_yolo

    recipe = _recipe(args.model)
    if args.export_only:
        spec, onnx = export_only(recipe, args.out)
        print(json.dumps({"spec": spec, "onnx": onnx}) if args.json else f"exported {onnx}")
        return 0
    if not args.data:
        raise UsageError("--data is required (a dataset YAML)")
    if not 256 <= args.imgsz <= 384 or args.imgsz % 32:
        raise UsageError("--imgsz must be a multiple of 32 between 256 and 384")
    if args.hours is not None and args.hours <= 0:
        raise UsageError("--hours must be positive")
    result = train_yolo(recipe, YoloTrainConfig(
        data=args.data, out=args.out, scale=args.scale, imgsz=args.imgsz, epochs=args.epochs, batch=args.batch,
        seed=args.seed, workers=args.workers, threads=args.threads, resume=args.resume, init=args.init,
        device=args.device, hours=args.hours, cache=args.cache, export=not args.no_export,
        overrides=_overrides(args.set)))
    if args.json:
        print(json.dumps(asdict(result)))
    else:
        print(f"trained {result.epochs} epochs in {result.seconds / 60:.1f} min → {result.out}")
        for k, v in result.metrics.items():
            print(f"  {k}: {v:.4f}")
    return 0


def run_recognizer(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from cardlens.training.recognizer import RecognizerTrainConfig, train_recognizer

    result = train_recognizer(RecognizerTrainConfig(
        data=args.data, out=args.out, epochs=args.epochs, batch=args.batch, lr=args.lr, width=args.width,
        seed=args.seed, threads=args.threads, resume=args.resume, limit=args.limit, init=args.init,
        extra_data=tuple(args.extra_data), stop_after=args.stop_after,
        glyph_warp=args.glyph_warp, device=args.device, workers=args.workers, max_minutes=args.max_minutes))
    if args.json:
        print(json.dumps(asdict(result)))
    else:
        print(f"trained {result.epochs} epochs in {result.seconds / 60:.1f} min → {result.out}")
        for k, v in result.metrics.items():
            print(f"  {k}: {v:.4f}" if isinstance(v, float) else f"  {k}: {v}")
    return 0


def run_verifier(args: argparse.Namespace) -> int:
    import shlex
    from dataclasses import asdict

    from cardlens.training.verifier import VerifierTrainConfig, train_verifier

    result = train_verifier(VerifierTrainConfig(
        scenes=tuple(args.scenes), out=args.out, val=args.val, detector=args.detector, epochs=args.epochs,
        batch=args.batch, lr=args.lr, width=args.width, seed=args.seed, threads=args.threads, workers=args.workers,
        command=" ".join(["cardlens train verifier", *(f"--scenes {shlex.quote(d)}" for d in args.scenes),
                          *(f"--{k} {shlex.quote(str(getattr(args, k)))}" for k in ("val", "detector")
                            if getattr(args, k)),
                          f"--out {shlex.quote(args.out)} --epochs {args.epochs} --batch {args.batch} --lr {args.lr:g} "
                          f"--width {args.width} --seed {args.seed}"])))
    if args.json:
        print(json.dumps(asdict(result)))
    else:
        print(f"trained {result.epochs} epochs in {result.seconds / 60:.1f} min → {result.out} (crops: {result.crops})")
        for conf, figures in result.metrics.items():
            if isinstance(figures, dict):
                print(f"  {conf}: " + ", ".join(f"{k} {v}" for k, v in figures.items()))
    return 0
