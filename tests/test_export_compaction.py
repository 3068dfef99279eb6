"""The CoreML and TFLite compaction passes on small models built here: each must make the file smaller
and leave what the model computes exactly as it was — and the CoreML equivalence check must notice a
change."""

import shutil

import numpy as np
import pytest
from conftest import need


def _size(path):
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size


@pytest.fixture(scope="module")
def mlpackage(tmp_path_factory):
    """Two int8-quantized convolutions (per-channel symmetric: all-zero zero points) with biases, as
    coremltools writes them."""
    need("coremltools")
    import coremltools as ct
    from coremltools.converters.mil import Builder as mb
    from coremltools.optimize.coreml import (
        OpLinearQuantizerConfig,
        OptimizationConfig,
        linear_quantize_weights,
    )

    rng = np.random.default_rng(0)
    w1 = rng.normal(0, 0.3, (32, 3, 3, 3)).astype(np.float32)
    b1 = rng.normal(0, 0.1, 32).astype(np.float32)
    w2 = rng.normal(0, 0.3, (8, 32, 3, 3)).astype(np.float32)
    b2 = rng.normal(0, 0.1, 8).astype(np.float32)

    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 3, 16, 16))], opset_version=ct.target.iOS16)
    def prog(images):
        x = mb.conv(x=images, weight=w1, bias=b1, pad_type="same", name="features_0_conv")
        x = mb.relu(x=x, name="features_0_act")
        return mb.conv(x=x, weight=w2, bias=b2, pad_type="same", name="head_conv")

    model = ct.convert(prog, convert_to="mlprogram", minimum_deployment_target=ct.target.iOS16,
                       compute_precision=ct.precision.FLOAT16)
    model = linear_quantize_weights(model, OptimizationConfig(
        global_config=OpLinearQuantizerConfig(mode="linear_symmetric", weight_threshold=256)))
    path = tmp_path_factory.mktemp("coreml") / "model.mlpackage"
    model.save(str(path))
    return path


def test_coreml_compaction_is_smaller_and_computes_the_same(mlpackage, tmp_path):
    import coremltools as ct

    from cardlens.export.coreml_compact import compact_package, same_program

    small = tmp_path / "small.mlpackage"
    shutil.copytree(mlpackage, small)
    compact_package(small)
    assert _size(small) < _size(mlpackage)
    assert same_program(mlpackage, small) == []
    spec = ct.models.MLModel(str(small), skip_model_load=True).get_spec()
    ops = spec.mlProgram.functions["main"].block_specializations["CoreML6"].operations
    names = [o.name for op in ops for o in op.outputs]
    assert all(n.startswith("v") for n in names[:-1]) and len(set(names)) == len(names)
    assert [i.name for i in spec.description.input] == ["images"]  # the contract's names are kept
    zero_points = [op.attributes["zero_point"] for op in ops if op.type == "constexpr_affine_dequantize"]
    assert zero_points and all(z.type.tensorType.rank == 0 and z.HasField("immediateValue") for z in zero_points)
    consts = [op.attributes["val"].SerializeToString() for op in ops if op.type == "const"]
    assert len(consts) == len(set(consts))  # the two convolutions share their strides/dilations/groups


def test_coreml_equivalence_check_notices_a_changed_bias(mlpackage, tmp_path):
    import coremltools as ct
    from coremltools.converters.mil.backend.mil import helper

    from cardlens.export.coreml_compact import compact_package, same_program

    small = tmp_path / "small.mlpackage"
    shutil.copytree(mlpackage, small)
    compact_package(small)  # the biases (32 and 8 values) are now inline
    spec = ct.models.MLModel(str(small), skip_model_load=True).get_spec()
    ops = spec.mlProgram.functions["main"].block_specializations["CoreML6"].operations
    bias = next(op for op in ops if op.type == "const" and op.attributes["val"].type.tensorType.rank == 1
                and op.attributes["val"].type.tensorType.dimensions[0].constant.size == 8)
    value = np.frombuffer(bias.attributes["val"].immediateValue.tensor.bytes.values, np.float16).copy()
    value[3] += np.float16(0.5)
    bias.attributes["val"].CopyFrom(helper.create_tensor_value(value))
    tampered = tmp_path / "tampered.mlpackage"
    ct.models.MLModel(spec, weights_dir=str(small / "Data/com.apple.CoreML/weights"),
                      skip_model_load=True).save(str(tampered))
    problems = same_program(mlpackage, tampered)
    assert problems and "bias" in problems[0]


def test_tflite_compaction_is_smaller_and_answers_identically(tmp_path):
    need("litert_torch")
    import ai_edge_litert.interpreter as ai
    import litert_torch
    import torch
    from ai_edge_litert.tools import flatbuffer_utils

    from cardlens.export.tflite_format import _quantize_int8, compact

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 24, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(24, 24, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(24, 8, 1)).eval()
    rng = np.random.default_rng(0)
    calibration = [rng.random((1, 1, 16, 64), dtype=np.float32) for _ in range(4)]
    path = tmp_path / "m.tflite"
    litert_torch.convert(net, (torch.from_numpy(calibration[0]),)).export(str(path))
    _quantize_int8(path, "recognizer", calibration)  # full-integer: per-channel int8 weights and biases
    before = tmp_path / "before.tflite"
    shutil.copyfile(path, before)
    compact(path)
    assert path.stat().st_size < before.stat().st_size

    def run(p):
        interp = ai.Interpreter(model_path=str(p))
        interp.allocate_tensors()
        (inp,), (out,) = interp.get_input_details(), interp.get_output_details()
        interp.set_tensor(inp["index"], calibration[1])
        interp.invoke()
        return out["name"], interp.get_tensor(out["index"])

    (name_a, a), (name_b, b) = run(before), run(path)
    assert name_a == name_b and np.array_equal(a, b)
    sg = flatbuffer_utils.read_model(str(path)).subgraphs[0]
    io = set(sg.inputs) | set(sg.outputs)
    assert all(not t.name for i, t in enumerate(sg.tensors) if i not in io)
    per_channel = [t.quantization for t in sg.tensors
                   if t.quantization is not None and t.quantization.scale is not None and len(t.quantization.scale) > 1]
    assert per_channel and all(not q.zeroPoint.any() for q in per_channel)
