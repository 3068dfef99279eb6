"""``cardlens models list|show|promote|export|register-shipped``: the MLflow model registry."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _common(p) -> None:
    p.add_argument("--data", default=None, help="data folder holding the local store (default: $CARDLENS_DATA or ./data)")
    p.add_argument("--tracking-uri", default=None,
                   help="MLflow tracking URI (default: $CARDLENS_MLFLOW_URI, else sqlite:///DATA/mlflow/mlflow.db)")
    p.add_argument("--json", action="store_true")


def register(subparsers) -> None:
    p = subparsers.add_parser("models", help="list, show, promote and export registered model versions",
                              description="Read and change the model registry (MLflow; a local store in the data "
                                          "folder unless a tracking URI is given). Models: card-detector, "
                                          "field-locator, text-recognizer, card-verifier. A reference is NAME, "
                                          "NAME@alias (candidate, production) or NAME@VERSION.")
    sub = p.add_subparsers(dest="models_cmd", metavar="COMMAND", required=True)
    s = sub.add_parser("list", help="registered models, their versions and aliases")
    _common(s)
    s.set_defaults(func=run_list)
    s = sub.add_parser("show", help="one version: source, tags, its run's parameters and figures")
    s.add_argument("ref", metavar="NAME[@alias|@version]", help="latest version when neither is given")
    _common(s)
    s.set_defaults(func=run_show)
    s = sub.add_parser("promote", help="point an alias (production) at a version")
    s.add_argument("name")
    s.add_argument("version")
    s.add_argument("--alias", default="production")
    s.add_argument("--force", action="store_true", help="promote a version the promotion gate refused")
    _common(s)
    s.set_defaults(func=run_promote)
    s = sub.add_parser("export", help="copy a version's files out, and optionally build export bundles from them",
                       description="Download NAME[@alias|@version] into OUT/NAME/ ('all' = the four models at "
                                   "the alias, default production: OUT is then a models folder). A store "
                                   "made before the card verifier was versioned has no card-verifier: "
                                   "'all' then exports the other three and says so, and --bundle takes "
                                   "the shipped verifier. --bundle also exports bundles from it into "
                                   "OUT/bundles/.")
    s.add_argument("ref", metavar="NAME[@alias|@version]|all[@alias]")
    s.add_argument("--out", required=True)
    s.add_argument("--bundle", action="append", default=[], metavar="FORMAT-PRECISION",
                   help="e.g. onnx-fp32, tflite-int8 (needs 'all'; repeatable)")
    _common(s)
    s.set_defaults(func=run_export)
    s = sub.add_parser("register-shipped", help="register the shipped models (cardlens/models) as production",
                       description="Log the shipped models' recorded figures, parameters and files as one run and "
                                   "register each model as a new version with the alias. A model whose "
                                   "weights already hold the alias is left as it is (unless --force): "
                                   "nothing is done when all four do, and a store seeded before the card "
                                   "verifier was versioned gets just the verifier.")
    s.add_argument("--alias", default="production")
    s.add_argument("--force", action="store_true")
    s.add_argument("--update-cards", action="store_true",
                   help="write the run into cardlens/models/*/model_card.json and MODEL_CARD.md (maintainers; "
                        "weights and spec.json are not touched)")
    s.add_argument("--card-uri", default=None,
                   help="the store URI to write into the cards (default: the URI used)")
    _common(s)
    s.set_defaults(func=run_register_shipped)


def _registry(args):
    from cardlens.mlops.registry import Registry, data_dir, resolve_tracking_uri

    data = data_dir(args.data)
    return Registry(resolve_tracking_uri(args.tracking_uri, None, data), data=data)


def run_list(args: argparse.Namespace) -> int:
    reg = _registry(args)
    models = reg.list_models()
    if args.json:
        print(json.dumps({"tracking_uri": reg.uri, "models": models}))
        return 0
    print(f"store: {reg.uri}")
    if not models:
        print("no registered models yet (cardlens models register-shipped, or cardlens pipeline run)")
    for m in models:
        aliases = ", ".join(f"{a}=v{v}" for a, v in m["aliases"].items()) or "no aliases"
        print(f"  {m['name']:18s} {m['versions']} version(s), latest v{m['latest']}; {aliases}")
        for v in reg.versions(m["name"]):
            flags = f" [{', '.join(v.aliases)}]" if v.aliases else ""
            print(f"    v{v.version}{flags} run {v.run_id} origin={v.tags.get('origin', '?')} "
                  f"gate={v.tags.get('gate', '?')} onnx sha256 {v.tags.get('onnx_sha256', '?')[:12]}")
    return 0


GATE_KEYS = ("synthetic.pan_exact", "synthetic.false_accept_rate", "synthetic.detector_recall",
             "realcards.pan_exact", "realcards.false_accept_rate", "realcards.detector_recall")


def run_show(args: argparse.Namespace) -> int:
    reg = _registry(args)
    info = reg.show(args.ref)
    if args.json:
        print(json.dumps(info, default=str))
        return 0
    print(f"{info['name']} v{info['version']}" + (f" [{', '.join(info['aliases'])}]" if info["aliases"] else ""))
    print(f"  source: {info['source']}")
    print(f"  run:    {info['run_id']}")
    for k, v in sorted(info["tags"].items()):
        print(f"  tag {k}: {v}")
    run = info.get("run") or {}
    metrics = run.get("metrics") or {}
    shown = {k: metrics.get(f"gate.{k}") for k in GATE_KEYS if f"gate.{k}" in metrics}
    if shown:
        print("  gate figures:")
        for k, v in shown.items():
            print(f"    {k:30s} {v:.4f}")
    if run.get("metrics"):
        print(f"  run: {run.get('name')} ({run.get('status')}), {len(run['params'])} params, "
              f"{len(run['metrics'])} metrics (--json for all)")
    elif run.get("error"):
        print(f"  run: not readable here ({run['error']})")
    return 0


def run_promote(args: argparse.Namespace) -> int:
    reg = _registry(args)
    info = reg.promote(args.name, args.version, alias=args.alias, force=args.force)
    if args.json:
        print(json.dumps(info.to_dict()))
    else:
        print(f"{info.name}@{args.alias} → v{info.version}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    import sys

    from cardlens.errors import UsageError
    from cardlens.mlops.registry import LATER_NAMES, MODEL_NAMES, parse_ref

    reg = _registry(args)
    out = Path(args.out)
    name, alias, version = parse_ref(args.ref)
    missing: dict[str, str] = {}
    if name == "all":
        if version is not None:
            raise UsageError("'all' takes an alias (all@production), not a version number")
        got = {}
        for n in MODEL_NAMES:
            if n in LATER_NAMES and reg.by_alias(n, alias) is None:
                # a store from before the verifier was versioned: the other models still make a models folder
                missing[n] = (f"no {n} version holds alias '{alias}' in {reg.uri} (registered before the card "
                              f"verifier was versioned); {out} has no {n}: a detector loaded from it runs without "
                              "a verifier, and bundles take the shipped one ('cardlens models register-shipped' "
                              "registers the shipped verifier)")
                continue
            got[n] = str(reg.download(f"{n}@{alias}", out))
    else:
        if args.bundle:
            raise UsageError(f"--bundle needs every model ({', '.join(MODEL_NAMES)}): use 'all[@alias]'")
        got = {name: str(reg.download(args.ref, out))}
    for note in missing.values():
        print(f"cardlens: note: {note}", file=sys.stderr)
    bundles = {}
    if args.bundle:
        from cardlens.export.bundle import export_bundle

        for b in args.bundle:
            fmt, _, precision = b.partition("-")
            if fmt not in ("onnx", "tflite", "coreml") or precision not in ("fp32", "fp16", "int8"):
                raise UsageError(f"--bundle {b!r}: expected FORMAT-PRECISION such as onnx-fp32")
            res = export_bundle(fmt, precision, out / "bundles", models_dir=out,
                                log=(lambda *a: None) if args.json else print)
            bundles[res.name] = res.folder
    if args.json:
        print(json.dumps({"models": got, "missing": missing, "bundles": bundles}))
    else:
        for n, p in got.items():
            print(f"{n} → {p}")
        for n, p in bundles.items():
            print(f"bundle {n} → {p}")
    return 0


def run_register_shipped(args: argparse.Namespace) -> int:
    from cardlens.mlops.registry import register_shipped

    reg = _registry(args)
    res = register_shipped(reg, alias=args.alias, update_cards=args.update_cards, card_uri=args.card_uri,
                           force=args.force)
    if args.json:
        print(json.dumps(res))
    elif res["registered"]:
        print(f"registered the shipped models as run {res['run_id']} in {reg.uri}: "
              + ", ".join(f"{n} v{res['versions'][n]}" for n in res["new"]) + f" (alias {res['alias']})"
              + ("; already held, unchanged: " + ", ".join(f"{n} v{v}" for n, v in res["kept"].items())
                 if res["kept"] else "")
              + ("; model cards updated" if res["cards_updated"] else ""))
    else:
        print(f"nothing to do: {res['reason']} (" + ", ".join(f"{n} v{v}" for n, v in res["versions"].items())
              + f"; run {res['run_id']})")
    return 0
