"""A tiny real recognizer training run through the CLI (offline), then loading what it wrote."""

import json

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
