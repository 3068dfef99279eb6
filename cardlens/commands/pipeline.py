"""``cardlens pipeline run|steps``: synth → train → evaluate → export → bench → gate → register."""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "pipeline", help="train, evaluate, gate and register the models in one cached run",
        description="The whole chain from seeds to registered models: synthetic data, the four models "
                    "(the card detector, its card verifier trained on the candidate detector's boxes, the field "
                    "locator and the text recognizer), evaluation against production (each detector with its "
                    "verifier) and EasyOCR, export bundles, a quick bench, the promotion "
                    "gate and the MLflow registry. Steps are cached by content hash: a re-run with nothing "
                    "changed does no work, and a failed run resumes where it stopped.")
    sub = p.add_subparsers(dest="pipeline_cmd", metavar="COMMAND", required=True)
    r = sub.add_parser("run", help="run (or resume) the pipeline",
                       description="Run every step whose inputs changed; print 'cached' for the others. Exit "
                                   "status 0 when the candidate was promoted (or nothing changed and it had "
                                   "been), 3 when the promotion gate refused it, 1 when a step failed.")
    r.add_argument("--config", default="default",
                   help="built-in config name (default, tiny) or a YAML file (default: default)")
    r.add_argument("--data", default=None, help="data folder (default: $CARDLENS_DATA or ./data)")
    r.add_argument("--force", action="append", default=[], metavar="STEP",
                   help="run STEP again even if cached (repeatable; 'all' for every step)")
    r.add_argument("--until", default=None, metavar="STEP", help="stop after STEP")
    r.add_argument("--tracking-uri", default=None,
                   help="MLflow tracking URI (default: $CARDLENS_MLFLOW_URI, the config's, else a local "
                        "sqlite store in DATA/mlflow)")
    r.add_argument("--json", action="store_true", help="print the outcome as JSON (progress goes to stderr)")
    r.set_defaults(func=run)
    s = sub.add_parser("steps", help="list the steps of a config")
    s.add_argument("--config", default="default")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=steps)


def run(args: argparse.Namespace) -> int:
    import contextlib

    from cardlens.mlops.config import load_config
    from cardlens.mlops.registry import data_dir
    from cardlens.mlops.steps import CandidateRefused, run_pipeline

    cfg = load_config(args.config)
    log = (lambda m: print(m, file=sys.stderr, flush=True)) if args.json else (lambda m: print(m, flush=True))
    # with --json, stdout carries the one JSON document: the trainers' progress lines go to stderr too
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        outcome = run_pipeline(cfg, data_dir(args.data), force=args.force, until=args.until,
                               tracking_uri=args.tracking_uri, log=log)
    if args.json:
        print(json.dumps(outcome.to_dict(), default=str))
    else:
        statuses = [s["status"] for s in outcome.run["steps"]]
        print(f"pipeline: {statuses.count('ran')} step(s) ran, {statuses.count('cached')} cached, "
              f"{outcome.run['seconds']:.1f} s")
        if outcome.registered:
            reg = outcome.registered
            print(f"registry: run {reg['run_id']} in {reg['tracking_uri']}: "
                  + ", ".join(f"{n} v{v}" for n, v in reg["versions"].items())
                  + f" (aliases: {', '.join(reg['aliases'])})")
    if outcome.gate is not None and not outcome.gate["promote"]:
        err = CandidateRefused("the promotion gate refused the candidate: " + "; ".join(outcome.gate["reasons"]))
        print(f"cardlens: {err}", file=sys.stderr)
        return err.exit_code
    return 0


def steps(args: argparse.Namespace) -> int:
    from cardlens.mlops.config import load_config
    from cardlens.mlops.steps import build_steps

    cfg = load_config(args.config)
    rows = [{"step": s.name, "after": list(s.deps), "what": s.description} for s in build_steps(cfg)]
    if args.json:
        print(json.dumps(rows))
    else:
        for r in rows:
            print(f"{r['step']:28s} {r['what']}" + (f"  (after {', '.join(r['after'])})" if r["after"] else ""))
    return 0
