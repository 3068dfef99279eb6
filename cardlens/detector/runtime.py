"""Runtimes that turn a network input tensor into the raw output tensor. No pre/post-processing here."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from cardlens.errors import ModelError, require
from cardlens.modelspec import METADATA_KEY, ModelSpec

RawRunner = Callable[[np.ndarray], np.ndarray]


def onnx_runner(path: Path, threads: int | None = None) -> tuple[RawRunner, ModelSpec | None]:
    """An onnxruntime CPU session; returns the runner and the spec embedded in the file (if any)."""
    import os

    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    ort = require("onnxruntime", "core")
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for corrupt files
        raise ModelError(f"cannot load ONNX model {path}: {str(exc).splitlines()[0][:300]}") from None
    meta = session.get_modelmeta().custom_metadata_map
    spec = ModelSpec.from_json(meta[METADATA_KEY], source=f"{path} metadata") if METADATA_KEY in meta else None
    input_name = session.get_inputs()[0].name
    output_name = session.get_outputs()[0].name

    def run(x: np.ndarray) -> np.ndarray:
        return session.run([output_name], {input_name: x})[0]

    return run, spec


def tflite_runner(path: Path, threads: int | None = None) -> tuple[RawRunner, ModelSpec | None]:
    """A LiteRT (TFLite) interpreter; returns the runner and the spec appended to the file (if any)."""
    import zipfile

    interp_mod = require("ai_edge_litert.interpreter", "export")
    try:
        interp = interp_mod.Interpreter(model_path=str(path), num_threads=int(threads) if threads else None)
        interp.allocate_tensors()
    except Exception as exc:
        raise ModelError(f"cannot load TFLite model {path}: {str(exc).splitlines()[0][:300]}") from None
    spec = None
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            if f"{METADATA_KEY}.json" in zf.namelist():
                spec = ModelSpec.from_json(zf.read(f"{METADATA_KEY}.json").decode(), source=f"{path} metadata")
    inp = interp.get_input_details()[0]
    out = interp.get_output_details()[0]

    def run(x: np.ndarray) -> np.ndarray:
        interp.set_tensor(inp["index"], x.astype(inp["dtype"]))
        interp.invoke()
        return interp.get_tensor(out["index"])

    return run, spec


def artifact_runner(path: Path, threads: int | None = None) -> tuple[RawRunner, ModelSpec | None]:
    """The runner for an exported file, by its suffix (.onnx or .tflite)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".onnx":
        return onnx_runner(path, threads)
    if suffix == ".tflite":
        return tflite_runner(path, threads)
    raise ModelError(f"{path}: no runtime for {suffix or 'files without a suffix'} here (CoreML predicts on macOS only)")


def torch_runner(path: Path, threads: int | None = None) -> RawRunner:
    """The ultralytics checkpoint as a plain torch module in eval mode (raw tensor out)."""
    from cardlens.offline import import_ultralytics

    import_ultralytics()
    torch = require("torch", "train")
    if threads:
        torch.set_num_threads(int(threads))
    from ultralytics.nn.tasks import load_checkpoint

    try:
        model, _ = load_checkpoint(str(path), device="cpu", fuse=True)
    except Exception as exc:
        raise ModelError(f"cannot load torch checkpoint {path}: {exc}") from None
    model = model.float().eval()

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = model(torch.from_numpy(x))
        out = out[0] if isinstance(out, list | tuple) else out
        return out.numpy()

    return run


def read_onnx_spec(path: Path) -> ModelSpec:
    onnx = require("onnx", "export")
    model = onnx.load(str(path), load_external_data=False)
    meta = {p.key: p.value for p in model.metadata_props}
    if METADATA_KEY not in meta:
        raise ModelError(f"{path} carries no cardlens spec in its metadata_props")
    return ModelSpec.from_dict(json.loads(meta[METADATA_KEY]))


def _contract(spec: ModelSpec) -> tuple:
    return (spec.task, tuple(spec.input_size), spec.layout, spec.color, tuple(spec.keypoints), spec.output_format)


def open_model_folder(folder: Path, runtime: str, threads: int | None, verify: bool, task: str,
                      what: str) -> tuple[ModelSpec, RawRunner | Path, str]:
    """``(spec, runner, runtime)`` for a cardlens model folder (``spec.json`` + its files).

    Checks the task, the sha256 of the file it loads, and that a spec embedded in the file agrees with
    ``spec.json``. For ``runtime="torch"`` the second item is the weights path (each model family builds
    its own torch module); ``"auto"`` picks ONNX Runtime or LiteRT by the file's suffix.
    """
    folder = Path(folder)
    spec_path = folder / "spec.json"
    if not spec_path.is_file():
        raise ModelError(f"{what} not found: {spec_path} is missing")
    spec = ModelSpec.load(spec_path)
    if spec.task != task:
        raise ModelError(f"{folder} holds a {spec.task!r} model, not a {what} ({task!r})")
    if runtime in ("onnx", "tflite", "auto"):
        path = folder / spec.weights
        if verify:
            from cardlens.modelspec import verify_file

            verify_file(path, spec.sha256)
        run, embedded = artifact_runner(path, threads)
        if embedded is not None and _contract(embedded) != _contract(spec):
            raise ModelError(f"{path}: the spec inside the model does not match {spec_path} (input size, "
                             "layout, keypoints or output format differ); re-export the model")
        return spec, run, path.suffix.lstrip(".")
    if runtime == "torch":
        pt = spec.extra.get("torch_weights")
        if not pt:
            raise ModelError(f"{folder} ships no torch weights")
        if verify:
            from cardlens.modelspec import verify_file

            verify_file(folder / pt, spec.extra.get("torch_sha256", ""))
        return spec, folder / pt, "torch"
    raise ValueError(f"unknown runtime {runtime!r}: use 'onnx', 'tflite', 'auto' (by file) or 'torch'")
