"""A tiny real recognizer training run through the CLI (offline), then loading what it wrote."""

import json

import pytest
from conftest import need

from cardlens.cli import main


def test_train_recognizer_tiny_run_exports_and_loads(tmp_path, capsys, no_network):
    need("torch")
    from cardlens.synth import write_line_set

    data = tmp_path / "lines"
    write_line_set(data, 24, seed=3, progress=False)
    out = tmp_path / "rec"
    assert main(["train", "recognizer", "--data", str(data), "--out", str(out), "--epochs", "1", "--batch", "8",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["epochs"] == 1 and (out / "model.onnx").is_file()
    from cardlens.detector.runtime import read_onnx_spec
    from cardlens.modelspec import ModelSpec
    from cardlens.ocr.charset import CHARSET
    from cardlens.ocr.recognizer import TextRecognizer

    spec = read_onnx_spec(out / "model.onnx")  # the spec travels inside the ONNX file
    assert spec.task == "line-ctc" and spec.charset == CHARSET and spec.input_size == (32, 512)
    assert 0 < ModelSpec.load(out / "spec.json").extra["params"] < 1_000_000
    import numpy as np

    for runtime in ("onnx", "torch"):
        probs = TextRecognizer.load(out, runtime=runtime).probabilities(np.full((48, 200, 3), 128, np.uint8))
        assert probs.ndim == 2 and np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    # --init continues from those weights
    assert main(["train", "recognizer", "--data", str(data), "--out", str(tmp_path / "rec2"), "--epochs", "1",
                 "--batch", "8", "--init", str(out / "model.pt")]) == 0
    assert "initialised from" in capsys.readouterr().out


def test_glyph_warp_bends_strokes_and_is_off_by_default():
    need("torch")
    import cv2
    import numpy as np

    from cardlens.training.recognizer import _augment, warp_glyphs

    line = np.full((32, 160), 200, np.float32)
    cv2.putText(line, "4711", (8, 26), cv2.FONT_HERSHEY_SIMPLEX, 0.9, 30, 2)
    warped = warp_glyphs(line, np.random.default_rng(0))
    assert warped.shape == line.shape and warped.dtype == np.float32
    changed = np.abs(warped - line) > 40
    assert 0.01 < changed.mean() < 0.5                      # strokes moved, the line is still a line
    assert np.array_equal(warped, warp_glyphs(line, np.random.default_rng(0)))
    # glyph_warp=0 draws nothing more from the generator: earlier trainings' augmentation stays reproducible
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    assert np.array_equal(_augment(line, a), _augment(line, b, glyph_warp=0.0))
    assert a.random() == b.random()


def test_batches_collated_by_workers_are_the_same_for_any_worker_count_and_the_time_box_ends_a_run(
        tmp_path, capsys, no_network):
    need("torch")
    from cardlens.synth import write_line_set

    data = tmp_path / "lines"
    write_line_set(data, 12, seed=5, progress=False)
    runs = {}
    for workers in (1, 2):
        out = tmp_path / f"rec-w{workers}"
        assert main(["train", "recognizer", "--data", str(data), "--out", str(out), "--epochs", "2", "--batch", "8",
                     "--workers", str(workers), "--threads", "1", "--seed", "4", "--json"]) == 0
        capsys.readouterr()
        runs[workers] = json.loads((out / "train_summary.json").read_text())["history"]
    assert [h["loss"] for h in runs[1]] == [h["loss"] for h in runs[2]] and len(runs[1]) == 2
    # the same run in this process (workers 0) augments from one stream: another loss, same schedule
    out = tmp_path / "rec-w0"
    assert main(["train", "recognizer", "--data", str(data), "--out", str(out), "--epochs", "2", "--batch", "8",
                 "--threads", "1", "--seed", "4"]) == 0
    assert json.loads((out / "train_summary.json").read_text())["history"][0]["loss"] != runs[1][0]["loss"]
    # a time box any epoch passes: one epoch of three, its weights exported
    out = tmp_path / "rec-box"
    assert main(["train", "recognizer", "--data", str(data), "--out", str(out), "--epochs", "3", "--batch", "8",
                 "--max-minutes", "0.0001", "--json"]) == 0
    printed = capsys.readouterr().out
    assert "time box of 0.0001 min reached after epoch 1" in printed and json.loads(printed.splitlines()[-1])["epochs"] == 1
    assert (out / "model.onnx").is_file()


def test_a_device_the_machine_lacks_is_a_clear_usage_error(tmp_path, capsys):
    need("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the error is for machines without it")
    assert main(["train", "recognizer", "--data", str(tmp_path), "--out", str(tmp_path / "o"),
                 "--device", "cuda"]) == 2
    assert "no CUDA device" in capsys.readouterr().err
    assert main(["train", "recognizer", "--data", str(tmp_path), "--out", str(tmp_path / "o"),
                 "--device", "tpu9"]) == 2
