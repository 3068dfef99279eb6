"""Pipeline configuration: YAML files, ``extends`` for small variations, validation with messages."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path

from cardlens.errors import UsageError

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
SECTIONS = ("data", "train", "eval", "export", "bench", "gate", "register")
DATA_KINDS = ("detector", "fields", "lines")
TRAIN_KINDS = {"detector": "detector", "fields": "fields", "recognizer": "lines"}
# the card verifier has no stages: one training on data.detector scenes, harvested with the candidate detector
VERIFIER_DATA = "detector"


def builtin_configs() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def deep_merge(base: Mapping, over: Mapping) -> dict:
    """Dicts merge key by key; anything else (lists included) in ``over`` replaces ``base``."""
    out = copy.deepcopy(dict(base))
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _resolve(ref: str | Path, relative_to: Path | None = None) -> Path:
    p = Path(ref)
    if p.suffix in (".yaml", ".yml"):
        for cand in ([relative_to / p] if relative_to and not p.is_absolute() else []) + [p]:
            if cand.is_file():
                return cand
        raise UsageError(f"pipeline config {ref} not found")
    builtin = CONFIG_DIR / f"{ref}.yaml"
    if builtin.is_file():
        return builtin
    raise UsageError(f"no pipeline config named {ref!r} (built in: {', '.join(builtin_configs())}; "
                     "or give a path to a .yaml file)")


def load_config(ref: str | Path | None = None, overrides: Mapping | None = None, _seen: tuple = ()) -> dict:
    """A built-in config by name (``default``, ``tiny``) or a YAML path; ``extends: NAME|PATH`` inherits."""
    import yaml

    path = _resolve(ref or "default")
    if path.resolve() in _seen:
        raise UsageError(f"pipeline config {path} extends itself")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise UsageError(f"pipeline config {path} is not valid YAML: {exc}") from None
    if not isinstance(raw, Mapping):
        raise UsageError(f"pipeline config {path} must be a mapping")
    parent = raw.pop("extends", None)
    if parent:
        base = load_config(_resolve(parent, path.parent), None, _seen + (path.resolve(),))
        base.pop("source", None)
        raw = deep_merge(base, raw)
    cfg = deep_merge(raw, overrides or {})
    cfg["source"] = str(path)
    if not _seen:
        validate(cfg)
    return cfg


def validate(cfg: Mapping) -> None:
    """Fail early, with the config key, on the mistakes that would otherwise fail hours in."""
    for section in SECTIONS:
        if not isinstance(cfg.get(section), Mapping):
            raise UsageError(f"pipeline config: section '{section}' is missing or not a mapping")
    names: dict[str, set[str]] = {}
    for kind in DATA_KINDS:
        sets = cfg["data"].get(kind) or []
        if not isinstance(sets, list) or not sets:
            raise UsageError(f"pipeline config: data.{kind} must be a non-empty list of datasets")
        seen = set()
        for i, ds in enumerate(sets):
            for key in ("name", "n", "seed"):
                if key not in ds:
                    raise UsageError(f"pipeline config: data.{kind}[{i}] needs '{key}'")
            if ds["name"] in seen:
                raise UsageError(f"pipeline config: data.{kind} has two datasets named {ds['name']!r}")
            if int(ds["n"]) < 2:
                raise UsageError(f"pipeline config: data.{kind}.{ds['name']}: n must be ≥ 2")
            seen.add(ds["name"])
        names[kind] = seen
    for model, kind in TRAIN_KINDS.items():
        tcfg = cfg["train"].get(model)
        if not isinstance(tcfg, Mapping) or not tcfg.get("stages"):
            raise UsageError(f"pipeline config: train.{model}.stages must list at least one stage")
        for i, st in enumerate(tcfg["stages"]):
            refs = [st.get("data")] + list(st.get("extra_data") or [])
            for ref in refs:
                if ref not in names[kind]:
                    raise UsageError(f"pipeline config: train.{model}.stages[{i}] uses data {ref!r}, not one of "
                                     f"data.{kind}: {sorted(names[kind])}")
            if int(st.get("epochs", 0)) < 1:
                raise UsageError(f"pipeline config: train.{model}.stages[{i}].epochs must be ≥ 1")
    _validate_verifier(cfg["train"].get("verifier"), names[VERIFIER_DATA])
    for key in ("detector", "fields", "lines", "scans"):
        ev = cfg["eval"].get("data", {}).get(key)
        if not isinstance(ev, Mapping) or "n" not in ev or "seed" not in ev:
            raise UsageError(f"pipeline config: eval.data.{key} needs n and seed")
    for b in cfg["export"].get("bundles") or []:
        fmt, _, precision = str(b).partition("-")
        if fmt not in ("onnx", "tflite", "coreml") or precision not in ("fp32", "fp16", "int8"):
            raise UsageError(f"pipeline config: export.bundles entry {b!r} is not FORMAT-PRECISION "
                             "(onnx|tflite|coreml - fp32|fp16|int8)")


def _validate_verifier(vcfg, sets: set[str]) -> None:
    where = "pipeline config: train.verifier"
    if not isinstance(vcfg, Mapping):
        raise UsageError(f"{where} is missing or not a mapping (the card verifier's recipe: scenes, epochs, "
                         "width, seed; see cardlens/mlops/configs/default.yaml)")
    scenes = vcfg.get("scenes")
    if not isinstance(scenes, list) or not scenes:
        raise UsageError(f"{where}.scenes must list at least one of data.{VERIFIER_DATA}: {sorted(sets)}")
    for ref in scenes + ([vcfg["val"]] if vcfg.get("val") else []):
        if ref not in sets:
            raise UsageError(f"{where} uses data {ref!r}, not one of data.{VERIFIER_DATA}: {sorted(sets)}")
    for key in ("epochs", "width"):
        try:
            ok = int(vcfg.get(key, 0)) >= 1
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise UsageError(f"{where}.{key} must be an integer ≥ 1 (got {vcfg.get(key)!r})")
    conf = vcfg.get("harvest_conf", 0.05)
    if not isinstance(conf, int | float) or not 0 <= conf < 1:
        raise UsageError(f"{where}.harvest_conf must be a score in [0, 1) (got {conf!r})")
