"""Shrink a saved ML Program (``.mlpackage``) without changing what it computes.

coremltools writes, per model, a program text that names every value after the torch module path
(``inner_model_22_m_0_cv1_conv_weight_to_fp16_quantized``), one ``const`` op per convolution argument
(strides, pads, dilations, groups: 5 per convolution), and every tensor of 10 or more elements as a
blob of ``weight.bin`` (a 64-byte header, data padded to 64 bytes, and a file reference in the text),
including an all-zero int8 zero point beside every symmetric int8 weight. On the int8 bundle that is
0.45 of its 1.79 MB. ``compact_package`` rewrites the package:

- values get short ids (``v12``); the function's input and output names, the contract, are kept;
- identical immediate constants are stored once (the op keeps its ``name`` attribute: every producer of
  ML Programs — coremltools, onnxruntime's CoreML EP — writes it);
- an all-zero zero point of ``constexpr_affine_dequantize`` becomes the scalar 0 (the op takes a scalar
  or a per-axis vector, iOS16 opset);
- tensors under ``INLINE_BELOW`` elements (biases, scales, small depthwise kernels) move into the
  program text as immediate values; larger ones are copied into a fresh ``weight.bin`` with
  coremltools' own blob writer.

``same_program`` proves the result equal to the original: it loads both through coremltools' MIL
reader and compares every op, in order, with every constant input materialised (int8 weights
dequantized) — exact equality, no tolerance.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

INLINE_BELOW = 128  # elements; a blob costs 64 header bytes, padding to 64 and a ~45-byte file reference
_WEIGHTS = "weight.bin"


def _weights_dir(package: Path) -> Path:
    return Path(package) / "Data" / "com.apple.CoreML" / "weights"


def _storage():
    from coremltools import libmilstoragepython

    return libmilstoragepython


def _read_blob(reader, dtype_name: str, offset: int) -> np.ndarray:
    if dtype_name == "FLOAT16":
        return np.asarray(reader.read_fp16_data(offset)).view(np.float16)
    readers = {"FLOAT32": reader.read_float_data, "INT8": reader.read_int8_data, "UINT8": reader.read_uint8_data}
    if dtype_name not in readers:
        raise ValueError(f"unexpected blob data type {dtype_name} in the ML Program")
    return np.asarray(readers[dtype_name](offset))


def _write_blob(writer, a: np.ndarray) -> int:
    flat = np.ascontiguousarray(a.reshape(-1))
    if flat.dtype == np.float16:
        return writer.write_fp16_data(flat.view(np.uint16))
    writers = {np.dtype(np.float32): writer.write_float_data, np.dtype(np.int8): writer.write_int8_data,
               np.dtype(np.uint8): writer.write_uint8_data}
    return writers[flat.dtype](flat)


def compact_package(path: Path, inline_below: int = INLINE_BELOW) -> None:
    """Rewrite the ``.mlpackage`` at ``path`` in place (see the module doc)."""
    import coremltools as ct
    from coremltools.converters.mil.backend.mil import helper
    from coremltools.proto import MIL_pb2

    path = Path(path)
    spec = ct.models.MLModel(str(path), skip_model_load=True).get_spec()
    old_weights = _weights_dir(path) / _WEIGHTS
    storage = _storage()
    reader = storage._BlobStorageReader(str(old_weights)) if old_weights.exists() else None
    with tempfile.TemporaryDirectory() as tmp:
        weights_dir = Path(tmp) / "weights"
        weights_dir.mkdir()
        writer = storage._BlobStorageWriter(str(weights_dir / _WEIGHTS), truncate_file=True)
        for fn in spec.mlProgram.functions.values():
            for block in fn.block_specializations.values():
                for op in block.operations:
                    for key, value in op.attributes.items():
                        zero_point = op.type == "constexpr_affine_dequantize" and key == "zero_point"
                        tensor_type = value.type.tensorType
                        shape = tuple(d.constant.size for d in tensor_type.dimensions)
                        if value.HasField("blobFileValue"):
                            data = _read_blob(reader, MIL_pb2.DataType.Name(tensor_type.dataType),
                                              value.blobFileValue.offset)[: int(np.prod(shape))].reshape(shape)
                        elif zero_point and tensor_type.rank == 1:  # coremltools inlines under 10 elements
                            dtype = np.uint8 if tensor_type.dataType == MIL_pb2.UINT8 else np.int8
                            data = np.frombuffer(value.immediateValue.tensor.bytes.values, dtype)
                        else:
                            continue
                        if zero_point and not data.any():
                            value.CopyFrom(helper.create_scalar_value(data.dtype.type(0)))
                        elif not value.HasField("blobFileValue"):
                            continue
                        elif data.size < inline_below:
                            value.CopyFrom(helper.create_tensor_value(data))
                        else:
                            value.blobFileValue.offset = _write_blob(writer, data)
        del writer  # flushes weight.bin
        _short_names_and_shared_consts(spec)
        out = Path(tmp) / path.name
        ct.models.MLModel(spec, weights_dir=str(weights_dir), skip_model_load=True).save(str(out))
        shutil.rmtree(path)
        shutil.copytree(out, path)


def _short_names_and_shared_consts(spec) -> None:
    prog = spec.mlProgram
    keep: set[str] = set()
    for fn in prog.functions.values():
        keep |= {i.name for i in fn.inputs}
        for block in fn.block_specializations.values():
            keep |= set(block.outputs)
    names: dict[str, str] = {}

    def short(name: str) -> str:
        return name if name in keep else names.setdefault(name, f"v{len(names)}")

    for fn in prog.functions.values():
        for block in fn.block_specializations.values():
            first: dict[bytes, str] = {}
            alias: dict[str, str] = {}
            kept = []
            for op in block.operations:
                out = op.outputs[0].name if op.outputs else ""
                if op.type == "const" and op.attributes["val"].HasField("immediateValue") and out not in keep:
                    key = (op.attributes["val"].SerializeToString(deterministic=True)
                           + op.outputs[0].type.SerializeToString(deterministic=True))
                    if key in first:
                        alias[out] = first[key]
                        continue
                    first[key] = out
                kept.append(op)
            for op in kept:
                for argument in op.inputs.values():
                    for binding in argument.arguments:
                        if binding.name:
                            binding.name = short(alias.get(binding.name, binding.name))
                for output in op.outputs:
                    output.name = short(output.name)
                if "name" in op.attributes and op.outputs:
                    op.attributes["name"].immediateValue.tensor.strings.values[:] = [op.outputs[0].name]
            del block.operations[:]
            block.operations.extend(kept)


def _program(path: Path):
    import coremltools as ct
    from coremltools.converters.mil.frontend.milproto import load as milproto

    spec = ct.models.MLModel(str(path), skip_model_load=True).get_spec()
    return milproto.load(spec, spec.specificationVersion, file_weights_dir=str(_weights_dir(path)))


def _const_value(var):
    op = var.op
    if op is None:
        return None
    if op.op_type == "const":
        return np.asarray(var.val)
    if op.op_type == "constexpr_affine_dequantize":
        axis = int(op.axis.val)
        q = op.quantized_data.val.astype(np.float32)
        shape = [1] * q.ndim
        shape[axis] = -1
        zero = np.asarray(op.zero_point.val, np.float32)
        scale = np.asarray(op.scale.val, np.float32)
        zero = zero.reshape(shape) if zero.ndim else zero
        scale = scale.reshape(shape) if scale.ndim else scale
        return (q - zero) * scale
    if op.op_type.startswith("constexpr_"):
        raise ValueError(f"same_program: no reference decoding for {op.op_type}")
    return None


def _signature(path: Path) -> list[tuple]:
    """Each non-constant op as (type, ((input, (producer index, output index) or constant value)...))."""
    ops = [op for op in _program(path).functions["main"].operations
           if op.op_type != "const" and not op.op_type.startswith("constexpr_")]
    where = {}
    for i, op in enumerate(ops):
        for j, out in enumerate(op.outputs):
            where[id(out)] = (i, j)
    sig = []
    for op in ops:
        inputs = []
        for key, var in sorted(op.inputs.items()):
            for v in var if isinstance(var, (list, tuple)) else [var]:
                value = _const_value(v)
                inputs.append((key, where.get(id(v), v.name if value is None else None), value))
        sig.append((op.op_type, inputs, [str(o.sym_type) for o in op.outputs]))
    return sig


def same_program(a: Path, b: Path) -> list[str]:
    """Differences between two ML Programs' computations (an empty list: they compute the same)."""
    sa, sb = _signature(a), _signature(b)
    if len(sa) != len(sb):
        return [f"{len(sa)} ops vs {len(sb)}"]
    problems = []
    for i, ((ta, ia, oa), (tb, ib, ob)) in enumerate(zip(sa, sb, strict=True)):
        if ta != tb or oa != ob or len(ia) != len(ib):
            problems.append(f"op {i}: {ta} {oa} vs {tb} {ob}")
            continue
        for (ka, ra, va), (kb, rb, vb) in zip(ia, ib, strict=True):
            same_value = (va is None and vb is None) or (
                va is not None and vb is not None and va.shape == vb.shape and np.array_equal(va, vb))
            if ka != kb or ra != rb or not same_value:
                problems.append(f"op {i} ({ta}) input {ka} differs")
    return problems
