"""``cardlens`` command line: a thin layer over the library.

Each subcommand lives in its own module exposing ``register(subparsers)``, which adds its parser and
sets ``func(args) -> int``. Modules are imported to build the parser, so they keep heavy imports
(torch, ultralytics, tensorflow) inside their ``run`` functions.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from cardlens._version import __version__
from cardlens.cardrules import redact_text
from cardlens.commands import register_pending
from cardlens.errors import CardlensError

# name → (module with register(), or None while its issue is open), help, the issue that fills it in
SUBCOMMANDS: dict[str, tuple[str | None, str, str]] = {
    "scan": ("cardlens.commands.scan", "read number, expiry and name from card images", ""),
    "synth": ("cardlens.synth.cli", "render synthetic cards, scenes and datasets", "#3"),
    "train": ("cardlens.commands.train", "train the detector, field locator or recognizer", "#4 / #5"),
    "eval": ("cardlens.commands.evaluate", "evaluate models on synthetic val and realcards-dev", "#4 / #5"),
    "export": ("cardlens.commands.export", "export the pipeline to ONNX, TFLite and CoreML bundles", "#6"),
    "bench": ("cardlens.commands.bench", "benchmark latency, size and memory against device budgets", "#7"),
    "demo": ("cardlens.commands.demo", "live webcam / video demo for QA", "#8"),
    "pipeline": ("cardlens.commands.pipeline", "train, evaluate, gate and register the models in one cached run", "#10"),
    "models": ("cardlens.commands.models", "list, show, promote and export registered model versions", "#10"),
    "report": ("cardlens.commands.report", "summarise scan-session monitoring events", "#10"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cardlens",
        description="On-device payment-card scanning: detect, read, export, benchmark. Runs offline.",
    )
    parser.add_argument("--version", action="version", version=f"cardlens {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text, issue) in SUBCOMMANDS.items():
        if module is None:
            register_pending(sub, name, name, help_text, issue)
            continue
        try:
            importlib.import_module(module).register(sub)
        except ImportError:  # the subcommand's package is not in this checkout
            register_pending(sub, name, name, help_text, issue)
    return parser


def _configure_logging(verbosity: int) -> None:
    from cardlens.logs import configure_logging

    configure_logging(logging.WARNING - 10 * min(verbosity, 2))


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status (0 ok, 1 error, 2 usage or unavailable)."""
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra and not getattr(args, "accepts_extra", False):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as exc:  # argparse: --help, --version, usage errors
        return int(exc.code or 0) if isinstance(exc.code, int) else 2
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    _configure_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except CardlensError as exc:
        print(f"cardlens: error: {redact_text(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("cardlens: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of our output went away (`cardlens scan ... | head`): stop quietly
        import os

        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        except (OSError, ValueError):
            pass
        return 141
    except Exception as exc:
        if args.debug:
            raise
        print(f"cardlens: internal error: {type(exc).__name__}: {redact_text(str(exc))} "
              "(re-run with --debug for the traceback and please report it)", file=sys.stderr)
        return 70


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
