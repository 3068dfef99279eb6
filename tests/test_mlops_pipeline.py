"""The training pipeline wired end to end, offline, on a temporary data folder and MLflow store.

- ``test_pipeline_wiring_promotes_then_caches_then_refuses_a_worse_candidate`` (default suite): the
  tiny config with the three training steps replaced by copies of the shipped models, the card
  verifier's trainer by one that writes the shipped verifier as a distinct file (training is what takes
  time) and a stand-in for ``run_bench``; the verifier step itself, synth, evaluation, packaging, ONNX
  export, the gate and the registry are the real ones.
- ``test_verifier_step_trains_on_the_candidate_detectors_boxes_and_is_cached``: the real verifier
  training (tiny: width 4, one epoch) on the candidate detector's boxes, then a cached re-run.
- ``test_tiny_pipeline_end_to_end`` (``slow``): the same config with real training and the real bench.
"""

import json
import shutil
from dataclasses import asdict, replace
from pathlib import Path

import pytest
from conftest import need

from cardlens.cli import main
from cardlens.errors import UsageError
from cardlens.export.sources import MODELS
from cardlens.mlops import steps as steps_mod
from cardlens.mlops.cache import Step
from cardlens.mlops.config import load_config
from cardlens.mlops.registry import ROLES
from cardlens.modelspec import ModelSpec

NAMES = ("card-detector", "field-locator", "text-recognizer", "card-verifier")
SHIPPED_VERIFIER_SHA = ModelSpec.load(MODELS / "card-verifier" / "spec.json").sha256


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
    the config's detector thresholds the way the real step does)."""
    real = steps_mod.train_step(model, cfg) if not hasattr(fake_train_step, "real") else fake_train_step.real(model, cfg)
    role_dir = MODELS / ROLES[model]

    def run(ctx):
        out = ctx.out / "model"
        out.mkdir(parents=True)
        for f in ("model.onnx", "model.pt", "spec.json"):
            shutil.copyfile(role_dir / f, out / f)
        if model == "detector":
            steps_mod.apply_detector_thresholds(out, ctx.full_config["train"][model])
        stages = ctx.full_config["train"][model]["stages"]
        return {"model": "model", "stages": [{"stage": i, "data": s["data"], "epochs_run": 0}
                                             for i, s in enumerate(stages, 1)]}

    return Step(real.name, run, deps=real.deps, config=real.config, code=real.code, resumable=True,
                description=real.description)


def fake_verifier_training(calls):
    """Stands in for ``cardlens.training.verifier.train_verifier``: records its config and writes the
    shipped verifier's weights as a file of the candidate's own (a metadata entry naming the seed, so its
    sha256 differs from the shipped one's). Seed 0 gives a verifier that judges like the shipped one;
    any other seed one that refuses every box (``thresholds.keep`` 1.01, above any probability)."""
    import onnx

    from cardlens.training.verifier import VerifierTrainResult

    def train_verifier(cfg):
        calls.append(cfg)
        out = Path(cfg.out)
        out.mkdir(parents=True, exist_ok=True)
        shipped = MODELS / "card-verifier"
        shutil.copyfile(shipped / "model.pt", out / "model.pt")
        model = onnx.load(str(shipped / "model.onnx"))
        model.metadata_props.add(key="pipeline-test", value=f"candidate verifier, seed {cfg.seed}")
        onnx.save(model, str(out / "model.onnx"))
        spec = ModelSpec.load(shipped / "spec.json")
        if cfg.seed != 0:
            spec = replace(spec, thresholds={**spec.thresholds, "keep": 1.01})
        spec.with_weights(out / "model.onnx").save(out / "spec.json")
        (out / "train_summary.json").write_text(json.dumps({"config": asdict(cfg)}))
        return VerifierTrainResult(str(out), str(out / "model.pt"), str(out / "model.onnx"), str(out / "spec.json"),
                                   cfg.epochs, 0.0, {"train": 1, "train_cards": 1}, {})

    return train_verifier


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


def step_folder(data, step):
    """The one finished folder of ``step`` whose key the latest run used."""
    latest = json.loads((data / "pipeline" / "latest.json").read_text())
    return Path(latest["steps"][step]["folder"])


def ran_steps(text):
    return {line.split("]")[0][1:] for line in text.splitlines() if "] running" in line}


def test_pipeline_wiring_promotes_then_caches_then_refuses_a_worse_candidate(
        tmp_path, capsys, monkeypatch, heavy_imports_done, no_network):
    import cardlens.benchmarks
    import cardlens.training.verifier

    fake_train_step.real = steps_mod.train_step
    monkeypatch.setattr(steps_mod, "train_step", fake_train_step)
    verifier_calls = []
    monkeypatch.setattr(cardlens.training.verifier, "train_verifier", fake_verifier_training(verifier_calls))
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
    assert [s["step"] for s in outcome["run"]["steps"]].index("train-verifier") == \
        [s["step"] for s in outcome["run"]["steps"]].index("train-detector") + 1
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

    # the verifier was trained on the pipeline's detector scenes with the candidate detector's boxes
    assert len(verifier_calls) == 1
    vcfg = verifier_calls[0]
    detector_dir = step_folder(data, "train-detector") / "model"
    scenes_dir = step_folder(data, "data-detector-t1") / "set"
    assert vcfg.detector == str(detector_dir) and vcfg.scenes == (str(scenes_dir),) and vcfg.val == str(scenes_dir)
    assert (vcfg.epochs, vcfg.width, vcfg.seed, vcfg.harvest_conf) == (1, 4, 0, 0.0)
    verifier_dir = step_folder(data, "train-verifier") / "model"
    candidate_sha = ModelSpec.load(verifier_dir / "spec.json").sha256
    assert candidate_sha != SHIPPED_VERIFIER_SHA
    # the candidate was evaluated with its own verifier (at the detector's conf_verified), production with its
    evaluation = json.loads((step_folder(data, "evaluate") / "eval.json").read_text())
    used, reference = evaluation["candidate"]["verifier"], evaluation["reference"]["verifier"]
    assert used["folder"] == str(verifier_dir) and used["onnx_sha256"] == candidate_sha
    assert used["detector_conf"] == ModelSpec.load(detector_dir / "spec.json").thresholds["conf_verified"] == 0.1
    assert reference["folder"] == str(MODELS / "card-verifier") and reference["onnx_sha256"] == SHIPPED_VERIFIER_SHA
    # the packaged candidate: the verifier beside the detector, where CardDetector.load finds it
    from cardlens.detector.model import CardDetector

    package = step_folder(data, "package") / "models"
    assert CardDetector.load(package / "card-detector").verifier.spec.sha256 == candidate_sha
    card = json.loads((package / "card-verifier" / "model_card.json").read_text())
    assert card["role"] == "verifier" and card["stages"][0]["dataset"]["name"] == "t1"
    assert card["harvested_with"]["onnx_sha256"] == ModelSpec.load(detector_dir / "spec.json").sha256
    # and its bundles carry the candidate's verifier, not the shipped one
    manifest = json.loads((step_folder(data, "export") / "bundles" / "onnx-fp32" / "manifest.json").read_text())
    assert manifest["source_weights"]["verifier"]["onnx_sha256"] == candidate_sha

    from cardlens.mlops.registry import Registry

    reg = Registry(data=data)
    run = reg.run_info(outcome["registered"]["run_id"])
    assert run["params"]["data.detector.0.seed"] == "3" and run["params"]["train.detector.stages.0.epochs"] == "1"
    assert run["params"]["train.verifier.width"] == "4" and "train.verifier.seconds" in run["metrics"]
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
    got = reg.download("card-verifier@production", tmp_path / "dl")
    assert ModelSpec.load(got / "spec.json").sha256 == candidate_sha
    assert reg.get("card-verifier@1").tags["onnx_sha256"] == candidate_sha

    # 2. nothing changed: no work at all (the verifier is not trained again)
    code = main(["pipeline", "run", "--config", config, "--data", str(data)])
    out = capsys.readouterr()
    assert code == 0
    assert out.out.count("cached (") == len(outcome["run"]["steps"]) and "running" not in out.out
    assert len(calls) == 2 and reg.get("card-detector@production").version == "1"
    assert len(verifier_calls) == 1

    # 3. a worse detector (its thresholds raised so it finds nothing: above any sigmoid score, as stage 6
    #    scores one of these cards 0.999; with the verifier the threshold is conf_verified): only it and what
    #    follows run again, its verifier included (it learns from this detector's boxes); the gate refuses it
    #    and says why; production stays where it was
    worse = write_config(tmp_path, train={"detector": {"conf": 1.01, "conf_verified": 1.01}})
    code = main(["pipeline", "run", "--config", worse, "--data", str(data)])
    out = capsys.readouterr()
    assert code == 3
    assert ran_steps(out.out) == {"train-detector", "train-verifier", "evaluate", "package", "export", "bench",
                                  "validate", "register"}
    assert len(verifier_calls) == 2 and verifier_calls[1].detector == str(step_folder(data, "train-detector") / "model")
    assert verifier_calls[1].detector != str(detector_dir)
    assert "promotion gate: REFUSED" in out.out
    assert "the promotion gate refused the candidate: " in out.err
    assert "synthetic detector recall dropped 1.0000 below production (1.0000 → 0.0000; tolerance 0.05)" in out.err
    assert reg.get("card-detector@production").version == "1" and reg.get("card-detector@candidate").version == "2"
    assert reg.get("card-detector@2").tags["gate"] == "refused"
    # production now comes from the registry, verifier included
    evaluation = json.loads((step_folder(data, "evaluate") / "eval.json").read_text())
    assert "/_reference/" in evaluation["reference"]["verifier"]["folder"]
    assert evaluation["reference"]["verifier"]["onnx_sha256"] == candidate_sha
    code = main(["models", "promote", "card-detector", "2", "--data", str(data)])
    assert code == 1 and "refused by the promotion gate" in capsys.readouterr().err

    # 4. a worse verifier (one that refuses every box) with the first detector: the detector's step stays
    #    cached, the verifier and what follows run again, and the candidate's figures are its verifier's
    worse_verifier = write_config(tmp_path, train={"verifier": {"seed": 1}})
    code = main(["pipeline", "run", "--config", worse_verifier, "--data", str(data)])
    out = capsys.readouterr()
    assert code == 3
    assert ran_steps(out.out) == {"train-verifier", "evaluate", "package", "export", "bench", "validate", "register"}
    assert len(verifier_calls) == 3 and verifier_calls[2].detector == str(detector_dir)
    assert "synthetic detector recall dropped 1.0000 below production (1.0000 → 0.0000; tolerance 0.05)" in out.err
    evaluation = json.loads((step_folder(data, "evaluate") / "eval.json").read_text())
    assert evaluation["candidate"]["verifier"]["keep"] == 1.01 and evaluation["reference"]["verifier"]["keep"] == 0.2
    manifest = json.loads((step_folder(data, "export") / "bundles" / "onnx-fp32" / "manifest.json").read_text())
    assert manifest["specs"]["verifier"]["thresholds"]["keep"] == 1.01
    assert reg.get("card-verifier@production").version == "1" and reg.get("card-verifier@candidate").version == "3"
    assert reg.get("card-verifier@3").tags["gate"] == "refused"


def test_verifier_step_trains_on_the_candidate_detectors_boxes_and_is_cached(
        tmp_path, capsys, monkeypatch, heavy_imports_done, no_network):
    """The real ``cardlens train verifier`` (tiny: width 4, one epoch) on the tiny detector scenes, with the
    candidate detector (a copy of the shipped one) cutting the crops; a second run trains nothing."""
    need("torch")
    from cardlens.detector.model import CardDetector
    from cardlens.detector.verifier import CardVerifier

    fake_train_step.real = steps_mod.train_step
    monkeypatch.setattr(steps_mod, "train_step", fake_train_step)
    data = tmp_path / "data"
    code = main(["pipeline", "run", "--config", "tiny", "--data", str(data), "--until", "train-verifier", "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err[-3000:]
    statuses = {s["step"]: s["status"] for s in json.loads(out.out)["run"]["steps"]}
    assert statuses["train-verifier"] == "ran" and statuses["evaluate"] == "not run"
    folder = step_folder(data, "train-verifier")
    done = json.loads((folder / "done.json").read_text())["outputs"]
    detector_dir = step_folder(data, "train-detector") / "model"
    assert done["scenes"] == ["t1"] and done["val"] == "t1" and done["epochs_run"] == 1
    assert done["crops"]["train"] > 0 and done["crops"]["train_cards"] > 0 and done["crops"]["val"] > 0
    assert done["detector_onnx_sha256"] == ModelSpec.load(detector_dir / "spec.json").sha256
    summary = json.loads((folder / "model" / "train_summary.json").read_text())
    assert summary["config"]["detector"] == str(detector_dir) and summary["config"]["width"] == 4
    verifier = CardVerifier.load(folder / "model")
    assert verifier.spec.name == "card-verifier-w4" and verifier.spec.sha256 != SHIPPED_VERIFIER_SHA
    assert CardDetector.load(detector_dir, verifier=folder / "model").verifier.spec.sha256 == verifier.spec.sha256

    done_record = (folder / "done.json").read_text()
    code = main(["pipeline", "run", "--config", "tiny", "--data", str(data), "--until", "train-verifier"])
    out = capsys.readouterr()
    assert code == 0 and "running" not in out.out and "[train-verifier] cached (" in out.out
    assert step_folder(data, "train-verifier") == folder and (folder / "done.json").read_text() == done_record


def test_configs_load_and_bad_ones_are_refused(tmp_path):
    default = load_config("default")
    assert [d["seed"] for d in default["data"]["detector"]] == [11, 12, 21]
    assert [s["epochs"] for s in default["train"]["detector"]["stages"]] == [18, 13, 6, 5]
    assert default["train"]["recognizer"]["stages"][0]["stop_after"] == 8
    assert {k: default["train"]["verifier"][k] for k in ("epochs", "width", "seed")} == {"epochs": 20, "width": 8, "seed": 0}
    tiny = load_config("tiny")
    assert tiny["train"]["detector"]["conf"] == 0.25 and tiny["eval"]["data"]["lines"]["scene_size"] == 640
    assert {k: tiny["train"]["verifier"][k] for k in ("epochs", "width", "scenes")} == {"epochs": 1, "width": 4,
                                                                                         "scenes": ["t1"]}
    steps = [s.name for s in steps_mod.build_steps(default)]
    assert steps[:6] == ["data-detector-s11", "data-detector-s12", "data-detector-s21", "data-fields-s31",
                         "data-lines-s41", "data-lines-s43"]
    assert steps[-6:] == ["evaluate", "package", "export", "bench", "validate", "register"]
    assert steps[steps.index("train-detector") + 1] == "train-verifier"
    verifier = next(s for s in steps_mod.build_steps(default) if s.name == "train-verifier")
    assert verifier.deps == ("train-detector", "data-detector-s11", "data-detector-s12", "data-detector-s21")
    for later in ("evaluate", "package", "register"):
        assert "train-verifier" in next(s for s in steps_mod.build_steps(default) if s.name == later).deps
    bad = tmp_path / "bad.yaml"
    bad.write_text("extends: tiny\ntrain:\n  detector:\n    stages:\n      - {data: nope, epochs: 1}\n")
    with pytest.raises(UsageError, match=r"train.detector.stages\[0\] uses data 'nope'"):
        load_config(str(bad))
    bad.write_text("extends: tiny\ntrain:\n  verifier:\n    scenes: [t1, nope]\n")
    with pytest.raises(UsageError, match=r"train.verifier uses data 'nope', not one of data.detector: \['t1'\]"):
        load_config(str(bad))
    bad.write_text("extends: tiny\ntrain:\n  verifier:\n    width: 0\n")
    with pytest.raises(UsageError, match=r"train.verifier.width must be an integer ≥ 1 \(got 0\)"):
        load_config(str(bad))
    bad.write_text("extends: tiny\nexport:\n  bundles: [onnx-fp8]\n")
    with pytest.raises(UsageError, match="onnx-fp8"):
        load_config(str(bad))
    with pytest.raises(UsageError, match="no pipeline config named"):
        load_config("nope")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_tiny_pipeline_end_to_end(tmp_path, capsys, heavy_imports_done, no_network):
    """The whole chain for real: synth, four trainings, evaluation, export, bench, gate, registry."""
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
    det = CardDetector.load(models / "card-detector")
    assert det.spec.input_size == (128, 128) and det.verifier.spec.name == "card-verifier-w4"
    assert TextRecognizer.load(models / "text-recognizer").spec.name.endswith("-w0.25")
    code = main(["pipeline", "run", "--config", "tiny", "--data", str(data)])
    out = capsys.readouterr()
    assert code == 3 and "running" not in out.out and out.out.count("cached (") == len(outcome["run"]["steps"])
