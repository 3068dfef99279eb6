"""A tiny end-to-end training run through the CLI: proves the wiring, offline."""

import json

import pytest
from conftest import need

from cardlens.cli import main


@pytest.mark.timeout(600)
def test_train_detector_tiny_run_offline(tmp_path, capsys, no_network):
    need("ultralytics")
    data = tmp_path / "data"
    assert main(["synth", "detector", "--out", str(data), "--n", "12", "--seed", "3", "--workers", "1",
                 "--imgsz", "256", "--no-progress"]) == 0
    out = tmp_path / "model"
    code = main(["train", "detector", "--data", str(data / "data.yaml"), "--out", str(out), "--imgsz", "256",
                 "--epochs", "1", "--batch", "4", "--workers", "0", "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["epochs"] == 1
    from cardlens.detector.model import CardDetector
    from cardlens.modelspec import ModelSpec, sha256_of

    spec = ModelSpec.load(out / "spec.json")
    assert spec.sha256 == sha256_of(out / "model.onnx")
    assert spec.extra["torch_sha256"] == sha256_of(out / "model.pt")
    assert spec.extra["train"]["epochs"] == 1 and "data" not in spec.extra["train"]
    for runtime in ("onnx", "torch"):
        det = CardDetector.load(out, runtime=runtime)
        assert isinstance(det.detect(str(next((data / "images" / "train").glob("*.jpg")))), list)


def test_train_rejects_bad_size(tmp_path, capsys):
    assert main(["train", "detector", "--data", "x.yaml", "--out", str(tmp_path), "--imgsz", "500"]) == 2
    assert "--imgsz" in capsys.readouterr().err


def test_train_missing_data_is_one_line(tmp_path, capsys):
    need("ultralytics")
    assert main(["train", "detector", "--data", str(tmp_path / "none.yaml"), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "dataset YAML not found" in err and "Traceback" not in err


def test_model_card_data_command_names_a_non_default_no_card_share():
    from cardlens.detector.package import data_command
    from cardlens.synth.writers import DEFAULT_NEGATIVES

    assert data_command(16000, 41, round(16000 * DEFAULT_NEGATIVES)) == \
        "cardlens synth detector --out DATA --n 16000 --seed 41 --imgsz 416"
    assert data_command(16000, 52, 3200).endswith("--seed 52 --imgsz 416 --negatives 0.2")
    assert data_command(13000, 66, 1300, 0.15).endswith("--seed 66 --imgsz 416 --closeups 0.15")


def test_synth_detector_cli_default_no_card_share_is_the_writers():
    from cardlens.cli import build_parser
    from cardlens.synth.writers import DEFAULT_NEGATIVES

    args = build_parser().parse_args(["synth", "detector", "--out", "x"])
    assert args.negatives == DEFAULT_NEGATIVES


def test_the_scale_asked_for_is_the_scale_built(tmp_path):
    """ultralytics takes a custom file's first scale whatever its name says: `--scale t` once built `p`."""
    import yaml

    from cardlens.detector.train import DETECTOR_RECIPE
    from cardlens.training.yolo import _ultralytics_model, yaml_text_with_scale

    assert list(yaml.safe_load(yaml_text_with_scale(DETECTOR_RECIPE.arch, "t"))["scales"]) == ["t"]
    with pytest.raises(ValueError, match="no scale 'q'"):
        yaml_text_with_scale(DETECTOR_RECIPE.arch, "q")
    params = {s: sum(p.numel() for p in _ultralytics_model(DETECTOR_RECIPE, s, tmp_path).model.parameters())
              for s in ("p", "t")}
    assert params["t"] == 836_606 and params["p"] < 0.5 * params["t"]  # t: the shipped detector's size


def test_the_scale_is_chosen_by_accuracy_per_millisecond():
    from cardlens.training.scale_choice import choose_scale

    ms = {"p": 30.0, "t": 40.0, "u": 60.0}
    # t buys 0.03 for 10 ms (0.003 per ms: passes 0.002); u buys 0.02 for 20 ms (0.001: fails)
    choice = choose_scale("ptu", {"p": 0.50, "t": 0.53, "u": 0.55}, ms, 0.002)
    assert choice.chosen == "t" and [s.passes for s in choice.steps] == [True, False]
    assert abs(choice.steps[0].gain_per_ms - 0.003) < 1e-12
    # a failed first step stops the walk even if the largest scale would pay for itself from p
    assert choose_scale("ptu", {"p": 0.50, "t": 0.505, "u": 0.62}, ms, 0.002).chosen == "p"
    assert choose_scale("ptu", {"p": 0.50, "t": 0.60, "u": 0.70}, ms, 0.002).chosen == "u"
    # a larger scale that is no slower and no worse is taken; one that is worse is not
    assert choose_scale("pt", {"p": 0.5, "t": 0.6}, {"p": 30.0, "t": 29.0}, 0.002).chosen == "t"
    assert choose_scale("pt", {"p": 0.5, "t": 0.4}, {"p": 30.0, "t": 29.0}, 0.002).chosen == "p"
