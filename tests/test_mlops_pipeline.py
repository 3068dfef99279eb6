"""The training pipeline wired end to end, offline, on a temporary data folder and MLflow store.

- ``test_pipeline_wiring_promotes_then_caches_then_refuses_a_worse_candidate`` (default suite): the
  tiny config with the three training steps replaced by copies of the shipped models (training is what
  takes time) and a stand-in for ``run_bench``; synth, evaluation, packaging, ONNX export, the gate
  and the registry are the real ones.
- ``test_tiny_pipeline_end_to_end`` (``slow``): the same config with real training and the real bench.
"""

import json
import shutil

import pytest
from conftest import need

from cardlens.cli import main
from cardlens.errors import UsageError
from cardlens.export.sources import MODELS
from cardlens.mlops import steps as steps_mod
from cardlens.mlops.cache import Step
from cardlens.mlops.config import load_config

NAMES = ("card-detector", "field-locator", "text-recognizer")


@pytest.fixture
def heavy_imports_done():
    """Import mlflow and ultralytics before the network guard: both pull in urllib3, which probes IPv6
    support at import with a socket on ::1 (no traffic, but the guard counts sockets)."""
    need("mlflow")
    need("ultralytics")
    from cardlens.offline import import_mlflow, import_ultralytics

    import_mlflow()
    import mlflow.artifacts  # noqa: F401
    from mlflow import MlflowClient  # noqa: F401

    import_ultralytics()


def write_config(tmp_path, **over) -> str:
    import yaml

    cfg = {"extends": "tiny", "name": "wiring",
           "eval": {"reference": "production", "data": {"detector": {"n": 3, "seed": 61, "imgsz": 320}}},
           "bench": {"reference": True}, "gate": {"tolerances": {"detector_recall": 0.05}}}
    for k, v in over.items():
        cfg[k] = {**cfg.get(k, {}), **v}
    path = tmp_path / "wiring.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def fake_train_step(model, cfg):
    """The real step's name, dependencies and key, but 'training' copies the shipped model (and applies
    the config's detector threshold the way the real step does)."""
    real = steps_mod.train_step(model, cfg) if not hasattr(fake_train_step, "real") else fake_train_step.real(model, cfg)
    role_dir = MODELS / dict(zip(("detector", "fields", "recognizer"), NAMES, strict=True))[model]

    def run(ctx):
        out = ctx.out / "model"
        out.mkdir(parents=True)
        for f in ("model.onnx", "model.pt", "spec.json"):
            shutil.copyfile(role_dir / f, out / f)
        conf = ctx.full_config["train"][model].get("conf")
        if model == "detector" and conf is not None and conf != 0.25:
            from cardlens.detector.package import set_threshold

            set_threshold(out, float(conf))
        stages = ctx.full_config["train"][model]["stages"]
        return {"model": "model", "stages": [{"stage": i, "data": s["data"], "epochs_run": 0}
                                             for i, s in enumerate(stages, 1)]}

    return Step(real.name, run, deps=real.deps, config=real.config, code=real.code, resumable=True,
                description=real.description)


def fake_bench(calls):
    def run_bench(*, out, quick=True, models=None, bundles=(), baselines=True, runs=None, n_images=None, **kw):
        calls.append({"models": str(models), "bundles": [str(b) for b in bundles], "runs": runs,
                      "n_images": n_images, "baselines": baselines})
        out.mkdir(parents=True, exist_ok=True)
        summary = {"pipeline_p90_ms": 50.0, "pipeline_size_bytes": 7_000_000, "pan_exact": None,
                   "budget_verdicts": {"flagship-android": "pass", "low-end-android": "fail"}}
        (out / "results.json").write_text(json.dumps({"summary": summary}))
        return {"summary": summary}

    return run_bench


def test_pipeline_wiring_promotes_then_caches_then_refuses_a_worse_candidate(
        tmp_path, capsys, monkeypatch, heavy_imports_done, no_network):
    import cardlens.benchmarks

    fake_train_step.real = steps_mod.train_step
    monkeypatch.setattr(steps_mod, "train_step", fake_train_step)
    calls = []
    monkeypatch.setattr(cardlens.benchmarks, "run_bench", fake_bench(calls))
    data = tmp_path / "data"
    config = write_config(tmp_path)

    # 1. the candidate equals production: every figure ties, the budget production also misses is
    #    advisory → promoted, and registered with both aliases
    code = main(["pipeline", "run", "--config", config, "--data", str(data), "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err[-3000:]
    outcome = json.loads(out.out)
    assert all(s["status"] == "ran" for s in outcome["run"]["steps"])
    assert outcome["gate"]["promote"] is True
    assert outcome["registered"]["aliases"] == ["candidate", "production"]
    assert outcome["registered"]["versions"] == {n: "1" for n in NAMES}
    gate = json.loads(next((data / "pipeline" / "validate").glob("*/gate.json")).read_text())
    assert gate["production_source"].startswith("measured in this run")
    assert gate["candidate"] == gate["production"] and gate["candidate"]["synthetic.detector_recall"] is not None
    advisory = [c for c in gate["checks"] if c["status"] == "advisory"]
    assert any("low-end-android" in c["message"] and "production is 'fail' there too" in c["message"] for c in advisory)
    assert "pipeline/package" in calls[0]["models"] and calls[1]["models"] == str(MODELS)  # candidate, production
    assert calls[0]["bundles"][0].endswith("bundles/onnx-fp32") and calls[0]["runs"] == 3

    from cardlens.mlops.registry import Registry

    reg = Registry(data=data)
    run = reg.run_info(outcome["registered"]["run_id"])
    assert run["params"]["data.detector.0.seed"] == "3" and run["params"]["train.detector.stages.0.epochs"] == "1"
    assert "gate.synthetic.detector_recall" in run["metrics"] and "bench.pipeline_p90_ms" in run["metrics"]
    assert run["tags"]["gate"] == "passed" and run["tags"]["bench.budget.low-end-android"] == "fail"
    files = {a.path for a in reg.client.list_artifacts(run["run_id"], "models/card-detector")}
    assert {"models/card-detector/model.onnx", "models/card-detector/model_card.json"} <= files
    assert {a.path for a in reg.client.list_artifacts(run["run_id"], "reports")} >= {
        "reports/eval.json", "reports/gate.json", "reports/GATE.md", "reports/config.yaml"}
    assert reg.client.list_artifacts(run["run_id"], "bundles/onnx-fp32")
    card = json.loads((tmp_path / "dl" / "card-detector" / "model_card.json").read_text()) \
        if reg.download("card-detector@candidate", tmp_path / "dl") else None
    assert card["registry"]["run_id"] == run["run_id"] and card["made_by"] == "cardlens pipeline"
    assert card["stages"][0]["dataset"] == {"name": "t1", "n": 6, "seed": 3, "imgsz": 160, "negatives": 0.0}

    # 2. nothing changed: no work at all
    code = main(["pipeline", "run", "--config", config, "--data", str(data)])
    out = capsys.readouterr()
    assert code == 0
    assert out.out.count("cached (") == len(outcome["run"]["steps"]) and "running" not in out.out
    assert len(calls) == 2 and reg.get("card-detector@production").version == "1"

    # 3. a worse detector (its threshold raised so it finds nothing: above any sigmoid score, as stage 6
    #    scores one of these cards 0.999): only it and what follows run again; the gate refuses it and
    #    says why; production stays where it was
    worse = write_config(tmp_path, train={"detector": {"conf": 1.01}})
    code = main(["pipeline", "run", "--config", worse, "--data", str(data)])
    out = capsys.readouterr()
    assert code == 3
    ran = {line.split("]")[0][1:] for line in out.out.splitlines() if "] running" in line}
    assert ran == {"train-detector", "evaluate", "package", "export", "bench", "validate", "register"}
    assert "promotion gate: REFUSED" in out.out
    assert "the promotion gate refused the candidate: " in out.err
    assert "synthetic detector recall dropped 1.0000 below production (1.0000 → 0.0000; tolerance 0.05)" in out.err
    assert reg.get("card-detector@production").version == "1" and reg.get("card-detector@candidate").version == "2"
    assert reg.get("card-detector@2").tags["gate"] == "refused"
    code = main(["models", "promote", "card-detector", "2", "--data", str(data)])
    assert code == 1 and "refused by the promotion gate" in capsys.readouterr().err


def test_configs_load_and_bad_ones_are_refused(tmp_path):
    default = load_config("default")
    assert [d["seed"] for d in default["data"]["detector"]] == [11, 12, 21]
    assert [s["epochs"] for s in default["train"]["detector"]["stages"]] == [18, 13, 6, 5]
    assert default["train"]["recognizer"]["stages"][0]["stop_after"] == 8
    tiny = load_config("tiny")
    assert tiny["train"]["detector"]["conf"] == 0.25 and tiny["eval"]["data"]["lines"]["scene_size"] == 640
    steps = [s.name for s in steps_mod.build_steps(default)]
    assert steps[:6] == ["data-detector-s11", "data-detector-s12", "data-detector-s21", "data-fields-s31",
                         "data-lines-s41", "data-lines-s43"]
    assert steps[-6:] == ["evaluate", "package", "export", "bench", "validate", "register"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("extends: tiny\ntrain:\n  detector:\n    stages:\n      - {data: nope, epochs: 1}\n")
    with pytest.raises(UsageError, match=r"train.detector.stages\[0\] uses data 'nope'"):
        load_config(str(bad))
    bad.write_text("extends: tiny\nexport:\n  bundles: [onnx-fp8]\n")
    with pytest.raises(UsageError, match="onnx-fp8"):
        load_config(str(bad))
    with pytest.raises(UsageError, match="no pipeline config named"):
        load_config("nope")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_tiny_pipeline_end_to_end(tmp_path, capsys, heavy_imports_done, no_network):
    """The whole chain for real: synth, three trainings, evaluation, export, bench, gate, registry."""
    need("torch")
    data = tmp_path / "data"
    code = main(["pipeline", "run", "--config", "tiny", "--data", str(data), "--json"])
    out = capsys.readouterr()
    assert code == 3, out.err[-3000:]  # one epoch on six images: the gate must refuse it
    outcome = json.loads(out.out)
    assert all(s["status"] == "ran" for s in outcome["run"]["steps"])
    assert not outcome["gate"]["promote"] and outcome["gate"]["reasons"]
    assert outcome["registered"]["aliases"] == ["candidate"]
    bench = json.loads(next((data / "pipeline" / "bench").glob("*/summary.json")).read_text())
    assert bench["pipeline_size_bytes"] > 0 and bench["budget_verdicts"]
    from cardlens.detector.model import CardDetector
    from cardlens.ocr.recognizer import TextRecognizer

    models = next((data / "pipeline" / "package").glob("*/models"))
    assert CardDetector.load(models / "card-detector").spec.input_size == (128, 128)
    assert TextRecognizer.load(models / "text-recognizer").spec.name.endswith("-w0.25")
    code = main(["pipeline", "run", "--config", "tiny", "--data", str(data)])
    out = capsys.readouterr()
    assert code == 3 and "running" not in out.out and out.out.count("cached (") == len(outcome["run"]["steps"])
