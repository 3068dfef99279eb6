"""The ONNX size passes (weight-only int8, zero-point removal, exact float16 constants, compaction) on a
small graph built here: each must make the file smaller and keep what the graph computes."""

import numpy as np
import pytest
from conftest import need


def _graph(seed: int = 0):
    """x (1, 3, 8, 8) → Conv 16 → Relu → Conv 4 (1×1) → + anchors (multiples of 0.5) → × scale → y."""
    need("onnx")
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w1 = rng.normal(0, 0.3, (16, 3, 3, 3)).astype(np.float32)
    w2 = rng.normal(0, 0.3, (4, 16, 1, 1)).astype(np.float32)
    anchors = (rng.integers(0, 600, (1, 4, 32, 32)) / 2).astype(np.float32)  # 4096 values, exact in float16
    inits = [numpy_helper.from_array(w1, "/model.0/conv/weight"),
             numpy_helper.from_array(np.zeros(16, np.float32), "/model.0/conv/bias"),
             numpy_helper.from_array(w2, "/model.23/cv2/conv/weight"),
             numpy_helper.from_array(anchors, "/model.23/Constant_output_0"),
             numpy_helper.from_array(np.full(4096, 0.1, np.float32).reshape(1, 4, 32, 32), "/model.23/not_exact"),
             numpy_helper.from_array(np.array(2.0, np.float32), "/model.23/scale_a"),
             numpy_helper.from_array(np.array(2.0, np.float32), "/model.23/scale_b")]
    nodes = [helper.make_node("Conv", ["images", "/model.0/conv/weight", "/model.0/conv/bias"], ["/model.0/conv_out"],
                              name="/model.0/conv/Conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["/model.0/conv_out"], ["/model.0/relu_out"], name="/model.0/act/Relu"),
             helper.make_node("Conv", ["/model.0/relu_out", "/model.23/cv2/conv/weight"], ["/model.23/cv2_out"],
                              name="/model.23/cv2/Conv"),
             helper.make_node("Add", ["/model.23/cv2_out", "/model.23/Constant_output_0"], ["/model.23/add_out"]),
             helper.make_node("Add", ["/model.23/add_out", "/model.23/not_exact"], ["/model.23/add2_out"]),
             helper.make_node("Mul", ["/model.23/add2_out", "/model.23/scale_a"], ["/model.23/mul_out"]),
             helper.make_node("Mul", ["/model.23/mul_out", "/model.23/scale_b"], ["output0"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 32, 32])],
                              [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 4, 32, 32])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return onnx.shape_inference.infer_shapes(model)


def _run(model, x):
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"images": x})[0]


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(1).random((1, 3, 32, 32), dtype=np.float32)


def test_weight_only_int8_stores_conv_weights_int8_and_keeps_the_answer_close(x):
    import onnx
    from onnx import numpy_helper

    from cardlens.export.onnx_format import weight_only_int8

    model = _graph()
    reference = _run(model, x)
    size = model.ByteSize()
    weight_only_int8(model, min_elements=64)
    onnx.checker.check_model(model)
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    dq = {n.output[0]: n for n in model.graph.node if n.op_type == "DequantizeLinear"}
    assert all(c.input[1] in dq and inits[dq[c.input[1]].input[0]].dtype == np.int8 for c in convs)
    assert model.ByteSize() < size - 0.5 * 4 * (16 * 27 + 4 * 16)  # over half the float bytes saved
    got = _run(model, x)
    assert 0 < np.abs(got - reference).max() < 0.02 * np.abs(reference).max()


def test_weight_only_int8_leaves_small_kernels_float():
    from cardlens.export.onnx_format import weight_only_int8

    model = weight_only_int8(_graph(), min_elements=256)  # the 4×16 1×1 kernel has 64 weights
    assert [n.input[1] for n in model.graph.node if n.op_type == "Conv"][1] == "/model.23/cv2/conv/weight"


def test_zero_points_of_symmetric_weights_are_dropped_without_changing_the_answer(x):
    import onnx
    from onnx import helper, numpy_helper

    from cardlens.export.onnx_format import drop_zero_points, weight_only_int8

    model = weight_only_int8(_graph(), min_elements=64)
    for node in model.graph.node:  # give them explicit zero points, as onnxruntime's quantizer does
        if node.op_type == "DequantizeLinear":
            zero = f"{node.input[0]}_zero"
            n = numpy_helper.to_array(next(t for t in model.graph.initializer if t.name == node.input[1])).size
            model.graph.initializer.append(numpy_helper.from_array(np.zeros(n, np.int8), zero))
            node.input.append(zero)
    model.graph.initializer.append(numpy_helper.from_array(np.array([3], np.int8), "kept_zero"))
    model.graph.node.insert(0, helper.make_node("DequantizeLinear", ["kept_q", "kept_scale", "kept_zero"], ["unused"]))
    model.graph.initializer.extend([numpy_helper.from_array(np.array([5], np.int8), "kept_q"),
                                    numpy_helper.from_array(np.array(1.0, np.float32), "kept_scale")])
    before = _run(model, x)
    drop_zero_points(model)
    onnx.checker.check_model(model)
    zeros = [n.input[2] for n in model.graph.node if n.op_type == "DequantizeLinear" and len(n.input) == 3]
    assert zeros == ["kept_zero"]  # a non-zero zero point is data
    assert not any(t.name.endswith("_q_zero") for t in model.graph.initializer)
    np.testing.assert_array_equal(_run(model, x), before)


def test_exact_float16_constants_halve_and_inexact_ones_stay(x):
    import onnx

    from cardlens.export.onnx_format import half_exact_constants

    model = _graph()
    before, size = _run(model, x), model.ByteSize()
    half_exact_constants(model)
    onnx.checker.check_model(model)
    types = {t.name: t.data_type for t in model.graph.initializer}
    assert types["/model.23/Constant_output_0_fp16"] == onnx.TensorProto.FLOAT16
    assert types["/model.23/not_exact"] == onnx.TensorProto.FLOAT  # 0.1 is not a float16 value
    assert model.ByteSize() < size - 2 * 4096 + 100
    np.testing.assert_array_equal(_run(model, x), before)


def test_compact_keeps_the_interface_and_the_answer(x):
    import onnx

    from cardlens.export.onnx_format import compact

    model = _graph()
    before, size = _run(model, x), model.ByteSize()
    compact(model)
    onnx.checker.check_model(model)
    assert [i.name for i in model.graph.input] == ["images"] and [o.name for o in model.graph.output] == ["output0"]
    assert not model.graph.value_info and not any(n.name for n in model.graph.node)
    names = [t.name for t in model.graph.initializer]
    assert len(names) == 6 and all(len(n) <= 4 for n in names)  # the two equal scales are stored once
    assert model.ByteSize() < size
    np.testing.assert_array_equal(_run(model, x), before)
