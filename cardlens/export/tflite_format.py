"""TFLite (LiteRT) through litert-torch from the torch reference: fp32, fp16 weights, static int8.

int8 is static (``ai-edge-quantizer``'s ``static_wi8_ai8``): int8 weights (per channel) and int8
activations whose ranges are calibrated on the export's ``calibration`` inputs (real network inputs from
the synthetic data engine). The graph input and output stay float32 (one QUANTIZE after the input, one
DEQUANTIZE before the output) so the contract — (1, 3, H, W) float in, the raw (1, 17, N) / (1, 4+C, N)
/ (1, T, C) float tensor out — and the shared numpy post-processing are unchanged.

Per model (``FLOAT_SCOPES``, regexes over ai-edge-quantizer's op scopes = output tensor names):

- recognizer (CNN + CTC): every op int8 (full-integer).
- verifier (CNN, mean, linear): every op int8 but the linear layer that makes the logit (``OUTPUT``),
  whose int8 output clipped the logit to its calibrated range (measured on a prototype verifier: −9.0 came
  back −6.8; logit error 2.18, float head 0.36, probability within 0.012 either way; the verifier of
  2026-12-02 with the float head: logit 0.21, probability 0.047). 0.51 → 0.14 MB.
- fields (YOLO-detect): weight-only int8 (``WEIGHT_ONLY_INT8``: int8 weights per output channel behind
  DEQUANTIZE, float compute), as in ONNX. Measured on 2,000 synthetic scans (seed 54), the whole
  pipeline through LiteRT, validated PAN against torch fp32 0.738: static int8 field locator 0.725
  (−1.3 points, number exact −1.2); weight-only 0.731 (−0.8); the recognizer weight-only as well
  0.732 (one card more, but 2 of 48 validation lines changed reading instead of 0), so it stays static.
- detector (YOLO-pose), and the field locator before the change above: every op int8 except the stem
  (the first two convolutions), the YOLO head module (its last convolutions and the anchor/stride decode) and the output
  concatenation, which compute in float. A YOLO head
  concatenates box coordinates (0–320 px) and scores (0–1) into one tensor: under one int8 scale
  (measured: 1.41 px per step on the detector) every score becomes 0 or 1.41. The head's convolution
  weights are still stored int8 (weight-only: dequantized in the graph, float compute): detector
  1.37 → 0.89 MB together with dropping the tensor names (kept error 9.18 px / 0.109, within the
  gate), then 0.79 MB with identical vectors stored once (``compact``).

Calibration takes the true min/max over all calibration inputs (one ``Quantizer.calibrate`` call per
input, merged with ``qsv_utils.min_max_update``): the default moving average (factor 0.95) lets the
first inputs set the ranges and clipped the detector's out-of-frame corners.

Measured (32 calibration inputs, the 48 validation inputs of ``cardlens export``; gate: kept_coords
≤ 12 px, kept_scores ≤ 0.15, flipped = 0, lines_changed ≤ 0.08; ms = one LiteRT call, 1 thread here):

model / variant                        kept_coords kept_scores flipped/lc   raw sc.  size MB  ms
detector dynamic-range (previous)      134.6 ✗     0.043        0            0.108    1.01     6.5
detector static, all int8 (float I/O)  28.2 ✗      0.832 ✗      2 ✗          0.909    1.08     2.8
detector static, float head (chosen)   23.6 ✗      0.110        0            0.412    1.37     3.8
fields dynamic-range (previous)        3.1         0.039        0            0.091    0.93     9.0
fields static, all int8 (float I/O)    6.2         0.845 ✗      6 ✗          0.870    1.00     3.7
fields static, float head (chosen)     9.8         0.053        0            0.189    1.15     4.3
recognizer dynamic-range (previous)    —           —            lc 0.000     —        0.38     1.0
recognizer static, all int8 (chosen)   —           —            lc 0.042     —        0.39     0.8

(fp32 sizes: detector 2.95, fields 2.73, recognizer 1.44 MB; detector fp32 6.1 ms.)

Both detector failures above were near ties, not quantization damage: under dynamic-range (and under
weight-only int8, int16 activations, or static int8 calibrated on mirrored inputs as well) one validation
scene has two anchors on the card, scored within 0.1 of each other, whose corner orders differ by 180°;
the exported model kept the other one and the corners came back rotated by two places (134.6 px). The
gate now compares a kept detection with the nearest of the reference anchors that tie with the one the
reference kept (``cardlens/export/validate.py``): an answer the reference itself was within 0.1 of
giving. Re-measured on the same 48 inputs, the chosen static float-head detector: kept_coords 8.96 px,
kept_scores 0.110, flipped 0 — it passes; fields 2.43 px / 0.053 / 0; recognizer lines_changed 0.042.

fp16 is TFLite's float16 quantization: convolution (and fully connected) weights stored as float16 and
dequantized to float32 once when the interpreter loads the model (``ai-edge-quantizer`` weight-only
``FLOAT_CASTING``); the file is half the size and runs as fp32, or in fp16 through the GPU delegate or
XNNPACK's FORCE_FP16 flag.
The cardlens spec is appended to the file as a zip entry ``cardlens_spec.json`` (the layout
ultralytics uses for its TFLite metadata), which the TFLite interpreter ignores.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from cardlens.errors import require
from cardlens.export.sources import Source, torch_module
from cardlens.modelspec import METADATA_KEY, ModelSpec

SUFFIX = ".tflite"
# ops kept float in the int8 model, by op scope (the op's output tensor names, each followed by ";");
# OUTPUT is the graph output tensor's name, i.e. the final concatenation of a YOLO head
HEAD = r"\.head\.\w+_\d+[;/]"
OUTPUT = "OUTPUT"
# the stem (the first two top-level Conv modules, model.0 and model.1): with it int8 the scale-p field
# locator's kept score moved by 0.18 on one validation scene (gate 0.15); and the downsampling Conv
# model.3 (a scope's suffix is the module's index): with it int8 the stage-5 detector's moved by 0.18
# (float: 0.11; also tried float, on the same 48 inputs: model.2 0.26, model.4 0.13, model.5 0.20)
STEM = r"Model_inner/ultralytics\.nn\.modules\.conv\.Conv_[013]/"
FLOAT_SCOPES = {"detector": (STEM, HEAD, OUTPUT), "fields": (STEM, HEAD, OUTPUT), "recognizer": (),
                "verifier": (OUTPUT,)}
# roles whose int8 file is weight-only (int8 weights, float compute), as in ONNX: see the module doc
WEIGHT_ONLY_INT8 = frozenset({"fields"})


def export(source: Source, precision: str, dest: Path, calibration: list[np.ndarray]) -> Path:
    torch = require("torch", "export")
    litert_torch = require("litert_torch", "export")
    module = torch_module(source)
    sample = torch.from_numpy(calibration[0])
    edge = litert_torch.convert(module.eval(), (sample,))
    edge.export(str(dest))
    if precision == "int8" and source.role in WEIGHT_ONLY_INT8:
        _weight_only(dest, num_bits=8)
    elif precision == "int8":
        _quantize_int8(dest, source.role, calibration)
    elif precision == "fp16":
        _weight_only(dest, num_bits=16)
    elif precision != "fp32":
        raise ValueError(f"unknown precision {precision!r}")
    compact(dest)
    return dest


def _quantize_int8(path: Path, role: str, calibration: list[np.ndarray]) -> None:
    """Static int8 in place: int8 weights and activations, float graph input/output, FLOAT_SCOPES float."""
    import re

    from ai_edge_quantizer import quantizer, recipe
    from ai_edge_quantizer.algorithm_manager import AlgorithmName
    from ai_edge_quantizer.qtyping import TFLOperationName
    from ai_edge_quantizer.utils import qsv_utils

    ai = require("ai_edge_litert.interpreter", "export")
    interp = ai.Interpreter(model_path=str(path))
    (key, sig), = interp.get_signature_list().items()
    input_name = sig["inputs"][0]
    output_tensor = interp.get_output_details()[0]["name"]
    qt = quantizer.Quantizer(str(path))
    qt.load_quantization_recipe(recipe.static_wi8_ai8())
    for op in (TFLOperationName.INPUT, TFLOperationName.OUTPUT):  # float in, float out (the contract)
        qt.update_quantization_recipe(regex=".*", operation_name=op, algorithm_key=AlgorithmName.NO_QUANTIZE)
    for scope in FLOAT_SCOPES[role]:
        regex = f"^{re.escape(output_tensor)};$" if scope == OUTPUT else scope
        qt.update_quantization_recipe(regex=regex, operation_name=TFLOperationName.ALL_SUPPORTED,
                                      algorithm_key=AlgorithmName.NO_QUANTIZE)
        if scope != OUTPUT:  # float compute, int8-stored weights (dequantized in the graph)
            for op in (TFLOperationName.CONV_2D, TFLOperationName.DEPTHWISE_CONV_2D):
                qt.add_weight_only_config(regex=scope, operation_name=op, num_bits=8)
    ranges: dict = {}  # true min/max over every input (calibrate() alone keeps a moving average)
    for x in calibration:
        for name, qsv in qt.calibrate({key: [{input_name: x}]}, num_threads=1).items():
            ranges[name] = qsv_utils.min_max_update(ranges.get(name, {}), qsv)
    qt.quantize(ranges).export_model(str(path), overwrite=True)


def _weight_only(path: Path, num_bits: int) -> None:
    """Convolution and fully-connected weights stored in ``num_bits`` (16: float16, TFLite's float16
    quantization; 8: int8 per output channel) behind DEQUANTIZE, in place; every op computes in float32."""
    from ai_edge_quantizer import quantizer
    from ai_edge_quantizer.algorithm_manager import AlgorithmName
    from ai_edge_quantizer.qtyping import TFLOperationName

    qt = quantizer.Quantizer(str(path))
    algorithm = AlgorithmName.FLOAT_CASTING if num_bits == 16 else AlgorithmName.MIN_MAX_UNIFORM_QUANT
    for op in (TFLOperationName.CONV_2D, TFLOperationName.DEPTHWISE_CONV_2D, TFLOperationName.FULLY_CONNECTED):
        qt.add_weight_only_config(regex=".*", operation_name=op, num_bits=num_bits, algorithm_key=algorithm)
    qt.quantize().export_model(str(path), overwrite=True)


def compact(path: Path) -> None:
    """Rewrite the flatbuffer in place without what the interpreter does not read, outputs unchanged.

    - Internal tensor names are dropped (the graph's input and output names are the contract). LiteRT
      names a tensor after the ops that made it (``…;…;`` scopes): 0.18 MB of the 1.37 MB int8 detector.
    - Identical vectors are stored once: every per-channel quantized weight and bias carries an int64
      zero-point vector, all zeros, and many tensors share a shape. A flatbuffer table refers to a
      vector by offset, so tables may share one (the format's shared strings work the same way).
      Measured on the int8 bundle: detector 0.89 → 0.79 MB, fields 0.36 → 0.30, recognizer 0.38 → 0.37.
    """
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(path))
    for subgraph in model.subgraphs:
        keep = set(subgraph.inputs) | set(subgraph.outputs)
        for i, tensor in enumerate(subgraph.tensors):
            if tensor.shape is not None:  # numpy, so shapes go through the deduplicating vector path
                tensor.shape = np.asarray(tensor.shape, dtype=np.int32)
            if i not in keep:
                tensor.name = b""
    builder = _shared_vector_builder()(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    path.write_bytes(builder.Output())


def _shared_vector_builder():
    import flatbuffers

    class SharedVectorBuilder(flatbuffers.Builder):
        """A flatbuffers builder that writes each distinct numpy vector and string once."""

        def __init__(self, size: int):
            super().__init__(size)
            self._vectors: dict = {}
            self._strings: dict = {}

        def CreateNumpyVector(self, x):  # noqa: N802  (flatbuffers' API)
            key = (x.dtype.str, x.size, x.tobytes())
            if key not in self._vectors:
                self._vectors[key] = super().CreateNumpyVector(x)
            return self._vectors[key]

        def CreateString(self, s, *args, **kwargs):  # noqa: N802
            key = s.encode() if isinstance(s, str) else bytes(s)
            if key not in self._strings:
                self._strings[key] = super().CreateString(s, *args, **kwargs)
            return self._strings[key]

    return SharedVectorBuilder


def embed_spec(path: Path, spec: ModelSpec) -> None:
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{METADATA_KEY}.json", spec.to_json())


def read_spec(path: Path) -> ModelSpec:
    with zipfile.ZipFile(path) as zf:
        return ModelSpec.from_json(zf.read(f"{METADATA_KEY}.json").decode(), source=f"{path} metadata")


def runner(path: Path):
    from cardlens.detector.runtime import tflite_runner

    ai = require("ai_edge_litert.interpreter", "export")
    run, _ = tflite_runner(path)
    names = tuple(d["name"] for d in ai.Interpreter(model_path=str(path)).get_output_details())
    return run, names
