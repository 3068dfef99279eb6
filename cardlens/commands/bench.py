"""``cardlens bench``: latency, size, memory and accuracy against device-class budgets and baselines."""

from __future__ import annotations

import json
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("bench", help="benchmark latency, size and memory against device budgets",
                       description="Times every stage and the whole frame for each runtime (torch, ONNX Runtime, "
                       "LiteRT), precision and thread count on synthetic scenes and realcards-dev images, with "
                       "the accuracy of each configuration, device-class verdicts and the OCR baselines.")
    p.add_argument("--quick", action="store_true", help="small image set, few runs, 1 thread (< 3 min)")
    p.add_argument("--out", default="out/bench", help="folder for results.json, REPORT.md and plots")
    p.add_argument("--bundles", nargs="*", default=None, metavar="DIR",
                   help="export bundles to include (a bundle or a folder of them; default: ./bundles if present)")
    p.add_argument("--models", default=None, help="a folder with card-detector/, field-locator/, text-recognizer/")
    p.add_argument("--runs", type=int, default=None, help="passes over the images per configuration")
    p.add_argument("--duration", type=float, default=None, help="max seconds per stage measurement")
    p.add_argument("--images", type=int, default=None, help="number of bench images (half synthetic, half real)")
    p.add_argument("--threads", type=int, nargs="+", default=None, help="thread counts (default 1 quick, 1 2 full)")
    p.add_argument("--runtime", nargs="+", choices=("torch", "onnx", "tflite"), default=None)
    p.add_argument("--precision", nargs="+", choices=("fp32", "fp16", "int8"), default=None)
    p.add_argument("--baselines", nargs="*", default=None, metavar="ENGINE",
                   help="easyocr rapidocr tesseract (default: all available)")
    p.add_argument("--no-baselines", action="store_true")
    p.add_argument("--realcards", default="../shared/realcards-dev", help="realcards-dev folder (skipped if absent)")
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--device-classes", nargs="*", default=(), metavar="YAML",
                   help="extra or overriding device classes, same shape as cardlens/benchmarks/device_classes.yaml")
    p.add_argument("--device-results", default=None, metavar="FILE",
                   help="on-device measurements (YAML/JSON list of device_class, config, p90_ms, source)")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from cardlens.benchmarks import run_bench
    from cardlens.benchmarks.report import console_table

    bundles = args.bundles
    if bundles is None:
        bundles = ["bundles"] if Path("bundles").is_dir() else []
    baselines = False if args.no_baselines else (args.baselines if args.baselines else True)
    quiet = args.json
    results = run_bench(out=Path(args.out), quick=args.quick, models=Path(args.models) if args.models else None,
                        bundles=[Path(b) for b in bundles], baselines=baselines, runs=args.runs,
                        n_images=args.images, threads=args.threads, runtimes=args.runtime, precisions=args.precision,
                        duration_s=args.duration, seed=args.seed,
                        realcards=Path(args.realcards) if args.realcards else None,
                        device_classes_files=[Path(p) for p in args.device_classes],
                        device_results=Path(args.device_results) if args.device_results else None,
                        plots=not args.no_plots, log=(lambda *a, **k: None) if quiet else print)
    if args.json:
        print(json.dumps({"summary": results["summary"], "comparisons": results["comparisons"],
                          "out": str(Path(args.out).resolve())}, sort_keys=True))
    else:
        from rich.console import Console

        console = Console()
        for table in console_table(results):
            console.print(table)
    return 0
