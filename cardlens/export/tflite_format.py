"""TFLite (LiteRT) through litert-torch from the torch reference: fp32, and int8 with int8 weights.

int8 here is dynamic-range (int8 weights, float activations, ``ai-edge-quantizer``'s
``dynamic_wi8_afp32``): full-integer static int8 collapsed the YOLO heads' scores onto the box
coordinates' scale (see the export report's measured figures), so the float path is kept for
activations. fp16 is not a separate TFLite file: LiteRT runs an fp32 model in fp16 through its GPU
delegate or XNNPACK's FORCE_FP16 flag, so ``tflite-fp16`` is refused with that explanation.
The cardlens spec is appended to the file as a zip entry ``cardlens_spec.json`` (the layout
ultralytics uses for its TFLite metadata), which the TFLite interpreter ignores.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from cardlens.errors import NotAvailableError, require
from cardlens.export.sources import Source, torch_module
from cardlens.modelspec import METADATA_KEY, ModelSpec

SUFFIX = ".tflite"


def export(source: Source, precision: str, dest: Path, calibration: list[np.ndarray]) -> Path:
    if precision == "fp16":
        raise NotAvailableError("tflite-fp16: LiteRT runs the fp32 model in fp16 on the device (GPU delegate or "
                                "XNNPACK FORCE_FP16); no separate fp16 file is produced — ship tflite-fp32")
    torch = require("torch", "export")
    litert_torch = require("litert_torch", "export")
    module = torch_module(source)
    sample = torch.from_numpy(calibration[0])
    edge = litert_torch.convert(module.eval(), (sample,))
    edge.export(str(dest))
    if precision == "int8":
        from ai_edge_quantizer import quantizer, recipe

        qt = quantizer.Quantizer(str(dest))
        qt.load_quantization_recipe(recipe.dynamic_wi8_afp32())
        qt.quantize().export_model(str(dest), overwrite=True)
    elif precision != "fp32":
        raise ValueError(f"unknown precision {precision!r}")
    return dest


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
