"""``cardlens export --format onnx|tflite|coreml|all --precision fp32|fp16|int8|all --out DIR``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DEFAULT_REALCARDS = "../shared/realcards-dev"


def register(subparsers) -> None:
    p = subparsers.add_parser("export", help="export the pipeline to ONNX, TFLite and CoreML bundles",
                              description="Export every model of the pipeline (detector, field locator, recognizer) "
                                          "per format and precision into DIR/<format>-<precision>/, validate each "
                                          "artifact against the torch reference, and write manifest.json and "
                                          "REPORT.md per bundle plus DIR/SUMMARY.md.")
    p.add_argument("--format", default="all", choices=["onnx", "tflite", "coreml", "all"])
    p.add_argument("--precision", default="all", choices=["fp32", "fp16", "int8", "all"])
    p.add_argument("--out", required=True)
    p.add_argument("--accuracy", default="synthetic,realcards",
                   help="task accuracy per bundle on: 'synthetic' (a generated scan set), 'realcards' "
                        "(../shared/realcards-dev when present), both (default) or 'none'")
    p.add_argument("--synthetic-n", type=int, default=60, help="images in the synthetic accuracy set")
    p.add_argument("--synthetic-data", default=None,
                   help="an existing labelled scan set (`cardlens synth scans`) to use as the synthetic accuracy "
                        "set instead of generating one; a paired delta of a point needs ~1,000 Luhn numbers")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cardlens.errors import NotAvailableError
    from cardlens.export import FORMATS, PRECISIONS
    from cardlens.export.bundle import export_bundle
    from cardlens.export.summary import write_summary

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    formats = list(FORMATS) if args.format == "all" else [args.format]
    precisions = list(PRECISIONS) if args.precision == "all" else [args.precision]
    datasets = {}
    wanted = {w.strip() for w in args.accuracy.split(",")}
    if "synthetic" in wanted:
        from cardlens.synth import write_scan_set

        syn = Path(args.synthetic_data) if args.synthetic_data else out / "_accuracy-synthetic"
        if args.synthetic_data and not (syn / "labels.jsonl").is_file():
            from cardlens.errors import CardlensError

            raise CardlensError(f"{syn} has no labels.jsonl: make one with `cardlens synth scans --out {syn}`")
        if not (syn / "labels.jsonl").is_file():
            write_scan_set(syn, args.synthetic_n, seed=8303, workers=1, progress=False)
        datasets["synthetic"] = syn
    if "realcards" in wanted and Path(DEFAULT_REALCARDS, "labels.jsonl").is_file():
        datasets["realcards-dev"] = Path(DEFAULT_REALCARDS)
    log = (lambda *a: print(*a, file=sys.stderr)) if args.json else print
    from cardlens.export.validate import ExportValidationError

    results, refused, failed, cache = [], [], [], {}
    for fmt in formats:
        for precision in precisions:
            log(f"{fmt}-{precision}:")
            try:
                results.append(export_bundle(fmt, precision, out, datasets, cache=cache, log=log))
            except NotAvailableError as exc:
                if len(formats) * len(precisions) == 1:
                    raise
                refused.append({"bundle": f"{fmt}-{precision}", "reason": str(exc)})
                log(f"  not produced: {exc}")
            except ExportValidationError as exc:  # recorded, the other bundles still built; exit 1 below
                failed.append({"bundle": f"{fmt}-{precision}", "reason": str(exc)})
                log(f"  FAILED validation: {exc}")
    summary = write_summary(out, results, refused, failed)
    if args.json:
        print(json.dumps({"bundles": [r.to_dict() for r in results], "refused": refused, "failed": failed,
                          "summary": str(summary)}))
    else:
        print(f"wrote {len(results)} bundle(s) and {summary}" + (f"; {len(failed)} FAILED validation" if failed else ""))
    if failed:
        print("cardlens: error: " + "; ".join(f"{f['bundle']}: {f['reason']}" for f in failed), file=sys.stderr)
        return 1
    return 0
