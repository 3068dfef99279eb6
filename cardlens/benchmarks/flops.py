"""Operation counts of an ONNX graph: FLOPs (a multiply-add counts 2) and bytes moved, per node.

Used by the roofline estimator. Shapes come from ONNX shape inference on the model's own (static)
input shapes; a node whose shapes cannot be inferred is counted as 0 and listed in ``unknown``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cardlens.errors import ModelError, require

# Element-wise and activation ops: about one FLOP per output element (exp/div counted as one).
ELEMENTWISE = {"Add", "Sub", "Mul", "Div", "Relu", "Sigmoid", "Tanh", "Exp", "Log", "Sqrt", "Pow",
               "LeakyRelu", "HardSigmoid", "HardSwish", "Clip", "Max", "Min", "Neg", "Abs", "Erf",
               "Softmax", "Reciprocal", "PRelu", "Elu", "Selu", "Softplus", "Mish", "Gelu"}
POOLS = {"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "ReduceMean", "ReduceMax", "ReduceSum"}
DTYPE_BYTES = {1: 4, 2: 1, 3: 1, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 16: 2}


@dataclass(frozen=True)
class GraphCost:
    flops: int                                   # floating-point (or int) operations, multiply-add = 2
    weight_bytes: int                            # initializers
    activation_bytes: int                        # every node output, written once
    by_op: dict[str, int] = field(default_factory=dict)
    unknown: tuple[str, ...] = ()

    @property
    def bytes_moved(self) -> int:
        """A simple traffic model: weights read once, each activation written once and read once."""
        return self.weight_bytes + 2 * self.activation_bytes

    def to_dict(self) -> dict:
        return {"flops": self.flops, "gflops": round(self.flops / 1e9, 4), "weight_bytes": self.weight_bytes,
                "activation_bytes": self.activation_bytes, "bytes_moved": self.bytes_moved,
                "by_op": dict(self.by_op), "unknown": list(self.unknown)}


def _shapes(model) -> dict[str, tuple[tuple[int, ...], int]]:
    out = {}
    for vi in [*model.graph.input, *model.graph.value_info, *model.graph.output]:
        t = vi.type.tensor_type
        dims = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim)
        out[vi.name] = (dims, t.elem_type)
    for init in model.graph.initializer:
        out[init.name] = (tuple(init.dims), init.data_type)
    return out


def _numel(shape) -> int:
    return int(np.prod(shape)) if shape and all(d > 0 for d in shape) else (1 if shape == () else 0)


def _attr(node, name, default=None):
    for a in node.attribute:
        if a.name == name:
            import onnx

            return onnx.helper.get_attribute_value(a)
    return default


def node_flops(node, shapes) -> int | None:
    """FLOPs of one node, or None when its shapes are unknown."""
    def shape(name):
        return shapes.get(name, (None, None))[0]

    out = shape(node.output[0]) if node.output else None
    if out is None or (out and any(d <= 0 for d in out)):
        return None
    op = node.op_type
    if op in ("Conv", "ConvTranspose"):
        w = shape(node.input[1])
        if w is None:
            return None
        group = int(_attr(node, "group", 1))
        kernel = _numel(w[2:])
        if op == "Conv":  # each output element: (Cin / group) × kernel multiply-adds
            macs = _numel(out) * (w[1]) * kernel
        else:             # ConvTranspose weights are (Cin, Cout/group, k...): every input element scatters
            x = shape(node.input[0])
            if x is None:
                return None
            macs = _numel(x) * w[1] * kernel
        bias = _numel(out) if len(node.input) > 2 and node.input[2] else 0
        del group  # already folded into the weight shape
        return 2 * macs + bias
    if op in ("MatMul", "Gemm"):
        a, b = shape(node.input[0]), shape(node.input[1])
        if a is None or b is None:
            return None
        k = a[0] if (op == "Gemm" and _attr(node, "transA", 0)) else a[-1]
        return 2 * _numel(out) * k + (_numel(out) if op == "Gemm" and len(node.input) > 2 else 0)
    if op in ("LSTM", "GRU", "RNN"):
        x, w, r = shape(node.input[0]), shape(node.input[1]), shape(node.input[2])
        if x is None or w is None or r is None:
            return None
        seq, batch = x[0], x[1]
        directions, gates_hidden, inp = w
        hidden = r[2]
        per_step = 2 * gates_hidden * (inp + hidden) + 4 * gates_hidden  # matmuls + gate nonlinearities
        return seq * batch * directions * per_step
    if op in ELEMENTWISE or op in ("BatchNormalization", "InstanceNormalization", "LayerNormalization"):
        return _numel(out) * (2 if "Normalization" in op else 1)
    if op in POOLS:
        x = shape(node.input[0])
        return _numel(x) if x else None
    return 0  # data movement: Reshape, Concat, Slice, Transpose, Resize, Split…


def graph_cost(path: str | Path) -> GraphCost:
    onnx = require("onnx", "export")
    path = Path(path)
    try:
        model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    except Exception as exc:
        raise ModelError(f"cannot read ONNX model {path} for operation counts: {str(exc)[:200]}") from None
    shapes = _shapes(model)
    by_op: Counter = Counter()
    unknown = []
    flops = act = 0
    for node in model.graph.node:
        f = node_flops(node, shapes)
        if f is None:
            unknown.append(f"{node.op_type}:{node.name}")
            continue
        flops += f
        by_op[node.op_type] += f
        for name in node.output:
            dims, dtype = shapes.get(name, (None, None))
            if dims:
                act += _numel(dims) * DTYPE_BYTES.get(dtype, 4)
    weights = sum(_numel(tuple(i.dims)) * DTYPE_BYTES.get(i.data_type, 4) for i in model.graph.initializer)
    return GraphCost(int(flops), int(weights), int(act), dict(by_op.most_common()), tuple(unknown))
