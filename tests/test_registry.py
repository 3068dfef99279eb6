"""Model registry round trips on a temporary MLflow store (register, alias, list, show, promote,
export), offline; and MLflow's telemetry kept off outside pytest too."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import need

from cardlens.cli import main
from cardlens.export.sources import MODELS
from cardlens.modelspec import sha256_of

NAMES = ("card-detector", "field-locator", "text-recognizer", "card-verifier")
OLDER_NAMES = NAMES[:3]  # what stores held before the card verifier was versioned


@pytest.fixture
def mlflow_ready():
    """Import mlflow before the network guard goes up: urllib3 (through requests) probes IPv6 support at
    import by opening a socket on ::1, which the guard would count. No traffic either way."""
    need("mlflow")
    from cardlens.offline import import_mlflow

    import_mlflow()
    import mlflow.artifacts  # noqa: F401
    from mlflow import MlflowClient  # noqa: F401


def cli(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_registry_round_trip_on_a_temporary_store(tmp_path, capsys, mlflow_ready, no_network):
    data = str(tmp_path / "data")
    shipped_cards = {n: sha256_of(MODELS / n / "model_card.json") for n in NAMES}

    code, out, _ = cli(capsys, "models", "list", "--data", data, "--json")
    assert code == 0 and json.loads(out)["models"] == []
    assert json.loads(out)["tracking_uri"] == "sqlite:///" + str(tmp_path / "data" / "mlflow" / "mlflow.db")

    # the shipped models become version 1 'production'
    code, out, _ = cli(capsys, "models", "register-shipped", "--data", data, "--json")
    reg = json.loads(out)
    assert code == 0 and reg["registered"] and reg["versions"] == {n: "1" for n in NAMES}
    code, out, _ = cli(capsys, "models", "register-shipped", "--data", data)
    assert code == 0 and out.startswith("nothing to do: already registered")

    code, out, _ = cli(capsys, "models", "list", "--data", data, "--json")
    listed = {m["name"]: m for m in json.loads(out)["models"]}
    assert len(listed) == 4 and set(listed) == set(NAMES)
    assert all(m["aliases"] == {"production": "1"} for m in listed.values())
    code, out, _ = cli(capsys, "models", "show", "card-verifier@production", "--data", data, "--json")
    verifier = json.loads(out)
    assert verifier["tags"]["onnx_sha256"] == json.loads((MODELS / "card-verifier" / "spec.json").read_text())["sha256"]
    assert verifier["run_id"] == reg["run_id"] and verifier["tags"]["task"] == "card-verify"

    code, out, _ = cli(capsys, "models", "show", "card-detector@production", "--data", data, "--json")
    shown = json.loads(out)
    spec = json.loads((MODELS / "card-detector" / "spec.json").read_text())
    assert shown["version"] == "1" and shown["aliases"] == ["production"]
    assert shown["tags"]["onnx_sha256"] == spec["sha256"] and shown["tags"]["origin"] == "shipped"
    recorded = json.loads((MODELS / "text-recognizer" / "model_card.json").read_text())
    pan = recorded["pipeline"]["synthetic_scans_s51_n400"]["pan_exact"]  # what the model card records
    assert shown["run_id"] == reg["run_id"] and shown["run"]["metrics"]["gate.synthetic.pan_exact"] == pytest.approx(pan)
    assert shown["run"]["params"]["card-detector.stages.0.data_command"].startswith("cardlens synth detector")
    code, out, _ = cli(capsys, "models", "show", "card-detector", "--data", data)  # latest, human-readable
    assert code == 0 and "card-detector v1 [production]" in out and "synthetic.pan_exact" in out

    # a candidate the gate refused: registered, but promote needs --force
    from cardlens.mlops.registry import Registry

    store = Registry(data=data)
    run_id = store.start_run("pipeline-test")
    store.log_artifacts(run_id, MODELS / "text-recognizer", "models/text-recognizer")
    store.end_run(run_id)
    v = store.register("text-recognizer", run_id, "models/text-recognizer",
                       {"gate": "refused", "gate_reasons": "synthetic pan exact dropped 0.2 below production"})
    store.set_alias("text-recognizer", "candidate", v)
    assert v == "2"
    code, _, err = cli(capsys, "models", "promote", "text-recognizer", "2", "--data", data)
    assert code == 1 and "refused by the promotion gate (synthetic pan exact dropped 0.2" in err
    assert store.get("text-recognizer@production").version == "1"
    code, out, _ = cli(capsys, "models", "promote", "text-recognizer", "2", "--data", data, "--force")
    assert code == 0 and "text-recognizer@production → v2" in out
    code, out, _ = cli(capsys, "models", "list", "--data", data)
    assert "text-recognizer" in out and "v2 [candidate, production]" in out
    code, _, err = cli(capsys, "models", "show", "nope@production", "--data", data)
    assert code == 1 and "no registered model named 'nope'" in err
    code, _, err = cli(capsys, "models", "show", "card-detector@7", "--data", data)
    assert code == 1 and "has no version 7" in err

    # export: the production models come back byte-identical, as a loadable models folder
    out_dir = tmp_path / "exported"
    code, out, _ = cli(capsys, "models", "export", "all@production", "--out", str(out_dir), "--data", data, "--json")
    assert code == 0 and set(json.loads(out)["models"]) == set(NAMES)
    for n in NAMES:
        for f in ("model.onnx", "model.pt", "spec.json"):
            assert sha256_of(out_dir / n / f) == sha256_of(MODELS / n / f)
    for n in ("card-detector", "field-locator"):  # v1: the registered copy of the card names its run
        card = json.loads((out_dir / n / "model_card.json").read_text())
        assert card["registry"]["run_id"] == reg["run_id"] and card["registry"]["version"] == 1
    from cardlens.detector.model import CardDetector

    exported = CardDetector.load(out_dir / "card-detector")  # sha256 checks pass
    assert exported.spec.name == spec["name"] and exported.verifier is not None  # its verifier beside it
    assert exported.verifier.spec.sha256 == json.loads((out_dir / "card-verifier" / "spec.json").read_text())["sha256"]
    code, _, err = cli(capsys, "models", "export", "card-detector", "--out", str(out_dir), "--bundle", "onnx-fp32",
                       "--data", data)
    assert code == 2 and "--bundle needs every model (card-detector, field-locator, text-recognizer, card-verifier)" in err
    # the shipped model cards were only read
    assert {n: sha256_of(MODELS / n / "model_card.json") for n in NAMES} == shipped_cards


def test_a_store_from_before_the_verifier_still_works_and_gets_it_added(tmp_path, capsys, mlflow_ready, no_network):
    """A store whose three models were registered before the card verifier was versioned: exporting
    and the pipeline's production reference say what is missing and take the shipped verifier where
    one is needed; register-shipped adds the verifier alone."""
    from cardlens.mlops.registry import Registry, weights_tags
    from cardlens.mlops.steps import resolve_reference

    data = tmp_path / "data"
    store = Registry(data=data)
    run_id = store.start_run("shipped-models", tags={"cardlens.kind": "shipped"})
    for n in OLDER_NAMES:  # what register-shipped did then
        store.log_artifacts(run_id, MODELS / n, f"models/{n}")
        store.set_alias(n, "production", store.register(n, run_id, f"models/{n}",
                                                         {**weights_tags(MODELS / n), "origin": "shipped"}))
    store.end_run(run_id)

    out_dir = tmp_path / "exported"
    code, out, err = cli(capsys, "models", "export", "all@production", "--out", str(out_dir), "--data", str(data),
                         "--json")
    result = json.loads(out)
    assert code == 0 and set(result["models"]) == set(OLDER_NAMES) and not (out_dir / "card-verifier").exists()
    assert "no card-verifier version holds alias 'production'" in result["missing"]["card-verifier"]
    assert "note: no card-verifier version holds alias 'production'" in err and "registered before the card verifier" in err

    code, _, err = cli(capsys, "models", "show", "card-verifier@production", "--data", str(data))
    assert code == 1 and "no registered model named 'card-verifier'" in err and "register-shipped" in err

    notes = []
    ref = resolve_reference(store, data, True, notes.append)
    assert ref["kind"] == "registry" and ref["versions"] == {n: "1" for n in OLDER_NAMES}
    assert ref["identity"]["card-verifier"].startswith("shipped:") and ref["held_shas"].keys() == set(OLDER_NAMES)
    assert any("card-verifier: no 'production' version in the registry" in m for m in notes) and ref["notes"]
    stand_in = Path(ref["models"]) / "card-verifier"
    assert stand_in.parent.parent == data / "pipeline" / "_reference"
    assert sha256_of(stand_in / "model.onnx") == sha256_of(MODELS / "card-verifier" / "model.onnx")

    code, out, _ = cli(capsys, "models", "register-shipped", "--data", str(data), "--json")
    added = json.loads(out)
    assert code == 0 and added["registered"] and added["new"] == ["card-verifier"]
    assert added["kept"] == {n: "1" for n in OLDER_NAMES} and added["versions"] == {n: "1" for n in NAMES}
    code, out, _ = cli(capsys, "models", "list", "--data", str(data), "--json")
    listed = {m["name"]: m for m in json.loads(out)["models"]}
    assert set(listed) == set(NAMES) and all(m["versions"] == 1 and m["aliases"] == {"production": "1"}
                                             for m in listed.values())
    code, out, _ = cli(capsys, "models", "register-shipped", "--data", str(data))
    assert code == 0 and out.startswith("nothing to do: already registered")
    ref = resolve_reference(store, data, False, notes.append)
    assert ref["versions"] == {n: "1" for n in NAMES} and ref["notes"] == []


def test_references_and_card_field(tmp_path):
    from cardlens.errors import UsageError
    from cardlens.mlops.registry import parse_ref, write_registry_field

    assert parse_ref("card-detector") == ("card-detector", "production", None)
    assert parse_ref("card-detector@candidate") == ("card-detector", "candidate", None)
    assert parse_ref("card-detector@3") == ("card-detector", None, "3")
    with pytest.raises(UsageError):
        parse_ref("@production")
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model_card.json").write_text(json.dumps({"name": "x", "metrics": {"a": 1}}))
    (folder / "MODEL_CARD.md").write_text("# x\n\n## Measured\n\nfigures\n\n## Notes\n\n- a note\n")
    entry = {"tracking_uri": "sqlite:///data/mlflow/mlflow.db", "experiment": "cardlens", "run_id": "abc",
             "registered_model": "x", "version": 1, "alias": "production"}
    write_registry_field(folder, entry)
    write_registry_field(folder, {**entry, "run_id": "def"})  # replaced, not appended
    card = json.loads((folder / "model_card.json").read_text())
    assert card == {"name": "x", "metrics": {"a": 1}, "registry": {**entry, "run_id": "def"}}
    md = (folder / "MODEL_CARD.md").read_text()
    assert md.count("## Registry") == 1 and "`def`" in md and "`abc`" not in md and "- a note" in md


def test_mlflow_telemetry_is_off_outside_pytest_too(tmp_path):
    """MLflow skips telemetry under pytest or CI by itself, so this runs a fresh interpreter without
    those variables, sockets refused: cardlens' own setting must be what keeps its client from starting
    (with no client, no event of the runs logged later can be sent)."""
    need("mlflow")
    code = r"""
import json, os, socket
attempts = []
def refuse(*a, **k):
    attempts.append(repr(a[:1]))
    raise OSError("network disabled in this test")
socket.getaddrinfo = refuse
socket.socket.connect = refuse
from cardlens.mlops.registry import Registry
reg = Registry(data=os.environ["DATA"])   # imports mlflow the way every cardlens command does
import mlflow.telemetry.utils as tu
from mlflow.telemetry.client import get_telemetry_client
client_off = get_telemetry_client() is None
in_ci = tu._IS_IN_CI_ENV_OR_TESTING
os.environ.pop("MLFLOW_DISABLE_TELEMETRY")
would_track = not tu.is_telemetry_disabled()   # without cardlens' setting (DO_NOT_TRACK=1 is not enough)
print(json.dumps({"client_off": client_off, "in_ci": in_ci, "would_track": would_track, "attempts": attempts}))
"""
    ci_vars = {"PYTEST_CURRENT_TEST", "GITHUB_ACTIONS", "CI", "CIRCLECI", "GITLAB_CI", "JENKINS_URL", "TRAVIS",
               "TF_BUILD", "BITBUCKET_BUILD_NUMBER", "CODEBUILD_BUILD_ARN", "BUILDKITE", "TEAMCITY_VERSION",
               "CLOUD_RUN_EXECUTION", "RUNBOT_HOST_URL", "RUNBOT_BUILD_NAME", "RUNBOT_WORKER_ID",
               "MLFLOW_DISABLE_TELEMETRY", "_MLFLOW_TESTING_TELEMETRY"}
    env = {k: v for k, v in os.environ.items() if k not in ci_vars}
    env.update(DATA=str(tmp_path / "data"), CARDLENS_CACHE=str(tmp_path / "cache"))
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=180)
    assert res.returncode == 0, res.stderr[-2000:]
    info = json.loads(res.stdout.strip().splitlines()[-1])
    assert info == {"client_off": True, "in_ci": False, "would_track": True, "attempts": []}
