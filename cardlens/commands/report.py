"""``cardlens report sessions FILE...``: scan-session outcomes (the online metric) by model version."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("report", help="summarise monitoring events (cardlens report sessions FILE...)",
                              description="Reports over data cardlens collected.")
    sub = p.add_subparsers(dest="report", metavar="REPORT")
    s = sub.add_parser(
        "sessions", help="scan-session outcomes: manual-entry share, time to scan, corrections, by model version",
        description="Summarise ScanSession monitoring events (JSONL, as JsonlSink or `cardlens demo --events` "
                    "write them): share of sessions ending in manual entry (the online metric), accepted, "
                    "cancelled and timed out; time-to-scan percentiles and histogram; fields and digit "
                    "positions most often corrected; all by model version, with the change between consecutive "
                    "versions and a regression flag. Malformed lines are counted and skipped.")
    s.add_argument("files", nargs="+", help="event files (JSON lines)")
    s.add_argument("--json", action="store_true", help="print the report as JSON")
    s.add_argument("--by", choices=("model-version", "none"), default="model-version",
                   help="break the figures down by model version (default) or not")
    s.add_argument("--threshold-pp", type=float, default=2.0,
                   help="manual-entry share rise (percentage points) that counts as a regression (default 2)")
    s.add_argument("--threshold-tts", type=float, default=0.25,
                   help="relative time-to-scan p90 rise that counts as a regression (default 0.25)")
    s.add_argument("--fail-on-regression", action="store_true", help="exit 1 when a regression is flagged")
    s.set_defaults(func=run_sessions)
    p.set_defaults(func=lambda args: _usage(p))


def _usage(parser) -> int:
    parser.print_help()
    return 2


def run_sessions(args: argparse.Namespace) -> int:
    from cardlens.errors import UsageError
    from cardlens.monitoring.report import render, summarize

    missing = [f for f in args.files if not Path(f).is_file()]
    if missing:
        raise UsageError(f"no such event file: {', '.join(missing)}")
    if args.threshold_pp < 0 or args.threshold_tts < 0:
        raise UsageError("--threshold-pp and --threshold-tts must be ≥ 0")
    report = summarize(args.files, by=args.by, threshold_pp=args.threshold_pp, threshold_tts=args.threshold_tts)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        render(report)
    return 1 if args.fail_on_regression and report.regression else 0
