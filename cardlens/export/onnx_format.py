"""ONNX: fp32 (the shipped graph), fp16 (float16 weights and compute, float32 I/O), int8 (static QDQ;
the field locator weight-only).

int8 quantizes convolutions, ReLUs and max-pools (per-channel weights, activations calibrated on
synthetic inputs). ReLU is in the list so the quantizer fuses Conv+ReLU and puts one quantize step
after the ReLU; with convolutions alone it quantized each pre-ReLU output, half its range negative,
and the recognizer's lines changed reading 1.8× as often (14 vs 8 of 300). The YOLO heads
concatenate box coordinates (0–320 px) and scores (0–1) into one tensor, and one activation scale
over both would erase the scores — so the head (its convolutions, the concat and everything after
it) computes in float; its convolution weights are stored int8 (per output channel, symmetric) and
dequantized in the graph (weight-only), which keeps the activations float and the error tiny.

The field locator is the exception: its int8 file is weight-only (every convolution weight int8 per
output channel, dequantized in the graph; activations float). Measured on 2,000 synthetic scans
(seed 54, 1,054 Luhn numbers), the whole pipeline through ONNX Runtime, validated PAN: fp32 0.740;
every model static int8 0.730 (−1.0 point); the field locator weight-only 0.740 (±0, number exact
−0.3); the recognizer weight-only as well 0.741 but 3× slower per line (3.3 vs 1.2 ms), so it stays
static. The weight-only field locator is also smaller (0.28 vs 0.30 MB: no activation quantize steps)
and, on this x86 host, faster (8.0 vs 8.9 ms at 1 thread; fp32 7.1).

The card verifier is static int8 like the recognizer: its six convolutions (and ReLUs) int8, the mean and
the linear layer that makes the logit float (they are not among the quantized op types). The shipped
width-8 verifier: 0.13 → 0.04 MB, logit within 0.55 of torch on the 48 validation crops (probability
within 0.032); the width-16 candidate: 0.50 → 0.13 MB, 0.21 (0.046).

Every fp16 and int8 file is then compacted: the shape annotations (``value_info``), node names and the long
internal tensor names are dropped (the graph's input and output names stay: they are the contract),
identical initializers are stored once, all-zero int8 zero points dropped and exact float16 constants
halved. Measured on the int8 detector: 1.41 → 1.11 MB (weight-only head) → 0.80 MB (the rest).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from cardlens.errors import require
from cardlens.export.sources import Source
from cardlens.modelspec import METADATA_KEY, ModelSpec

SUFFIX = ".onnx"
# int8 weights, float compute (see the module doc): the field locator's static int8 activations cost the
# pipeline a point of validated PAN on 2,000 synthetic scans, its int8 weights alone nothing
WEIGHT_ONLY_INT8 = frozenset({"fields"})


def export(source: Source, precision: str, dest: Path, calibration: list[np.ndarray]) -> Path:
    onnx = require("onnx", "export")
    fp32 = source.folder / source.spec.weights
    if precision == "fp32":
        shutil.copyfile(fp32, dest)
    elif precision == "fp16":
        from onnxruntime.transformers.float16 import convert_float_to_float16

        model = compact(convert_float_to_float16(onnx.load(str(fp32)), keep_io_types=True))
        onnx.save(model, str(dest))
    elif precision == "int8" and source.role in WEIGHT_ONLY_INT8:
        model = compact(half_exact_constants(weight_only_int8(onnx.load(str(fp32)))))
        onnx.checker.check_model(model)
        onnx.save(model, str(dest))
    elif precision == "int8":
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
        from onnxruntime.quantization.shape_inference import quant_pre_process

        class Reader(CalibrationDataReader):
            def __init__(self):
                self._it = iter({source.spec.input_name: x} for x in calibration)

            def get_next(self):
                return next(self._it, None)

        pre = dest.with_suffix(".pre.onnx")
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), str(dest), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        op_types_to_quantize=["Conv", "Relu", "MaxPool"],
                        nodes_to_exclude=float_convs(onnx.load(str(pre))))
        pre.unlink(missing_ok=True)
        model = onnx.load(str(dest))
        compact(half_exact_constants(drop_zero_points(weight_only_int8(model))))
        onnx.checker.check_model(model)
        onnx.save(model, str(dest))
    else:
        raise ValueError(f"unknown precision {precision!r}")
    return dest


def float_convs(model) -> list[str]:
    """The convolutions left out of static int8 (they compute in float; ``weight_only_int8`` stores
    their weights int8): the YOLO stem and head (the last ``/model.N/`` module), or the recognizer's
    classifier (``/head/``; the card verifier has no convolution there: its head is a Gemm). Measured on the detector: quantizing only the head's final 1×1 convs
    moved coordinates by up to 15 px, keeping the whole head float by up to 6 px (320 px input)."""
    import re

    convs = [n.name for n in model.graph.node if n.op_type == "Conv"]
    indices = [int(m.group(1)) for name in convs if (m := re.match(r"/model\.(\d+)/", name))]
    if not indices:  # the recognizer: its 1×1 classifier conv makes the CTC logits
        return [n for n in convs if n.startswith("/head/")]
    head = f"/model.{max(indices)}/"
    # ...and the stem (/model.0/ to /model.3/): with it static int8, the scale-p field locator's kept
    # score moved by 0.16 on one validation scene (gate 0.15; float compute there: 0.035), the detector
    # of 2026-12-01 (stage 5) by 0.20 with /model.2/ int8 (0.126 float), and stage 6 by 0.166 with
    # /model.3/ int8 (0.14 float; the int8 file stays 0.80 MB); stage 7 (2026-12-02) moved a kept corner by
    # 12.8 px with /model.4/ int8 (gate 12 px)
    stem = tuple(f"/model.{i}/" for i in range(5))
    return [n for n in convs if n.startswith((head, *stem))]


def weight_only_int8(model, min_elements: int = 256):
    """Store the float convolution weights left in ``model`` (the excluded head) as int8, one symmetric
    scale per output channel, behind a DequantizeLinear: the convolution still computes in float.
    Weights under ``min_elements`` (depthwise 3×3 kernels, biases) stay float — they weigh little."""
    onnx = require("onnx", "export")
    from onnx import helper, numpy_helper

    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    dequantize = []
    for node in graph.node:
        if node.op_type != "Conv" or len(node.input) < 2 or node.input[1] not in inits:
            continue
        tensor = inits[node.input[1]]
        if tensor.data_type != onnx.TensorProto.FLOAT:
            continue
        w = numpy_helper.to_array(tensor)
        if w.size < min_elements:
            continue
        scale = np.abs(w.reshape(len(w), -1)).max(axis=1) / 127.0
        scale[scale == 0] = 1.0
        q = np.clip(np.round(w / scale.reshape(-1, *[1] * (w.ndim - 1))), -127, 127).astype(np.int8)
        name = tensor.name
        graph.initializer.remove(tensor)
        del inits[name]
        graph.initializer.extend([numpy_helper.from_array(q, f"{name}_q"),
                                  numpy_helper.from_array(scale.astype(np.float32), f"{name}_scale")])
        dequantize.append(helper.make_node("DequantizeLinear", [f"{name}_q", f"{name}_scale"], [f"{name}_dq"], axis=0))
        node.input[1] = f"{name}_dq"
    for node in reversed(dequantize):  # initializers only feed them: first in topological order
        graph.node.insert(0, node)
    return model


def drop_zero_points(model):
    """Remove all-zero int8 zero points (symmetric weights): DequantizeLinear's zero point is optional,
    defaults to 0 and takes its type from the int8 input."""
    from onnx import numpy_helper

    inits = {t.name: t for t in model.graph.initializer}
    dropped = set()
    for node in model.graph.node:
        if node.op_type == "DequantizeLinear" and len(node.input) == 3 and node.input[2] in inits:
            zero = numpy_helper.to_array(inits[node.input[2]])
            if zero.dtype == np.int8 and not zero.any():
                dropped.add(node.input[2])
                del node.input[2]
    used = {i for node in model.graph.node for i in node.input}
    for name in dropped - used:
        model.graph.initializer.remove(inits[name])
    return model


def half_exact_constants(model, min_elements: int = 1024):
    """Store large float32 constants that float16 holds exactly (the YOLO heads' anchor grids and
    strides: multiples of 0.5 below 2048) as float16 behind a Cast — half the bytes, the same values."""
    onnx = require("onnx", "export")
    from onnx import helper, numpy_helper

    graph = model.graph
    casts = []
    for tensor in list(graph.initializer):
        if tensor.data_type != onnx.TensorProto.FLOAT:
            continue
        a = numpy_helper.to_array(tensor)
        half = a.astype(np.float16)
        if a.size < min_elements or not np.array_equal(half.astype(np.float32), a):
            continue
        name = tensor.name
        graph.initializer.remove(tensor)
        graph.initializer.append(numpy_helper.from_array(half, f"{name}_fp16"))
        casts.append(helper.make_node("Cast", [f"{name}_fp16"], [name], to=onnx.TensorProto.FLOAT))
    for node in reversed(casts):
        graph.node.insert(0, node)
    return model


def compact(model):
    """Drop what only a human reads (``value_info``, node names, doc strings), store identical
    initializers once and rename internal tensors to short ids; the graph's input and output names
    are kept."""
    from onnx import numpy_helper

    graph = model.graph
    keep = {v.name for v in graph.input} | {v.name for v in graph.output}
    del graph.value_info[:]
    first: dict[tuple, str] = {}
    same: dict[str, str] = {}  # identical initializers (shared quantization scales, zero points) stored once
    for tensor in list(graph.initializer):
        a = numpy_helper.to_array(tensor)
        key = (tensor.data_type, a.shape, a.tobytes())
        if key in first and tensor.name not in keep:
            same[tensor.name] = first[key]
            graph.initializer.remove(tensor)
        else:
            first.setdefault(key, tensor.name)
    names: dict[str, str] = {}

    def short(name: str) -> str:
        name = same.get(name, name)
        if not name or name in keep:
            return name
        return names.setdefault(name, f"t{len(names)}")

    for tensor in graph.initializer:
        tensor.name = short(tensor.name)
    for node in graph.node:
        node.name, node.doc_string = "", ""
        node.input[:] = [short(n) for n in node.input]
        node.output[:] = [short(n) for n in node.output]
    return model


def embed_spec(path: Path, spec: ModelSpec) -> None:
    onnx = require("onnx", "export")
    model = onnx.load(str(path))
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, spec.to_json()
    onnx.save(model, str(path))


def read_spec(path: Path) -> ModelSpec:
    from cardlens.detector.runtime import read_onnx_spec

    return read_onnx_spec(path)


def runner(path: Path):
    from cardlens.detector.runtime import onnx_runner

    run, _ = onnx_runner(path, threads=None)
    ort = require("onnxruntime", "core")
    names = tuple(o.name for o in ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_outputs())
    return run, names
