"""ONNX: fp32 (the shipped graph), fp16 (float16 weights and compute, float32 I/O), int8 (static QDQ).

int8 quantizes convolutions, ReLUs and max-pools (per-channel weights, activations calibrated on
synthetic inputs). ReLU is in the list so the quantizer fuses Conv+ReLU and puts one quantize step
after the ReLU; with convolutions alone it quantized each pre-ReLU output, half its range negative,
and the recognizer's lines changed reading 1.8× as often (14 vs 8 of 300). The YOLO heads
concatenate box coordinates (0–320 px) and scores (0–1) into one tensor, and one activation scale
over both would erase the scores — so the head (its convolutions, the concat and everything after
it) stays float.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from cardlens.errors import require
from cardlens.export.sources import Source
from cardlens.modelspec import METADATA_KEY, ModelSpec

SUFFIX = ".onnx"


def export(source: Source, precision: str, dest: Path, calibration: list[np.ndarray]) -> Path:
    onnx = require("onnx", "export")
    fp32 = source.folder / source.spec.weights
    if precision == "fp32":
        shutil.copyfile(fp32, dest)
    elif precision == "fp16":
        from onnxruntime.transformers.float16 import convert_float_to_float16

        model = convert_float_to_float16(onnx.load(str(fp32)), keep_io_types=True)
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
                        nodes_to_exclude=head_convs(onnx.load(str(pre))))
        pre.unlink(missing_ok=True)
    else:
        raise ValueError(f"unknown precision {precision!r}")
    return dest


def head_convs(model) -> list[str]:
    """The output convolutions, kept float: the YOLO head (the last ``/model.N/`` module) or the
    recognizer's classifier (``/head/``). Measured on the shipped detector: quantizing only the head's
    final 1×1 convs moved coordinates by up to 15 px, keeping the whole head float by up to 6 px
    (320 px input), for 1.41 MB instead of 1.16 MB."""
    import re

    convs = [n.name for n in model.graph.node if n.op_type == "Conv"]
    indices = [int(m.group(1)) for name in convs if (m := re.match(r"/model\.(\d+)/", name))]
    if not indices:  # the recognizer: its 1×1 classifier conv makes the CTC logits
        return [n for n in convs if n.startswith("/head/")]
    head = f"/model.{max(indices)}/"
    return [n for n in convs if n.startswith(head)]


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
