"""CoreML ML Program (``.mlpackage``) from the traced torch reference: fp32, fp16, int8 (weights).

int8 is linear symmetric weight quantization (``coremltools.optimize.coreml.linear_quantize_weights``);
activations stay fp16 on the Neural Engine. The cardlens spec is stored in ``user_defined_metadata``.
Every package is then compacted (short value names, small tensors inline, one copy of each constant;
``cardlens/export/coreml_compact.py``), which ``same_program`` proves computes exactly the same.
CoreML predicts only on macOS: on other hosts an artifact is checked structurally (input and output
names and shapes, metadata round trip) and its numeric parity is reported as not measured.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np

from cardlens.errors import require
from cardlens.export.coreml_compact import compact_package, same_program
from cardlens.export.sources import Source, torch_module
from cardlens.export.validate import ExportValidationError
from cardlens.modelspec import METADATA_KEY, ModelSpec

SUFFIX = ".mlpackage"
CAN_PREDICT = sys.platform == "darwin"


def _quiet_coremltools():
    import logging
    import warnings

    warnings.filterwarnings("ignore", module="coremltools")
    logging.getLogger("coremltools").setLevel(logging.ERROR)
    return require("coremltools", "export")


def export(source: Source, precision: str, dest: Path, calibration: list[np.ndarray]) -> Path:
    torch = require("torch", "export")
    ct = _quiet_coremltools()
    module = torch_module(source)
    sample = torch.from_numpy(calibration[0])
    with torch.no_grad():
        module(sample)  # YOLO heads cache their anchors on the first call: trace the steady state
        traced = torch.jit.trace(module, sample, check_trace=False)
    out_name = source.spec.output_names[0]
    model = ct.convert(traced, inputs=[ct.TensorType(name=source.spec.input_name, shape=tuple(sample.shape))],
                       outputs=[ct.TensorType(name=out_name)], convert_to="mlprogram",
                       compute_precision=ct.precision.FLOAT32 if precision == "fp32" else ct.precision.FLOAT16,
                       minimum_deployment_target=ct.target.iOS16)
    if precision == "int8":
        from coremltools.optimize.coreml import (
            OpLinearQuantizerConfig,
            OptimizationConfig,
            linear_quantize_weights,
        )

        # weight_threshold: coremltools leaves tensors under 2048 elements fp16 by default — 47 of the
        # detector's 111 convolutions; 256 quantizes all but the smallest depthwise kernels
        config = OptimizationConfig(global_config=OpLinearQuantizerConfig(mode="linear_symmetric",
                                                                          weight_threshold=256))
        model = linear_quantize_weights(model, config=config)
    elif precision not in ("fp32", "fp16"):
        raise ValueError(f"unknown precision {precision!r}")
    if dest.exists():
        shutil.rmtree(dest)
    model.save(str(dest))
    converted = dest.with_name(dest.stem + ".converted" + dest.suffix)
    shutil.rmtree(converted, ignore_errors=True)
    shutil.copytree(dest, converted)
    try:
        compact_package(dest)  # int8 bundle 1.79 → 1.48 MB
        problems = same_program(converted, dest)
    finally:
        shutil.rmtree(converted, ignore_errors=True)
    if problems:
        raise ExportValidationError(f"{dest}: the compacted ML Program differs from coremltools' conversion: "
                                    + "; ".join(problems[:5]))
    return dest


def embed_spec(path: Path, spec: ModelSpec) -> None:
    ct = _quiet_coremltools()
    model = ct.models.MLModel(str(path), skip_model_load=True)
    model.user_defined_metadata[METADATA_KEY] = spec.to_json()
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    model.save(str(tmp))
    shutil.rmtree(path)
    tmp.rename(path)


def read_spec(path: Path) -> ModelSpec:
    ct = _quiet_coremltools()
    meta = ct.models.MLModel(str(path), skip_model_load=True).user_defined_metadata
    return ModelSpec.from_json(meta[METADATA_KEY], source=f"{path} metadata")


def interface(path: Path) -> tuple[dict, dict]:
    """({input name: shape}, {output name: shape or None}) read from the model description."""
    ct = _quiet_coremltools()
    spec = ct.models.MLModel(str(path), skip_model_load=True).get_spec()
    ins = {i.name: tuple(i.type.multiArrayType.shape) for i in spec.description.input}
    outs = {o.name: tuple(o.type.multiArrayType.shape) or None for o in spec.description.output}
    return ins, outs


def op_types(path: Path) -> list[str]:
    """The ML Program's operation types (what the device's CoreML must support)."""
    ct = _quiet_coremltools()
    spec = ct.models.MLModel(str(path), skip_model_load=True).get_spec()
    ops: set[str] = set()
    for fn in spec.mlProgram.functions.values():
        for block in fn.block_specializations.values():
            ops.update(op.type for op in block.operations)
    return sorted(ops)


def runner(path: Path):
    if not CAN_PREDICT:
        return None, tuple(interface(path)[1])
    ct = _quiet_coremltools()
    model = ct.models.MLModel(str(path))
    ins, outs = interface(path)
    in_name, out_name = next(iter(ins)), next(iter(outs))

    def run(x: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict({in_name: x})[out_name])

    return run, tuple(outs)
