"""The cardlens training pipeline as cached steps (see :mod:`cardlens.mlops.cache`).

::

    data-detector-<set> ─┐  train-detector ─ train-verifier ─┐
    data-fields-<set>  ──┼─ train-fields   ──────────────────┼─ evaluate ─ package ─ export ─ bench ─ validate ─ register
    data-lines-<set>   ──┘  train-recognizer ────────────────┘
    data-eval ───────────────────────────────────────────────┘

- ``data-*``: ``cardlens synth`` sets (one step per set; ``data-eval`` renders the held-out sets);
- ``train-*``: the models, stage after stage (each stage starts from the previous one's weights);
  ``train-verifier`` (``cardlens train verifier``) learns from the boxes the *candidate* detector
  finds in the detector sets, so it is redone whenever that detector changes;
- ``evaluate``: detector (with its verifier, as production runs it), field locator, recognizer and the
  whole pipeline on the held-out synthetic sets and realcards-dev (when present), for the candidate
  and the production models alike;
- ``package``: the candidate's ``models/`` folder (the layout of ``cardlens/models``) with model cards;
- ``export``: the bundles (``cardlens export``) from that folder;
- ``bench``: ``cardlens.benchmarks.run_bench`` (quick) on the candidate models and bundles;
- ``validate``: the promotion gate (:mod:`cardlens.mlops.gate`) — it needs the bench's size and
  latency, so it runs after the bench;
- ``register``: one MLflow run with every parameter, figure and artifact; the four models
  registered with alias ``candidate``, and ``production`` when the gate passed.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from cardlens.errors import CardlensError, DependencyError
from cardlens.mlops.cache import Step, StepContext, StepResult, canonical, run_steps, sha256_file, sha256_text
from cardlens.mlops.config import DATA_KINDS, TRAIN_KINDS, VERIFIER_DATA
from cardlens.mlops.evaluation import EvalSets, easyocr_metrics, evaluate_models, gate_metrics
from cardlens.mlops.registry import LATER_NAMES, MODEL_NAMES, ROLES, SHIPPED_FILES

Log = Callable[[str], None]

SYNTH_CODE = ("synth/*.py", "cardrules/*.py", "data/fonts/*")
MODEL_CODE = ("modelspec.py", "detector/*.py", "ocr/*.py", "geometry.py", "imageio.py", "cardrules/*.py")
TRAIN_CODE = {
    "detector": ("training/yolo.py", "detector/train.py", "detector/arch/*.yaml", "detector/package.py",
                 "modelspec.py"),
    "fields": ("training/yolo.py", "ocr/locator_train.py", "ocr/arch/*.yaml", "modelspec.py"),
    "recognizer": ("training/recognizer.py", "ocr/recognizer_net.py", "ocr/charset.py", "modelspec.py"),
    # the trainer, the network and its crop (detector/verifier*.py), the detector inference the harvest
    # runs (the rest of detector/*.py: model, pre/post-processing, refinement, labels, packaging),
    # the ONNX export it shares with the recognizer, and what those read
    "verifier": ("training/verifier.py", "detector/verifier.py", "detector/verifier_net.py", "detector/*.py",
                 "training/recognizer.py", "geometry.py", "imageio.py", "modelspec.py"),
}
TRAIN_DESCRIPTIONS = {"detector": "train the card detector", "fields": "train the field locator",
                      "recognizer": "train the text recognizer",
                      "verifier": "train the card verifier on the candidate detector's boxes"}
VERIFIER_PACKAGES = ("torch", "onnx", "onnxruntime", "numpy", "opencv-python")
TRAIN_PACKAGES = ("torch", "torchvision", "ultralytics", "onnx", "numpy", "opencv-python")
EXPORT_PACKAGES = ("torch", "onnx", "onnxruntime", "onnxslim", "litert-torch", "ai-edge-litert",
                   "ai-edge-quantizer", "coremltools", "tensorflow")


# ---------------------------------------------------------------------- helpers
def _write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")


def realcards_path(cfg: Mapping) -> Path | None:
    p = cfg.get("eval", {}).get("realcards")
    if not p:
        return None
    p = Path(p)
    return p if (p / "labels.jsonl").is_file() else None


def realcards_identity(cfg: Mapping) -> str | None:
    """sha256 of realcards-dev's labels plus its image names and sizes (None when absent)."""
    p = realcards_path(cfg)
    if p is None:
        return None
    images = sorted((f.relative_to(p).as_posix(), f.stat().st_size) for f in (p / "images").rglob("*") if f.is_file()) \
        if (p / "images").is_dir() else []
    return sha256_text(sha256_file(p / "labels.jsonl") + canonical(images))


def host_identity() -> dict:
    import platform

    return {"machine": platform.machine(), "processor": platform.processor(), "cpus": os.cpu_count(),
            "node": platform.node()}


def _copy_model(src: Path, dst: Path, files=("model.onnx", "model.pt", "spec.json", "train_summary.json")) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for f in files:
        if (src / f).is_file():
            shutil.copyfile(src / f, dst / f)


def _data_step_name(kind: str, name: str) -> str:
    return f"data-{kind}-{name}"


# ---------------------------------------------------------------------- data
def _write_set(kind: str, out: Path, ds: Mapping, workers: int):
    from cardlens import synth

    common = dict(n=int(ds["n"]), seed=int(ds["seed"]), workers=workers, progress=False)
    vf = float(ds.get("val_fraction", 0.1))
    if kind == "detector":
        return synth.write_detector_set(out, imgsz=int(ds.get("imgsz", 640)), val_fraction=vf,
                                        negatives=float(ds.get("negatives", 0.1)), **common)
    if kind == "fields":
        return synth.write_field_set(out, val_fraction=vf, **common)
    if kind == "lines":
        return synth.write_line_set(out, val_fraction=vf, scene_size=int(ds.get("scene_size", 960)),
                                    card_scale=tuple(ds.get("card_scale", (0.6, 0.95))),
                                    corner_error=float(ds.get("corner_error", 0.012)), **common)
    if kind == "scans":
        return synth.write_scan_set(out, imgsz=int(ds.get("imgsz", 640)), **common)
    raise ValueError(kind)


def _set_outputs(kind: str, summary) -> dict:
    d = summary.to_dict()
    rel = {"detector": "data.yaml", "fields": "data.yaml", "lines": "manifest.jsonl", "scans": "labels.jsonl"}[kind]
    return {"n": d["n"], "train": d["train"], "val": d["val"], "negatives": d["negatives"], "entry": rel}


def data_step(kind: str, ds: Mapping) -> Step:
    def run(ctx: StepContext) -> dict:
        workers = int(ctx.full_config.get("workers", 1))
        ctx.log(f"  rendering {kind} set {ds['name']}: n={ds['n']} seed={ds['seed']}")
        summary = _write_set(kind, ctx.out / "set", ds, workers)
        return {"path": "set", **_set_outputs(kind, summary),
                "volatile": {"elapsed_s": summary.elapsed_s, "images_per_s": summary.images_per_s}}

    # the output is byte-identical for any number of workers, so 'workers' stays out of the key
    return Step(_data_step_name(kind, ds["name"]), run, config=lambda cfg: {"kind": kind, **dict(ds)},
                code=SYNTH_CODE, packages=("numpy", "opencv-python", "albumentations", "pillow"),
                description=f"cardlens synth {kind} ({ds['name']})")


EVAL_KINDS = {"detector": "detector", "fields": "fields", "lines": "lines", "scans": "scans"}


def data_eval_step() -> Step:
    def run(ctx: StepContext) -> dict:
        workers = int(ctx.full_config.get("workers", 1))
        out = {}
        for key, kind in EVAL_KINDS.items():
            ds = dict(ctx.config[key])
            if kind != "scans":
                ds.setdefault("val_fraction", 1.0)   # held out: everything is validation
            if kind == "detector":
                ds.setdefault("negatives", 0.1)
            marker = ctx.out / f".complete-{key}"
            target = ctx.out / key
            if not marker.is_file():  # resumable: finished sets are kept
                shutil.rmtree(target, ignore_errors=True)
                ctx.log(f"  rendering held-out {kind} set: n={ds['n']} seed={ds['seed']}")
                summary = _write_set(kind, target, ds, workers)
                marker.write_text(json.dumps(_set_outputs(kind, summary)))
            out[key] = {"path": key, **json.loads(marker.read_text())}
        return {"sets": out}

    return Step("data-eval", run, config=lambda cfg: cfg["eval"]["data"], code=SYNTH_CODE,
                packages=("numpy", "opencv-python", "albumentations", "pillow"), resumable=True,
                description="held-out synthetic evaluation sets")


# ---------------------------------------------------------------------- training
def _stage_data(ctx: StepContext, kind: str, name: str) -> Path:
    res = ctx.inputs[_data_step_name(kind, name)]
    return res.path(res.outputs["path"])


DETECTOR_THRESHOLDS = ("conf", "conf_verified")


def apply_detector_thresholds(folder: Path, tcfg: Mapping) -> dict:
    """Write ``train.detector``'s score thresholds (``conf``: the detector alone; ``conf_verified``: with
    the card verifier, as production runs it) into the model where they differ from what training wrote."""
    from cardlens.detector.package import set_thresholds

    return set_thresholds(folder, **{k: tcfg.get(k) for k in DETECTOR_THRESHOLDS})


def _train_yolo(model: str, ctx: StepContext) -> dict:
    import importlib

    from cardlens.commands.train import YOLO_MODELS
    from cardlens.training.yolo import YoloTrainConfig, train_yolo

    module, attr = YOLO_MODELS[model][2].split(":")
    recipe = getattr(importlib.import_module(module), attr)
    full = ctx.full_config
    tcfg = full["train"][model]
    stages = tcfg["stages"]
    prev: Path | None = None
    done_stages = []
    for i, st in enumerate(stages, 1):
        sdir = ctx.out / f"stage{i}"
        marker = sdir / "stage.json"
        if marker.is_file():  # finished in an earlier, interrupted attempt of this step
            ctx.log(f"  stage {i}/{len(stages)}: kept from the earlier attempt")
            done_stages.append(json.loads(marker.read_text()))
            prev = sdir / "model.pt"
            continue
        shutil.rmtree(sdir, ignore_errors=True)
        data = _stage_data(ctx, "detector" if model == "detector" else "fields", st["data"])
        ctx.log(f"  stage {i}/{len(stages)}: {st['epochs']} epochs on {st['data']}"
                + (" from the previous stage" if prev else " from scratch"))
        res = train_yolo(recipe, YoloTrainConfig(
            data=str(data / "data.yaml"), out=str(sdir), scale=tcfg.get("scale", "t"), imgsz=int(tcfg["imgsz"]),
            epochs=int(st["epochs"]), batch=int(st.get("batch", 32)), seed=int(st.get("seed", 0)),
            workers=int(st.get("workers", full.get("workers", 2))), threads=full.get("threads"),
            init=str(prev) if prev else None, device=str(st.get("device", full.get("device", "cpu"))),
            cache=st.get("cache"), export=i == len(stages), overrides=dict(st.get("set") or {})))
        info = {"stage": i, "data": st["data"], "epochs_run": res.epochs, "seconds": res.seconds,
                "metrics": res.metrics}
        _write_json(marker, info)
        done_stages.append(info)
        prev = sdir / "model.pt"
    final = ctx.out / "model"
    shutil.rmtree(final, ignore_errors=True)
    _copy_model(ctx.out / f"stage{len(stages)}", final)
    if model == "detector":
        apply_detector_thresholds(final, tcfg)
    return {"model": "model", "stages": [{k: s[k] for k in ("stage", "data", "epochs_run")} for s in done_stages],
            "volatile": {"seconds": [s["seconds"] for s in done_stages],
                         "metrics": [s["metrics"] for s in done_stages]}}


def _train_recognizer(ctx: StepContext) -> dict:
    from cardlens.training.recognizer import RecognizerTrainConfig, train_recognizer

    full = ctx.full_config
    tcfg = full["train"]["recognizer"]
    stages = tcfg["stages"]
    prev: Path | None = None
    done_stages = []
    for i, st in enumerate(stages, 1):
        sdir = ctx.out / f"stage{i}"
        marker = sdir / "stage.json"
        if marker.is_file():
            ctx.log(f"  stage {i}/{len(stages)}: kept from the earlier attempt")
            done_stages.append(json.loads(marker.read_text()))
            prev = sdir
            continue
        resume = (sdir / "last.pt").is_file()  # an interrupted stage continues from its last epoch
        init = None
        if prev is not None:
            init = str(prev / ("last.pt" if st.get("init") == "last" else "model.pt"))
        ctx.log(f"  stage {i}/{len(stages)}: {st['epochs']} epochs on {st['data']}"
                + (f" + {', '.join(st['extra_data'])}" if st.get("extra_data") else "")
                + (" (resuming)" if resume else ""))
        res = train_recognizer(RecognizerTrainConfig(
            data=str(_stage_data(ctx, "lines", st["data"])), out=str(sdir), epochs=int(st["epochs"]),
            batch=int(st.get("batch", 64)), lr=float(st.get("lr", 2e-3)), width=float(tcfg.get("width", 1.0)),
            seed=int(st.get("seed", 0)), threads=full.get("threads"), resume=resume, limit=st.get("limit"),
            init=init, extra_data=tuple(str(_stage_data(ctx, "lines", e)) for e in st.get("extra_data") or ()),
            stop_after=st.get("stop_after")))
        info = {"stage": i, "data": st["data"], "epochs_run": res.epochs, "seconds": res.seconds,
                "metrics": res.metrics}
        _write_json(marker, info)
        done_stages.append(info)
        prev = sdir
    final = ctx.out / "model"
    shutil.rmtree(final, ignore_errors=True)
    _copy_model(ctx.out / f"stage{len(stages)}", final)
    return {"model": "model", "stages": [{k: s[k] for k in ("stage", "data", "epochs_run")} for s in done_stages],
            "volatile": {"seconds": [s["seconds"] for s in done_stages],
                         "metrics": [s["metrics"] for s in done_stages]}}


def train_step(model: str, cfg: Mapping) -> Step:
    kind = TRAIN_KINDS[model]
    refs = []
    for st in cfg["train"][model]["stages"]:
        for ref in [st["data"], *(st.get("extra_data") or [])]:
            name = _data_step_name(kind, ref)
            if name not in refs:
                refs.append(name)

    def run(ctx: StepContext) -> dict:
        return _train_recognizer(ctx) if model == "recognizer" else _train_yolo(model, ctx)

    def key_config(c: Mapping) -> dict:
        # device, threads and worker count change speed, not the recipe… except that the device does
        # change numerics, so it stays in the key; threads and workers do not.
        return {"train": c["train"][model], "device": c.get("device", "cpu")}

    return Step(f"train-{model}", run, deps=tuple(refs), config=key_config, code=TRAIN_CODE[model],
                packages=TRAIN_PACKAGES, resumable=True, description=TRAIN_DESCRIPTIONS[model])


def _verifier_sets(cfg: Mapping) -> tuple[list[str], str | None]:
    vcfg = cfg["train"]["verifier"]
    return list(dict.fromkeys(vcfg["scenes"])), vcfg.get("val") or None


def verifier_step(cfg: Mapping) -> Step:
    """``cardlens train verifier`` on the pipeline's detector scenes, harvested with the candidate
    detector (``train-detector``'s model): its false boxes are the verifier's negatives, so a new
    detector means a new verifier. Not resumable (one short training): a failed attempt starts over."""
    scenes, val = _verifier_sets(cfg)
    refs = [_data_step_name(VERIFIER_DATA, n) for n in dict.fromkeys([*scenes, *([val] if val else [])])]

    def run(ctx: StepContext) -> dict:
        from cardlens.training.verifier import VerifierTrainConfig, train_verifier

        full = ctx.full_config
        vcfg = full["train"]["verifier"]
        detector = ctx.inputs["train-detector"].path("model")
        val_dir = None
        if val:
            res = ctx.inputs[_data_step_name(VERIFIER_DATA, val)]
            if int(res.outputs.get("val") or 0) > 0:
                val_dir = str(_stage_data(ctx, VERIFIER_DATA, val))
            else:
                ctx.log(f"  data.{VERIFIER_DATA}.{val} has no val split: the verifier is not measured")
        work = ctx.out / "train"
        shutil.rmtree(work, ignore_errors=True)
        ctx.log(f"  {vcfg['epochs']} epoch(s) at width {vcfg['width']} on the candidate detector's boxes in "
                + ", ".join(scenes) + (f" (measured on {val} val)" if val_dir else ""))
        res = train_verifier(VerifierTrainConfig(
            scenes=tuple(str(_stage_data(ctx, VERIFIER_DATA, n)) for n in scenes), out=str(work), val=val_dir,
            detector=str(detector), epochs=int(vcfg["epochs"]), batch=int(vcfg.get("batch", 64)),
            lr=float(vcfg.get("lr", 3e-3)), width=int(vcfg["width"]), seed=int(vcfg.get("seed", 0)),
            threads=full.get("threads"), workers=int(full.get("workers", 2)),
            harvest_conf=float(vcfg.get("harvest_conf", 0.05)),
            command=f"cardlens pipeline run --config {full.get('name', 'custom')} (step train-verifier)"))
        final = ctx.out / "model"
        shutil.rmtree(final, ignore_errors=True)
        _copy_model(work, final)
        return {"model": "model", "scenes": scenes, "val": val if val_dir else None, "epochs_run": res.epochs,
                "detector_onnx_sha256": sha256_file(detector / "model.onnx"), "crops": res.crops,
                "volatile": {"seconds": res.seconds, "metrics": res.metrics}}

    def key_config(c: Mapping) -> dict:
        # the harvest's crops do not depend on the worker count, and training runs on the CPU: neither
        # workers, threads nor the device are in the key
        return {"train": c["train"]["verifier"]}

    return Step("train-verifier", run, deps=("train-detector", *refs), config=key_config,
                code=TRAIN_CODE["verifier"], packages=VERIFIER_PACKAGES, description=TRAIN_DESCRIPTIONS["verifier"])


# ---------------------------------------------------------------------- evaluation

def _model_folders(ctx: StepContext) -> dict[str, Path]:
    return {role: ctx.inputs[f"train-{role}"].path("model") for role in ROLES}


def evaluate_step() -> Step:
    def run(ctx: StepContext) -> dict:
        ecfg = ctx.config
        sets_res = ctx.inputs["data-eval"]
        s = sets_res.outputs["sets"]
        sets = EvalSets(sets_res.path(s["detector"]["path"]) / "data.yaml",
                        sets_res.path(s["fields"]["path"]) / "data.yaml", sets_res.path(s["lines"]["path"]),
                        sets_res.path(s["scans"]["path"]), realcards_path(ctx.full_config))
        t0 = time.perf_counter()
        ctx.log("  candidate models")
        report: dict = {"realcards": str(sets.realcards) if sets.realcards else None,
                        "candidate": evaluate_models(_model_folders(ctx), sets, bool(ecfg.get("detector_map", True)),
                                                     ctx.log)}
        ref = ctx.env.get("reference") or {}
        if ecfg.get("reference", "production") != "none" and ref.get("models"):
            ctx.log(f"  production models ({ref['kind']}) on the same sets")
            folders = {role: Path(ref["models"]) / name for role, name in ROLES.items()}
            report["reference"] = evaluate_models(folders, sets, bool(ecfg.get("detector_map", True)), ctx.log)
            report["reference_source"] = {"kind": ref.get("kind"), "versions": ref.get("versions"),
                                          "notes": list(ref.get("notes") or [])}
        if ecfg.get("easyocr"):
            report["easyocr"] = easyocr_metrics(sets, ctx.log)
        _write_json(ctx.out / "eval.json", report)
        return {"report": "eval.json",
                "gate": {"candidate": gate_metrics(report["candidate"]), "reference": gate_metrics(report.get("reference")),
                         "easyocr": report.get("easyocr")},
                "volatile": {"seconds": round(time.perf_counter() - t0, 1)}}

    def inputs(cfg: Mapping, env: Mapping, upstream: Mapping[str, StepResult]) -> dict:
        measured = cfg["eval"].get("reference", "production") != "none"
        return {"realcards": realcards_identity(cfg),
                "reference": reference_key(env, candidate_shas(upstream)) if measured else None}

    return Step("evaluate", run, deps=("train-detector", "train-verifier", "train-fields", "train-recognizer",
                                       "data-eval"),
                config=lambda cfg: {k: v for k, v in cfg["eval"].items() if k != "data"},
                code=("scan_eval.py", "scanner.py", "mlops/evaluation.py", *MODEL_CODE), packages=("onnxruntime", "ultralytics"),
                inputs=inputs, description="evaluate candidate (and production) models")


# ---------------------------------------------------------------------- package / export / bench
def _render_card(info: dict) -> str:
    lines = [f"# {info['name']} — {info['role']} (cardlens pipeline)", "",
             f"Made by `cardlens pipeline run` with config `{info['config']}`"
             f" at commit `{info['code_commit']}`.", "", "## How it was made", ""]
    for st in info["stages"]:
        ds = st.get("dataset", {})
        extra = "".join(f" + {e['name']} (n={e['n']}, seed={e['seed']})" for e in st.get("extra_datasets", []))
        lines.append(f"- Stage {st['stage']}: data `{ds.get('name')}` (n={ds.get('n')}, seed={ds.get('seed')}){extra}; "
                     f"{st['epochs_run']} epochs; train settings `{json.dumps(st['train'], sort_keys=True)}`.")
    if info.get("harvested_with"):
        h = info["harvested_with"]
        lines.append(f"- Trained on the boxes the candidate `{h['model']}` (ONNX sha256 `{h['onnx_sha256']}`) "
                     f"found in those scenes; crops: `{json.dumps(info.get('crops'), sort_keys=True)}`.")
    lines += ["", "| file | size | sha256 |", "|---|---|---|"]
    lines += [f"| `{f}` | {size / 1e6:.2f} MB | `{sha}` |" for f, size, sha in info["files"]]
    lines += ["", "## Measured (held-out synthetic sets; realcards-dev when present)", "", "```",
              json.dumps(info["metrics"], indent=2), "```", ""]
    if info.get("registry"):
        r = info["registry"]
        lines += ["## Registry", "", f"- Run `{r['run_id']}` in experiment `{r['experiment']}` of `{r['tracking_uri']}`; "
                  f"registered model `{r['registered_model']}` version {r['version']}.", ""]
    return "\n".join(lines)


def package_step() -> Step:
    def run(ctx: StepContext) -> dict:
        from cardlens.detector.modelcard import git_commit
        from cardlens.modelspec import ModelSpec, sha256_of

        cfg = ctx.full_config
        report = json.loads(ctx.inputs["evaluate"].path("eval.json").read_text())["candidate"]
        metric_part = {"detector": {"detector": report.get("detector"), "verifier": report.get("verifier"),
                                    "scan": report.get("scan")},
                       "fields": {"fields": report.get("fields")},
                       "recognizer": {"recognizer": report.get("recognizer"), "scan": report.get("scan")},
                       "verifier": {"verifier": report.get("verifier"), "detector": report.get("detector"),
                                    "scan": report.get("scan")}}
        models = ctx.out / "models"
        out = {}
        for role, name in ROLES.items():
            tr = ctx.inputs[f"train-{role}"]
            dst = models / name
            _copy_model(tr.path("model"), dst)
            spec = ModelSpec.load(dst / "spec.json")
            extra = {}
            if role == "verifier":
                # one training on the detector sets, harvested with the candidate detector
                sets = {d["name"]: d for d in cfg["data"][VERIFIER_DATA]}
                vcfg = cfg["train"]["verifier"]
                scenes = tr.outputs["scenes"]
                stages = [{"stage": 1, "epochs_run": tr.outputs["epochs_run"], "dataset": sets[scenes[0]],
                           "extra_datasets": [sets[n] for n in scenes[1:]],
                           "train": {k: v for k, v in vcfg.items() if k not in ("scenes", "val")}}]
                settings = {"val": tr.outputs.get("val")}
                extra = {"harvested_with": {"model": ROLES["detector"],
                                            "onnx_sha256": tr.outputs["detector_onnx_sha256"]},
                         "crops": tr.outputs.get("crops")}
            else:
                sets = {d["name"]: d for d in cfg["data"][TRAIN_KINDS[role]]}
                stages = []
                for st_cfg, st_out in zip(cfg["train"][role]["stages"], tr.outputs["stages"], strict=True):
                    stages.append({"stage": st_out["stage"], "epochs_run": st_out["epochs_run"],
                                   "dataset": sets[st_cfg["data"]],
                                   "extra_datasets": [sets[e] for e in st_cfg.get("extra_data") or ()],
                                   "train": {k: v for k, v in st_cfg.items() if k not in ("data", "extra_data")}})
                settings = {k: v for k, v in cfg["train"][role].items() if k != "stages"}
            info = {"name": spec.name, "role": role, "made_by": "cardlens pipeline", "config": cfg.get("name"),
                    "config_source": cfg.get("source"), "code_commit": git_commit(Path(__file__).resolve().parents[2]),
                    "model_settings": settings, "stages": stages, **extra, "metrics": metric_part[role],
                    "files": [(f, (dst / f).stat().st_size, sha256_of(dst / f)) for f in ("model.onnx", "model.pt")],
                    "pipeline": {"train_step": tr.key[:16], "evaluate_step": ctx.inputs["evaluate"].key[:16]}}
            _write_json(dst / "model_card.json", info)
            (dst / "MODEL_CARD.md").write_text(_render_card(info))
            out[name] = f"models/{name}"
        return {"models": "models", "folders": out}

    return Step("package", run, deps=("train-detector", "train-verifier", "train-fields", "train-recognizer",
                                      "evaluate"),
                config=lambda cfg: {"name": cfg.get("name"), "data": cfg["data"], "train": cfg["train"]},
                code=("mlops/steps.py",), description="the candidate's models/ folder with model cards")


def export_step() -> Step:
    def run(ctx: StepContext) -> dict:
        from cardlens.errors import NotAvailableError
        from cardlens.export.bundle import export_bundle
        from cardlens.export.summary import write_summary

        xcfg = ctx.config
        models = ctx.inputs["package"].path("models")
        out = ctx.out / "bundles"
        out.mkdir(parents=True, exist_ok=True)
        results, refused, cache = [], [], {}
        for b in xcfg.get("bundles") or []:
            fmt, _, precision = b.partition("-")
            ctx.log(f"  {b}")
            try:
                results.append(export_bundle(fmt, precision, out, datasets=None,
                                             n_calibration=int(xcfg.get("n_calibration", 32)),
                                             n_validation=int(xcfg.get("n_validation", 12)), cache=cache,
                                             log=lambda m: ctx.log("  " + m), models_dir=models))
            except NotAvailableError as exc:
                refused.append({"bundle": b, "reason": str(exc)})
                ctx.log(f"  {b} not produced: {exc}")
        write_summary(out, results, refused, [])
        return {"bundles": {r.name: f"bundles/{r.name}" for r in results}, "refused": refused,
                "sizes": {r.name: sum(m.bytes for m in r.models) for r in results}}

    return Step("export", run, deps=("package",), config=lambda cfg: cfg["export"], code=("export/*.py",),
                packages=EXPORT_PACKAGES, description="export bundles")


def _bench_callable():
    try:
        from cardlens.benchmarks import run_bench
    except ImportError as exc:
        if isinstance(exc, DependencyError):
            raise
        raise DependencyError("the bench step needs cardlens.benchmarks.run_bench (issue #7), which this "
                              f"checkout lacks ({exc}); set bench.enabled: false to skip it (the promotion "
                              "gate then refuses unless gate.require_bench is false)") from None
    return run_bench


def bench_step() -> Step:
    def run(ctx: StepContext) -> dict:
        import inspect

        bcfg = ctx.config
        if not bcfg.get("enabled", True):
            return {"summary": None, "skipped": "bench.enabled is false"}
        run_bench = _bench_callable()
        models = ctx.inputs["package"].path("models")
        exp = ctx.inputs["export"]
        bundles = [exp.path(p) for p in exp.outputs["bundles"].values()]
        kwargs = dict(out=ctx.out / "bench", quick=bool(bcfg.get("quick", True)), models=models, bundles=bundles,
                      baselines=bcfg.get("baselines", True), runs=bcfg.get("runs"), n_images=bcfg.get("n_images"))
        options = dict(bcfg.get("options") or {})
        accepted = inspect.signature(run_bench).parameters
        takes_any = any(p.kind == p.VAR_KEYWORD for p in accepted.values())
        for k, v in options.items():
            if k in accepted or takes_any:
                kwargs[k] = tuple(v) if isinstance(v, list) else v
            else:
                ctx.log(f"  bench option {k!r} is not a run_bench parameter: ignored")
        if "log" in accepted or takes_any:
            kwargs["log"] = lambda m: ctx.log("  " + str(m))
        if "realcards" in accepted or takes_any:
            kwargs["realcards"] = realcards_path(ctx.full_config)
        ctx.log("  candidate")
        summary = dict(run_bench(**kwargs).get("summary") or {})
        _write_json(ctx.out / "summary.json", summary)
        reference = None
        ref = ctx.env.get("reference") or {}
        if bcfg.get("reference", True) and ref.get("models"):
            # the production models, same settings, no bundles: the budgets they already miss are not
            # held against the candidate (see cardlens.mlops.gate)
            ctx.log(f"  production models ({ref['kind']})")
            reference = dict(run_bench(**{**kwargs, "out": ctx.out / "bench-production", "models": Path(ref["models"]),
                                          "bundles": []}).get("summary") or {})
            _write_json(ctx.out / "summary-production.json", reference)
        return {"summary": summary, "production_summary": reference,
                "results": "bench/results.json" if (ctx.out / "bench" / "results.json").is_file() else None}

    def inputs(cfg: Mapping, env: Mapping, upstream: Mapping[str, StepResult]) -> dict:
        return {"host": host_identity(), "realcards": realcards_identity(cfg),
                "reference": reference_key(env, candidate_shas(upstream)) if cfg["bench"].get("reference", True)
                else None}

    return Step("bench", run, deps=("package", "export"), config=lambda cfg: cfg["bench"],
                code=("benchmarks/*.py",), packages=("onnxruntime", "ai-edge-litert"), inputs=inputs,
                description="cardlens bench --quick on the candidate")


# ---------------------------------------------------------------------- gate / register
def validate_step() -> Step:
    def run(ctx: StepContext) -> dict:
        from cardlens.mlops.gate import GatePolicy, promotion_gate

        ev = ctx.inputs["evaluate"].outputs["gate"]
        ref = ctx.env.get("reference") or {}
        if ev.get("reference"):
            production, source = ev["reference"], f"measured in this run ({ref.get('kind')})"
        else:
            production, source = ref.get("recorded"), f"recorded figures ({ref.get('kind', 'none')})"
        easyocr = ev.get("easyocr") or ctx.env.get("easyocr_recorded")
        easy_source = "measured in this run" if ev.get("easyocr") else "recorded (text-recognizer model card)"
        bench = ctx.inputs["bench"].outputs.get("summary")
        production_bench = ctx.inputs["bench"].outputs.get("production_summary")
        decision = promotion_gate(ev["candidate"], production, easyocr, bench, GatePolicy.from_config(ctx.config),
                                  production_bench=production_bench)
        data = {**decision.to_dict(), "production_source": source, "easyocr_source": easy_source,
                "candidate": ev["candidate"], "production": production, "easyocr": easyocr,
                "bench": bench, "production_bench": production_bench}
        _write_json(ctx.out / "gate.json", data)
        (ctx.out / "GATE.md").write_text(decision.to_markdown() + f"\nProduction figures: {source}. "
                                         f"EasyOCR figures: {easy_source}.\n")
        ctx.log("  " + decision.summary())
        return {"promote": decision.promote, "reasons": list(decision.reasons), "report": "gate.json",
                "reference_key": reference_key(ctx.env, candidate_shas(ctx.inputs)),
                "reference": ref.get("identity")}

    def inputs(cfg: Mapping, env: Mapping, upstream: Mapping[str, StepResult]) -> dict:
        return {"reference": reference_key(env, candidate_shas(upstream)), "easyocr": env.get("easyocr_recorded")}

    return Step("validate", run, deps=("package", "evaluate", "bench"), config=lambda cfg: cfg["gate"],
                code=("mlops/gate.py",), inputs=inputs, description="promotion gate")


def register_step() -> Step:
    def run(ctx: StepContext) -> dict:
        from cardlens.detector.modelcard import git_commit
        from cardlens.mlops.registry import (
            Registry,
            metric_key,
            numeric_metrics,
            param_values,
            registry_card_field,
            weights_tags,
            write_registry_field,
        )

        cfg, rcfg = ctx.full_config, ctx.config
        gate = ctx.inputs["validate"]
        promote = bool(gate.outputs["promote"])
        reg = Registry(ctx.env["tracking_uri"], data=ctx.env.get("data_dir"), experiment=rcfg.get("experiment", "cardlens"))
        ctx.log(f"  MLflow store {reg.uri}")
        commit = git_commit(Path(__file__).resolve().parents[2])
        run_id = reg.start_run(f"pipeline-{cfg.get('name', 'custom')}", tags={
            "cardlens.kind": "pipeline", "cardlens.config": cfg.get("name"), "cardlens.code_commit": commit,
            "gate": "passed" if promote else "refused", "gate_reasons": "; ".join(gate.outputs["reasons"])[:5000]})
        try:
            evaluation = json.loads(ctx.inputs["evaluate"].path("eval.json").read_text())
            params = param_values({"data": cfg["data"], "train": cfg["train"], "eval": cfg["eval"],
                                   "export": cfg["export"], "bench": cfg["bench"], "gate": cfg["gate"],
                                   "device": cfg.get("device"), "config": cfg.get("name")})
            metrics = {}
            metrics.update(numeric_metrics(evaluation.get("candidate"), "eval."))
            metrics.update(numeric_metrics(evaluation.get("reference"), "reference."))
            metrics.update(numeric_metrics(evaluation.get("easyocr"), "easyocr."))
            metrics.update(numeric_metrics({k: v for k, v in ctx.inputs["evaluate"].outputs["gate"]["candidate"].items()
                                            if v is not None}, "gate."))
            bench = ctx.inputs["bench"].outputs.get("summary")
            if bench:
                metrics.update(numeric_metrics(bench, "bench."))
            prod_bench = ctx.inputs["bench"].outputs.get("production_summary")
            if prod_bench:
                metrics.update(numeric_metrics(prod_bench, "bench_production."))
            for role in ROLES:
                tr = ctx.inputs[f"train-{role}"]
                rec = json.loads((tr.folder / "done.json").read_text())
                metrics.update(numeric_metrics(rec["outputs"].get("volatile", {}), f"train.{role}."))
            metrics.update(numeric_metrics(ctx.inputs["export"].outputs.get("sizes"), "export.size_bytes."))
            tags = {f"step.{n}": r.key[:16] for n, r in ctx.inputs.items()}
            for prefix, summ in (("bench.budget.", bench), ("bench_production.budget.", prod_bench)):
                tags.update({metric_key(prefix + k): v for k, v in ((summ or {}).get("budget_verdicts") or {}).items()})
            reg.log(run_id, params=params, metrics=metrics, tags=tags)
            staging = ctx.out / "staging"
            shutil.rmtree(staging, ignore_errors=True)
            models = ctx.inputs["package"].path("models")
            predicted = {n: reg.next_version(n) for n in MODEL_NAMES}
            for name in MODEL_NAMES:
                dst = staging / "models" / name
                dst.mkdir(parents=True)
                for f in (*SHIPPED_FILES, "train_summary.json"):
                    if (models / name / f).is_file():
                        shutil.copyfile(models / name / f, dst / f)
                write_registry_field(dst, registry_card_field(run_id, name, predicted[name], "candidate", reg.uri,
                                                              reg.experiment))
                reg.log_artifacts(run_id, dst, f"models/{name}")
            reports = staging / "reports"
            reports.mkdir()
            shutil.copyfile(ctx.inputs["evaluate"].path("eval.json"), reports / "eval.json")
            for f in ("gate.json", "GATE.md"):
                shutil.copyfile(gate.path(f), reports / f)
            bench_dir = ctx.inputs["bench"].path("bench")
            for f in ("results.json", "REPORT.md"):
                if (bench_dir / f).is_file():
                    shutil.copyfile(bench_dir / f, reports / f"bench-{f}")
            export_summary = ctx.inputs["export"].path("bundles/SUMMARY.md")
            if export_summary.is_file():
                shutil.copyfile(export_summary, reports / "export-SUMMARY.md")
            import yaml

            (reports / "config.yaml").write_text(yaml.safe_dump({k: v for k, v in cfg.items() if k != "source"},
                                                                sort_keys=False))
            reg.log_artifacts(run_id, reports, "reports")
            if rcfg.get("log_bundles", True):
                exp = ctx.inputs["export"]
                for bname, rel in exp.outputs["bundles"].items():
                    reg.log_artifacts(run_id, exp.path(rel), f"bundles/{bname}")
            versions = {}
            for name in MODEL_NAMES:
                tags = {**weights_tags(models / name), "origin": "pipeline", "config": cfg.get("name"),
                        "gate": "passed" if promote else "refused",
                        "gate_reasons": "; ".join(gate.outputs["reasons"])[:5000],
                        "gate_reference_key": gate.outputs["reference_key"],
                        "gate_reference": canonical(gate.outputs.get("reference"))[:5000]}
                versions[name] = reg.register(name, run_id, f"models/{name}", tags)
                reg.set_alias(name, "candidate", versions[name])
            promoted = promote and bool(rcfg.get("promote", True))
            if promoted:
                for name in MODEL_NAMES:
                    reg.set_alias(name, "production", versions[name])
            reg.end_run(run_id)
        except BaseException:
            reg.end_run(run_id, "FAILED")
            raise
        shutil.rmtree(staging, ignore_errors=True)
        mismatch = {n: versions[n] for n in MODEL_NAMES if versions[n] != predicted[n]}
        if mismatch:
            ctx.log(f"  note: another writer registered versions meanwhile; cards in the run name {predicted}")
        out = {"run_id": run_id, "tracking_uri": reg.uri, "experiment": reg.experiment, "versions": versions,
               "promoted": promoted, "aliases": ["candidate"] + (["production"] if promoted else [])}
        _write_json(ctx.out / "registered.json", out)
        ctx.log(f"  run {run_id}: " + ", ".join(f"{n} v{v}" for n, v in versions.items())
                + (" → production" if promoted else " (candidate only)"))
        return out

    def inputs(cfg: Mapping, env: Mapping, upstream: Mapping[str, StepResult]) -> dict:
        return {"tracking_uri": env.get("tracking_uri")}

    return Step("register", run, deps=("train-detector", "train-verifier", "train-fields", "train-recognizer",
                                       "evaluate", "package", "export", "bench", "validate"),
                config=lambda cfg: cfg["register"], code=("mlops/registry.py",), inputs=inputs,
                description="MLflow run + model versions")


def build_steps(cfg: Mapping) -> list[Step]:
    steps = [data_step(kind, ds) for kind in DATA_KINDS for ds in cfg["data"][kind]]
    steps.append(data_eval_step())
    for m in TRAIN_KINDS:
        steps.append(train_step(m, cfg))
        if m == "detector":  # the verifier learns from the candidate detector's boxes
            steps.append(verifier_step(cfg))
    steps += [evaluate_step(), package_step(), export_step(), bench_step(), validate_step(), register_step()]
    return steps


# ---------------------------------------------------------------------- the production reference
def shipped_reference() -> dict:
    from cardlens.export.sources import MODELS
    from cardlens.mlops.gate import recorded_shipped_metrics

    identity = {n: sha256_file(MODELS / n / "spec.json") for n in MODEL_NAMES}
    return {"kind": "shipped", "models": str(MODELS), "identity": identity,
            "recorded": recorded_shipped_metrics(MODELS)[0], "versions": None}


def resolve_reference(registry, data: Path, download: bool, log: Log) -> dict:
    """The production models to beat: the registry's ``production`` versions when the detector, field
    locator and recognizer all have one, else the shipped models. Registry versions are downloaded
    under ``<data>/pipeline/_reference``.

    A store whose production was registered before the card verifier was versioned has no
    ``card-verifier@production``: that production ran with the shipped verifier (bundles and
    ``CardDetector.load`` took it), so the shipped verifier stands in, in the folder and in the
    identity, and the log and ``notes`` say so."""
    if registry is None:
        return shipped_reference()
    from cardlens.export.sources import MODELS

    held = {n: registry.by_alias(n, "production") for n in MODEL_NAMES}
    if not all(held[n] for n in MODEL_NAMES if n not in LATER_NAMES):
        if any(held.values()):
            missing = [n for n, v in held.items() if v is None]
            log(f"registry: {', '.join(missing)} has no 'production' version; comparing with the shipped models")
        return shipped_reference()
    stand_in = [n for n in LATER_NAMES if held[n] is None]
    notes = [f"{n}: no 'production' version in the registry (production was registered before the card "
             f"verifier was versioned); the shipped {n} stands in, as it did for that production" for n in stand_in]
    for note in notes:
        log(f"registry: {note}")
    versions = {n: v for n, v in held.items() if v is not None}
    identity = {n: f"{v.name}@{v.version}:{v.tags.get('onnx_sha256', v.run_id)}" for n, v in versions.items()}
    identity.update({n: f"shipped:{sha256_file(MODELS / n / 'spec.json')}" for n in stand_in})
    folder = data / "pipeline" / "_reference" / sha256_text(canonical(identity))[:16]
    if download and not (folder / ".complete").is_file():
        log(f"registry: fetching the production models ({', '.join(f'{n} v{v.version}' for n, v in versions.items())})")
        for n in versions:
            registry.download(f"{n}@production", folder)
        for n in stand_in:
            shutil.rmtree(folder / n, ignore_errors=True)
            _copy_model(MODELS / n, folder / n, SHIPPED_FILES)
        (folder / ".complete").write_text(json.dumps(identity))
    recorded = None
    run_id = held[MODEL_NAMES[0]].run_id
    if run_id:
        try:
            m = registry.run_info(run_id)["metrics"]
            recorded = {k[len("gate."):]: v for k, v in m.items() if k.startswith("gate.")} or None
        except Exception:  # noqa: BLE001 - the run may live elsewhere; the figures are then re-measured only
            recorded = None
    keys = {v.tags.get("gate_reference_key") for v in versions.values()}
    return {"kind": "registry", "models": str(folder) if download else None, "identity": identity,
            "recorded": recorded, "versions": {n: v.version for n, v in versions.items()},
            "held_shas": {n: v.tags.get("onnx_sha256") for n, v in versions.items()},
            "held_reference_key": keys.pop() if len(keys) == 1 else None, "notes": notes}


def candidate_shas(upstream: Mapping[str, StepResult]) -> dict[str, str] | None:
    """The candidate's ONNX sha256 per model, from the packaged folder or the training steps."""
    if "package" in upstream:
        pkg = upstream["package"]
        folders = {name: pkg.path(pkg.outputs["models"]) / name for name in MODEL_NAMES}
    elif all(f"train-{role}" in upstream for role in ROLES):
        folders = {name: upstream[f"train-{role}"].path("model") for role, name in ROLES.items()}
    else:
        return None
    return {name: sha256_file(folder / "model.onnx") for name, folder in folders.items()}


def reference_key(env: Mapping, candidate: Mapping[str, str] | None) -> str | None:
    """What the candidate is compared with, as cache-key material.

    Normally the current production models (and their recorded figures). Once this very candidate has
    been promoted, production *is* the candidate; its versions carry the key of the production it was
    judged against (tag ``gate_reference_key``), and that is used instead: a re-run after a promotion
    finds every step cached rather than re-judging the candidate against itself."""
    ref = env.get("reference") or {}
    if candidate and ref.get("held_shas") == dict(candidate) and ref.get("held_reference_key"):
        return ref["held_reference_key"]
    return sha256_text(canonical({"identity": ref.get("identity"), "recorded": ref.get("recorded")}))


@dataclass(frozen=True)
class PipelineOutcome:
    run: dict
    gate: dict | None
    registered: dict | None
    tracking_uri: str

    def to_dict(self) -> dict:
        return asdict(self)


def run_pipeline(cfg: Mapping, data: str | Path, force=(), until: str | None = None, tracking_uri: str | None = None,
                 log: Log = print, steps: list[Step] | None = None) -> PipelineOutcome:
    """Run (or resume, or confirm cached) the whole chain for ``cfg`` under ``<data>/pipeline``."""
    from cardlens.mlops.gate import recorded_shipped_metrics
    from cardlens.mlops.registry import Registry, resolve_tracking_uri

    data = Path(data)
    uri = resolve_tracking_uri(tracking_uri, cfg["register"].get("tracking_uri"), data)
    try:
        registry = Registry(uri, data=data, experiment=cfg["register"].get("experiment", "cardlens"))
    except DependencyError as exc:
        log(f"registry: {exc}; comparing with the shipped models")
        registry = None
    download = cfg["eval"].get("reference", "production") != "none"
    reference = resolve_reference(registry, data, download, log)
    from cardlens.export.sources import MODELS

    env = {"data_dir": str(data), "tracking_uri": uri, "reference": reference,
           "easyocr_recorded": recorded_shipped_metrics(MODELS)[1]}
    log(f"pipeline '{cfg.get('name')}' in {data / 'pipeline'}; production reference: {reference['kind']}"
        + (f" ({', '.join(f'{k} v{v}' for k, v in reference['versions'].items())})" if reference.get("versions") else ""))
    result = run_steps(steps or build_steps(cfg), cfg, data / "pipeline", force=force, env=env, log=log, until=until)
    gate = result.results["validate"].outputs if "validate" in result.results else None
    reg = result.results["register"].outputs if "register" in result.results else None
    return PipelineOutcome(result.to_dict(), gate, reg, uri)


class CandidateRefused(CardlensError):
    exit_code = 3


__all__ = ["build_steps", "run_pipeline", "PipelineOutcome", "evaluate_models", "gate_metrics", "StepResult",
           "CandidateRefused"]
