"""Export bundles: every artifact validated against torch, spec inside every file, typed errors."""

import json

import numpy as np
import pytest
from conftest import need

from cardlens.cli import main
from cardlens.export.validate import OutputNameError, ShapeMismatchError, ToleranceError, compare

EXAMPLE = "examples/card_photo.jpg"
ROLES = ["detector", "fields", "recognizer", "verifier"]
# what each role's parity is gated on at every precision (int8 YOLO raw tensors are reported only)
GATED = {"detector": {"kept_coords", "kept_scores", "flipped"}, "fields": {"kept_coords", "kept_scores", "flipped"},
         "recognizer": {"lines_changed"}, "verifier": {"logit", "card_prob", "flipped"}}


@pytest.fixture(scope="module")
def inputs_cache():
    return {}


def _bundle(tmp_path_factory, inputs_cache, fmt, precision):
    from cardlens.export.bundle import export_bundle

    out = tmp_path_factory.mktemp(f"{fmt}-{precision}")
    return export_bundle(fmt, precision, out, None, n_calibration=6, n_validation=3, cache=inputs_cache,
                         log=lambda *a: None)


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_onnx_bundle_is_validated_self_describing_and_reads_the_card(tmp_path_factory, inputs_cache, precision):
    from pathlib import Path

    from cardlens.detector.runtime import read_onnx_spec
    from cardlens.export.bundle import CONTRACT, bundle_scanner, sha256_tree
    from cardlens.synth.examples import example_scene

    need("onnx")
    result = _bundle(tmp_path_factory, inputs_cache, "onnx", precision)
    folder = Path(result.folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert [f["role"] for f in manifest["files"]] == ROLES and sorted(manifest["contract"]) == sorted(ROLES)
    assert manifest["contract"] == CONTRACT and manifest["precision"] == precision
    for m in result.models:
        path = folder / m.file
        assert sha256_tree(path) == m.sha256
        inner = read_onnx_spec(path)  # the spec travels inside the artifact
        assert inner.extra["precision"] == precision and inner.weights == path.name
        tol, got = m.parity["tolerance"], m.parity["max_abs"]
        assert m.parity["inputs"] == 3 and GATED[m.role] <= set(tol) and all(got[k] <= tol[k] for k in tol)
        if precision != "int8" or m.role == "verifier":  # int8 raw tensors are reported, not gated (see cardlens/export/validate.py)
            assert set(tol) == set(got)
    assert "max abs error" in (folder / "REPORT.md").read_text()
    pan = example_scene().card.spec.text.pan
    scanner = bundle_scanner(folder)
    assert scanner.locator.verifier is not None and scanner.locator.verifier.runtime == "onnx"
    r = scanner.scan(EXAMPLE)
    assert r.number is not None and r.number.reveal() == pan


def test_onnx_int8_is_smaller_than_fp32(tmp_path_factory, inputs_cache):
    need("onnx")
    sizes = {p: sum(m.bytes for m in _bundle(tmp_path_factory, inputs_cache, "onnx", p).models)
             for p in ("fp32", "int8")}
    assert sizes["int8"] < 0.6 * sizes["fp32"]


def test_onnx_int8_is_static_for_detector_and_recognizer_weight_only_for_fields(tmp_path_factory, inputs_cache):
    from pathlib import Path

    import onnx
    from onnx import numpy_helper

    need("onnx")
    result = _bundle(tmp_path_factory, inputs_cache, "onnx", "int8")
    for m in result.models:
        model = onnx.load(str(Path(result.folder) / m.file))
        ops = [n.op_type for n in model.graph.node]
        inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
        conv_weights = [n.input[1] for n in model.graph.node if n.op_type == "Conv"]
        dequantized = {n.output[0]: inits.get(n.input[0]) for n in model.graph.node if n.op_type == "DequantizeLinear"}
        # every convolution weight but the tiny ones (< 256 values) is stored int8, however it is computed
        big = [w for w in conv_weights if w in dequantized or inits[w].size >= 256]
        assert len(big) > 0.75 * len(conv_weights), m.role
        assert all(dequantized.get(w) is not None and dequantized[w].dtype == np.int8 for w in big), m.role
        static = "QuantizeLinear" in ops  # activations quantized: calibrated static int8
        assert static == (m.role != "fields"), m.role


def test_tflite_fp32_bundle_matches_torch(tmp_path_factory, inputs_cache):
    from pathlib import Path

    from cardlens.export.bundle import bundle_scanner
    from cardlens.export.tflite_format import read_spec
    from cardlens.synth.examples import example_scene

    need("litert_torch")
    result = _bundle(tmp_path_factory, inputs_cache, "tflite", "fp32")
    assert [m.role for m in result.models] == ROLES
    for m in result.models:
        assert m.parity["max_abs"] and read_spec(Path(result.folder) / m.file).extra["format"] == "tflite"
    scanner = bundle_scanner(result.folder)
    assert scanner.locator.verifier.runtime == "tflite"
    r = scanner.scan(EXAMPLE)
    assert r.number is not None and r.number.reveal() == example_scene().card.spec.text.pan


def test_tflite_int8_is_full_integer_with_float_io_and_validated(tmp_path_factory, inputs_cache):
    """int8 weights and int8 activations (calibrated); only the YOLO heads and the graph I/O stay float —
    but the field locator is weight-only: int8 weights, float compute."""
    from pathlib import Path

    import ai_edge_litert.interpreter as ai
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_quantizer.utils import tfl_flatbuffer_utils as fu

    need("litert_torch")
    result = _bundle(tmp_path_factory, inputs_cache, "tflite", "int8")  # raises if validation fails
    for m in result.models:
        path = Path(result.folder) / m.file
        tol, got = m.parity["tolerance"], m.parity["max_abs"]
        assert GATED[m.role] <= set(tol) and all(got[k] <= tol[k] for k in tol)
        interp = ai.Interpreter(model_path=str(path))
        assert [d["dtype"] for d in interp.get_input_details() + interp.get_output_details()] == [np.float32] * 2
        model = fu.read_model(str(path))
        sg = model.subgraphs[0]
        ops = [op for op in sg.operators  # DEQUANTIZE: the int8-stored weights of the float-computed layers
               if model.operatorCodes[op.opcodeIndex].builtinCode != schema.BuiltinOperator.DEQUANTIZE]
        kinds = [(fu.TFL_OP_CODE_TO_NAME.get(model.operatorCodes[op.opcodeIndex].builtinCode),
                  sg.tensors[op.outputs[0]].type) for op in ops]
        conv_int8 = [t == 9 for k, t in kinds if k in ("CONV_2D", "DEPTHWISE_CONV_2D")]  # 9: INT8
        activations_int8 = sum(t == 9 for _, t in kinds)
        if m.role == "fields":
            weights = [sg.tensors[op.inputs[0]].type for op in sg.operators
                       if model.operatorCodes[op.opcodeIndex].builtinCode == schema.BuiltinOperator.DEQUANTIZE]
            assert activations_int8 == 0 and len(weights) >= 0.75 * len(conv_int8) and set(weights) == {9}
            continue
        if m.role == "verifier":  # every op int8 but the linear head that makes the logit (float: its range unclipped)
            assert conv_int8 and all(conv_int8) and activations_int8 == len(kinds) - 1
            assert kinds[-1] == ("FULLY_CONNECTED", 0)
            continue
        # the recognizer is entirely int8; the YOLO models compute their stem and head (~30 % of their
        # convolutions: the first two, the last ones of each branch, plus the decode) in float
        assert np.mean(conv_int8) >= (1.0 if m.role == "recognizer" else 0.65), m.role
        assert activations_int8 >= (0.9 if m.role == "recognizer" else 0.65) * len(kinds), m.role
        if m.role != "recognizer":  # the output concatenation (coordinates and scores) is float
            assert kinds[-1] == ("CONCATENATION", 0)


def test_tflite_fp16_stores_float16_weights_and_matches_torch(tmp_path_factory, inputs_cache):
    """TFLite float16 quantization: convolution weights float16 (dequantized at load), I/O float32."""
    from pathlib import Path

    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_quantizer.utils import tfl_flatbuffer_utils as fu

    need("litert_torch")
    result = _bundle(tmp_path_factory, inputs_cache, "tflite", "fp16")  # raises if validation fails
    fp32 = {m.role: m.bytes for m in _bundle(tmp_path_factory, inputs_cache, "tflite", "fp32").models}
    for m in result.models:
        tol, got = m.parity["tolerance"], m.parity["max_abs"]
        assert set(tol) == set(got) and all(got[k] <= tol[k] for k in tol)
        assert m.bytes < 0.6 * fp32[m.role], m.role
        model = fu.read_model(str(Path(result.folder) / m.file))
        sg = model.subgraphs[0]
        weights = [sg.tensors[op.inputs[0]].type for op in sg.operators
                   if model.operatorCodes[op.opcodeIndex].builtinCode == schema.BuiltinOperator.DEQUANTIZE]
        convs = [op for op in sg.operators if fu.TFL_OP_CODE_TO_NAME.get(
            model.operatorCodes[op.opcodeIndex].builtinCode) in ("CONV_2D", "DEPTHWISE_CONV_2D")]
        assert len(weights) >= len(convs) and set(weights) == {schema.TensorType.FLOAT16}
        assert sg.tensors[sg.inputs[0]].type == sg.tensors[sg.outputs[0]].type == 0  # FLOAT32


@pytest.mark.slow
def test_coreml_bundles_carry_spec_and_interface(tmp_path_factory, inputs_cache):
    from pathlib import Path

    from cardlens.export.coreml_format import interface, read_spec

    need("coremltools")
    for precision in ("fp32", "fp16", "int8"):
        result = _bundle(tmp_path_factory, inputs_cache, "coreml", precision)
        for m in result.models:
            path = Path(result.folder) / m.file
            spec = read_spec(path)
            ins, outs = interface(path)
            assert spec.extra["precision"] == precision and list(outs) == list(spec.output_names)
            assert ins[spec.input_name] == (1, 1 if spec.color == "GRAY" else 3, *spec.input_size)


def test_compare_raises_typed_errors():
    ref = np.zeros((1, 42 + 0, 128), np.float32).transpose(0, 2, 1)
    ok = compare("recognizer", "fp32", ("logits",), ("logits",), [(ref, ref.copy())], "x")
    assert ok.max_abs == {"probs": 0.0, "lines_changed": 0.0}
    with pytest.raises(OutputNameError):
        compare("recognizer", "fp32", ("logits",), ("out",), [(ref, ref)], "x")
    with pytest.raises(ShapeMismatchError):
        compare("recognizer", "fp32", ("logits",), ("logits",), [(ref, ref[:, :64])], "x")
    bad = ref.copy()
    bad[0, :, 1] = 9.0  # a different character wins every frame
    with pytest.raises(ToleranceError, match="over the fp32 tolerance"):
        compare("recognizer", "fp32", ("logits",), ("logits",), [(ref, bad)], "x")
    yolo = np.zeros((1, 8, 10), np.float32)
    yolo[0, :4, 3] = (100.0, 100.0, 120.0, 40.0)
    yolo[0, 4, 3] = 0.9
    moved = yolo.copy()
    moved[0, 0, 3] = 120.0  # the kept box 20 px off
    with pytest.raises(ToleranceError, match="coords"):
        compare("fields", "int8", ("output0",), ("output0",), [(yolo, moved)], "x")


def test_verifier_parity_gates_logit_probability_and_decisions():
    from cardlens.export.validate import TOLERANCES

    logits = np.array([6.0, -6.0, 0.0, -1.3, 2.5], np.float32)     # probabilities .998 .002 .5 .21 .92
    pairs = [(np.array([[v]], np.float32), np.array([[v]], np.float32)) for v in logits]
    ok = compare("verifier", "fp32", ("logit",), ("logit",), pairs, "x", {"keep": 0.2})
    assert ok.max_abs == {"logit": 0.0, "card_prob": 0.0, "flipped": 0} and set(ok.tolerance) == set(ok.max_abs)
    with pytest.raises(ShapeMismatchError):
        compare("verifier", "fp32", ("logit",), ("logit",), [(pairs[0][0], np.zeros((1, 2), np.float32))], "x")
    with pytest.raises(OutputNameError):
        compare("verifier", "fp32", ("logit",), ("output0",), pairs, "x")
    for precision in ("fp32", "fp16", "int8"):   # a shift that the probability barely shows is still caught
        shifted = [(r, g + 1.2 * TOLERANCES[precision]["logit"]) for r, g in pairs]
        with pytest.raises(ToleranceError, match="logit"):
            compare("verifier", precision, ("logit",), ("logit",), shifted, "x", {"keep": 0.2})
    # -1.3 (p .214, 0.014 from keep) dropped is a near tie, not a flip; 2.5 (p .92) dropped is a flip
    near = [(r, np.array([[-1.45]], np.float32) if r[0, 0] == np.float32(-1.3) else g) for r, g in pairs]
    assert compare("verifier", "int8", ("logit",), ("logit",), near, "x", {"keep": 0.2}).max_abs["flipped"] == 0
    far = [(r, np.array([[-1.45]], np.float32) if r[0, 0] == np.float32(2.5) else g) for r, g in pairs]
    with pytest.raises(ToleranceError, match="logit"):  # 3.95 off: the logit gate catches it first
        compare("verifier", "int8", ("logit",), ("logit",), far, "x", {"keep": 0.2})
    loose = {"fp32": {k: 99.0 for k in ("logit", "card_prob")} | {"flipped": 0}}
    with pytest.raises(ToleranceError, match="flipped is 1"):   # the flip alone fails it
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr("cardlens.export.validate.TOLERANCES", loose)
            compare("verifier", "fp32", ("logit",), ("logit",), far, "x", {"keep": 0.2})


@pytest.fixture(scope="module")
def verifier_inputs(inputs_cache):
    """The verifier's export inputs (12 validation crops: cards and card-sized quads over scenes without one)."""
    from cardlens.export import calibration as calib
    from cardlens.export.bundle import _reference_outputs
    from cardlens.export.sources import pipeline_sources

    need("onnx")
    source = next(s for s in pipeline_sources() if s.role == "verifier")
    val = calib.network_inputs(source, 12, calib.VALIDATION_SEED)
    return source, {"calibration": calib.network_inputs(source, 6, calib.CALIBRATION_SEED), "validation": val,
                    "reference": _reference_outputs(source, val)}


class _Records(list):
    """A logging handler that keeps the messages (the cardlens logger may not propagate to caplog's)."""

    def __init__(self):
        import logging

        super().__init__()
        self.handler = logging.Handler()
        self.handler.emit = lambda record: self.append(record.getMessage())


def _sources_warnings():
    import logging

    records = _Records()
    logging.getLogger("cardlens.export.sources").addHandler(records.handler)
    return records


def test_pipeline_sources_take_a_models_folders_own_verifier(tmp_path):
    """A pipeline package or registry export holds its own card-verifier: bundles take that one."""
    import logging

    from cardlens.export.sources import MODELS, pipeline_sources

    for name in ("card-detector", "field-locator", "text-recognizer", "card-verifier"):
        (tmp_path / name).symlink_to(MODELS / name)
    records = _sources_warnings()
    try:
        sources = {s.role: s.folder for s in pipeline_sources(tmp_path)}
    finally:
        logging.getLogger("cardlens.export.sources").removeHandler(records.handler)
    assert list(sources) == ROLES and sources["verifier"] == tmp_path / "card-verifier" and records == []


def test_pipeline_sources_without_a_verifier_take_the_shipped_one_and_say_so(tmp_path):
    """A models folder from before the verifier was versioned (three models): its bundles carry the
    shipped verifier, which those models always ran with, and a warning names the folder."""
    import logging

    from cardlens.export.sources import MODELS, pipeline_sources

    for name in ("card-detector", "field-locator", "text-recognizer"):
        (tmp_path / name).symlink_to(MODELS / name)
    records = _sources_warnings()
    try:
        sources = {s.role: s.folder for s in pipeline_sources(tmp_path)}
        noted = list(records)
        shipped = {s.role: s.folder for s in pipeline_sources()}  # the shipped models themselves: no note
    finally:
        logging.getLogger("cardlens.export.sources").removeHandler(records.handler)
    assert len(noted) == 1 and records == noted and shipped["verifier"] == MODELS / "card-verifier"
    assert list(sources) == ROLES and sources["verifier"] == MODELS / "card-verifier"
    assert sources["detector"] == tmp_path / "card-detector"
    assert f"{tmp_path} has no card-verifier/spec.json" in noted[0] and str(MODELS / "card-verifier") in noted[0]


def test_verifier_validation_crops_hold_cards_and_not_cards(verifier_inputs):
    from cardlens.detector.verifier import sigmoid

    source, inputs = verifier_inputs
    assert all(x.shape == source.input_shape() == (1, 3, 60, 96) for x in inputs["validation"])
    p = sigmoid(np.concatenate(inputs["reference"]))
    keep = source.spec.thresholds["keep"]
    assert (p >= keep).sum() >= 4 and (p < keep).sum() >= 2, np.round(p, 3)


@pytest.mark.parametrize("precision, damage", [("fp32", "conv"), ("fp32", "bias"), ("fp16", "bias"), ("int8", "bias"),
                                               ("int8", "conv")])
def test_a_wrong_verifier_artifact_fails_validation(verifier_inputs, tmp_path, monkeypatch, precision, damage):
    """The export's artifact computes something else than the torch reference: the bundle is not written."""
    import onnx
    from onnx import numpy_helper

    from cardlens.export import onnx_format
    from cardlens.export.bundle import export_model

    source, inputs = verifier_inputs
    real = onnx_format.export

    def wrong(source, precision, dest, calibration):
        real(source, precision, dest, calibration)
        model = onnx.load(str(dest))
        node = next(n for n in model.graph.node if n.op_type == ("Gemm" if damage == "bias" else "Conv"))
        inits = {t.name: t for t in model.graph.initializer}
        name = node.input[2] if damage == "bias" else node.input[1]
        if name not in inits:  # int8: the conv weight comes through a DequantizeLinear
            name = next(n.input[1] for n in model.graph.node if n.output[0] == name)  # its scale
        a = numpy_helper.to_array(inits[name])
        # bias: the logit shifted by 2; conv: the first layer's weights stronger (another training's weights),
        # by 10 % (by 50 % against int8's looser tolerance)
        changed = a + 2.0 if damage == "bias" else a * (1.5 if precision == "int8" else 1.1)
        inits[name].CopyFrom(numpy_helper.from_array(changed.astype(a.dtype), name))
        onnx.save(model, str(dest))
        return dest

    monkeypatch.setattr(onnx_format, "export", wrong)
    with pytest.raises(ToleranceError, match="(logit|card_prob|flipped)"):
        export_model(onnx_format, "onnx", precision, source, tmp_path, inputs)
    monkeypatch.setattr(onnx_format, "export", real)
    report = export_model(onnx_format, "onnx", precision, source, tmp_path, inputs)  # the true artifact passes
    assert report.parity["inputs"] == 12 and set(report.parity["tolerance"]) == {"logit", "card_prob", "flipped"}


def test_export_cli_writes_bundle_and_summary(tmp_path, capsys):
    need("onnx")
    code = main(["export", "--format", "onnx", "--precision", "fp32", "--out", str(tmp_path), "--accuracy", "none"])
    assert code == 0
    assert (tmp_path / "onnx-fp32" / "manifest.json").is_file() and (tmp_path / "SUMMARY.md").is_file()


@pytest.fixture(scope="module")
def onnx_fp32_bundle(tmp_path_factory, inputs_cache):
    need("onnx")
    return _bundle(tmp_path_factory, inputs_cache, "onnx", "fp32")


def test_bundle_runtime_imports_neither_torch_nor_ultralytics(onnx_fp32_bundle, capsys):
    import subprocess
    import sys

    code = ("import sys; from cardlens.export.bundle import bundle_scanner; "
            f"r = bundle_scanner({onnx_fp32_bundle.folder!r}).scan({EXAMPLE!r}); "
            "heavy = [m for m in ('torch', 'ultralytics', 'tensorflow') if m in sys.modules]; "
            "print(heavy, r.number is not None)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-1500:]
    assert done.stdout.strip() == "[] True"
    assert main(["scan", "--bundle", onnx_fp32_bundle.folder, "--json", EXAMPLE]) == 0


def test_bundle_path_answers_like_the_torch_path_on_realcards(onnx_fp32_bundle):
    import json as _json
    from pathlib import Path

    from cardlens.demo.app import make_backends
    from cardlens.export.bundle import bundle_scanner
    from cardlens.imageio import read_image

    root = Path("../shared/realcards-dev")
    if not (root / "labels.jsonl").is_file():
        pytest.skip("../shared/realcards-dev is not beside this checkout")
    need("torch")
    rows = [_json.loads(line) for line in (root / "labels.jsonl").open()][:24]
    bundle, torch_path = bundle_scanner(onnx_fp32_bundle.folder), make_backends()["torch"]()

    def answer(r):
        return (r.card_found, r.number.reveal() if r.number else None, r.number_accepted,
                str(r.expiry) if r.expiry else None, r.name.value if r.name else None)

    # Both paths share every pre- and post-processing step; their networks differ by float rounding
    # (~1e-5), which can only flip a borderline reading (a beam share of 0.15 against 0.23, a garbled name
    # on a specimen card). So: the card is found alike everywhere, an accepted number is accepted alike,
    # and whole answers differ on at most 2 of the 24 images (0–2 seen from run to run).
    differ = []
    for row in rows:
        img = read_image(root / row["file"])
        a, b = answer(bundle.scan(img)), answer(torch_path.scan(img))
        assert a[0] == b[0], row["file"]
        if a[2] or b[2]:
            same_accepted = a[1:3] == b[1:3]
            assert same_accepted, row["file"]  # a bare flag: no digits in the failure message
        if a != b:
            differ.append(row["file"])
    assert len(differ) <= 2, differ


@pytest.mark.skipif(__import__("sys").platform != "darwin", reason="CoreML predicts on macOS only")
def test_coreml_parity_on_macos(tmp_path_factory, inputs_cache):
    need("coremltools")
    for precision in ("fp32", "fp16", "int8"):
        result = _bundle(tmp_path_factory, inputs_cache, "coreml", precision)
        assert all(m.parity and m.parity["max_abs"] for m in result.models)


def test_tampered_or_mismatched_bundle_is_refused_with_the_file_named(onnx_fp32_bundle, tmp_path):
    import shutil
    from dataclasses import replace
    from pathlib import Path

    from cardlens.errors import ModelError
    from cardlens.export.bundle import bundle_scanner
    from cardlens.export.onnx_format import embed_spec
    from cardlens.modelspec import ModelSpec, sha256_of

    copy = tmp_path / "bundle"
    shutil.copytree(onnx_fp32_bundle.folder, copy)
    model = copy / "recognizer" / "model.onnx"
    expected = ModelSpec.load(copy / "recognizer" / "spec.json").sha256
    model.write_bytes(model.read_bytes()[:-100])  # truncated
    with pytest.raises(ModelError) as err:
        bundle_scanner(copy)
    assert str(model) in str(err.value) and expected in str(err.value)

    shutil.rmtree(copy)
    shutil.copytree(onnx_fp32_bundle.folder, copy)
    det = copy / "detector"
    spec = ModelSpec.load(det / "spec.json")
    embed_spec(det / "model.onnx", replace(spec, input_size=(256, 256), sha256=""))  # metadata disagrees
    replace(spec, sha256=sha256_of(det / "model.onnx")).save(det / "spec.json")
    with pytest.raises(ModelError, match="does not match"):
        bundle_scanner(copy)
    assert Path(onnx_fp32_bundle.folder, "detector", "model.onnx").is_file()


def test_bundle_without_its_verifier_is_refused(onnx_fp32_bundle, tmp_path):
    import shutil

    from cardlens.errors import ModelError
    from cardlens.export.bundle import bundle_scanner

    copy = tmp_path / "bundle"
    shutil.copytree(onnx_fp32_bundle.folder, copy)
    assert bundle_scanner(copy).locator.verifier is not None
    shutil.rmtree(copy / "verifier")
    with pytest.raises(ModelError, match="verifier"):
        bundle_scanner(copy)
    with pytest.raises(ModelError, match="card verifier not found"):  # also while a bundle is being written
        bundle_scanner(copy, check=False)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["files"] = [f for f in manifest["files"] if f["role"] != "verifier"]
    manifest["specs"].pop("verifier")
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="lists models .*'verifier'"):
        bundle_scanner(copy)


def test_int8_parity_is_gated_on_the_detections_nms_keeps():
    from cardlens.export.validate import ToleranceError, compare

    yolo = np.zeros((1, 8, 10), np.float32)
    yolo[0, :4, :] = np.array([100.0, 100.0, 50.0, 30.0])[:, None]   # every anchor on the same box
    yolo[0, 4, 3], yolo[0, 4, 4] = 0.9, 0.6                          # the kept one and a neighbour NMS drops
    quiet = yolo.copy()
    quiet[0, 4, 4] = 0.2                     # the dropped neighbour's score moves by 0.4: not what an app sees
    parity = compare("fields", "int8", ("output0",), ("output0",), [(yolo, quiet)], "x")
    assert parity.max_abs["scores"] == pytest.approx(0.4) and "scores" not in parity.tolerance
    assert parity.max_abs["kept_scores"] == 0.0 and parity.max_abs["flipped"] == 0
    with pytest.raises(ToleranceError, match="scores"):  # fp16 still gates the raw tensor
        compare("fields", "fp16", ("output0",), ("output0",), [(yolo, quiet)], "x")
    lost = yolo.copy()
    lost[0, 4, 3:5] = 0.1                    # the card's detection vanishes: a flip
    with pytest.raises(ToleranceError, match="flipped"):
        compare("fields", "int8", ("output0",), ("output0",), [(yolo, lost)], "x")
    dimmer = yolo.copy()
    dimmer[0, 4, 3] = 0.7                    # kept, but its score moved by 0.2
    with pytest.raises(ToleranceError, match="kept_scores"):
        compare("fields", "int8", ("output0",), ("output0",), [(yolo, dimmer)], "x")


def test_kept_corners_may_be_any_anchor_the_reference_nearly_kept():
    from cardlens.export.validate import ToleranceError, compare

    pose = np.zeros((1, 17, 6), np.float32)
    pose[0, :4, :] = np.array([160.0, 160.0, 200.0, 126.0])[:, None]
    upright = np.array([[60, 97], [260, 97], [260, 223], [60, 223]], np.float32)
    for a, corners in ((0, upright), (1, upright[[2, 3, 0, 1]])):   # the same card, corner order turned 180°
        pose[0, 5:, a] = np.concatenate([corners, np.ones((4, 1))], axis=1).reshape(-1)
    pose[0, 4, 0], pose[0, 4, 1] = 0.90, 0.85
    swapped = pose.copy()
    swapped[0, 4, 0], swapped[0, 4, 1] = 0.84, 0.89                 # int8 keeps the other, near-tied anchor
    parity = compare("detector", "int8", ("output0",), ("output0",), [(pose, swapped)], "x")
    assert parity.max_abs["kept_coords"] == 0.0
    clear = pose.copy()
    clear[0, 4, 1] = 0.50                                           # the reference was sure: not a tie
    swapped_clear = clear.copy()
    swapped_clear[0, 4, 0], swapped_clear[0, 4, 1] = 0.50, 0.90
    with pytest.raises(ToleranceError, match="kept_"):
        compare("detector", "int8", ("output0",), ("output0",), [(clear, swapped_clear)], "x")


def test_recognizer_int8_is_gated_on_changed_readings():
    from cardlens.export.validate import ToleranceError, compare

    ref = np.full((1, 16, 42), -5.0, np.float32)
    ref[0, :, 0] = 5.0
    ref[0, 4:6, 5] = 8.0                     # reads one character
    pairs = [(ref, ref.copy()) for _ in range(19)]
    changed = ref.copy()
    changed[0, 4:6, 5], changed[0, 4:6, 6] = 0.0, 8.0  # reads a different character
    ok = compare("recognizer", "int8", ("logits",), ("logits",), pairs + [(ref, changed)], "x")
    assert ok.max_abs["lines_changed"] == pytest.approx(0.05) and "probs" not in ok.tolerance
    with pytest.raises(ToleranceError, match="lines_changed"):
        compare("recognizer", "int8", ("logits",), ("logits",), pairs[:9] + [(ref, changed)], "x")


def test_eval_scan_runs_a_bundle_like_the_engines(capsys):
    """`cardlens eval scan --bundle DIR`: the shipped ONNX int8 bundle scored on a labelled set beside the
    torch engine, with the same report — it reads the example photo as torch does."""
    from hardening_support import known_pan_scan_set

    need("onnx")
    data, _ = known_pan_scan_set()
    assert main(["eval", "scan", "--data", str(data), "--bundle", "cardlens/models/bundles/onnx-int8", "--json",
                 "--no-progress"]) == 0
    torch_report, bundle_report = json.loads(capsys.readouterr().out)
    assert bundle_report["engine"] == "onnx-int8" and torch_report["engine"] == "cardlens"
    assert bundle_report["overall"]["images"] == torch_report["overall"]["images"] == 3
    assert bundle_report["overall"]["false_accepts"] == 0
    for report in (torch_report, bundle_report):  # the shipped models read the example photo exactly
        assert "images/example.jpg" not in report["misread_files"], report["engine"]
