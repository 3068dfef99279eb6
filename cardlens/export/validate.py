"""Validation of an exported artifact against the torch reference: typed errors, explicit tolerances.

YOLO raw outputs are compared where they matter — on anchors the reference scores ≥ 0.05 — as
coordinates (input pixels) and scores separately; the recognizer is compared on its per-frame
character probabilities. A mismatch raises; nothing is skipped.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from cardlens.errors import CardlensError

# max abs error allowed, per precision: (coordinates in input px, scores, character probabilities)
TOLERANCES = {
    "fp32": {"coords": 1e-3, "scores": 1e-3, "probs": 1e-3},
    "fp16": {"coords": 1.0, "scores": 0.02, "probs": 0.02},
    # int8 coordinates: up to 12 px at 320 px input; the corner refinement searches ±10 % of the card
    # diagonal, and each bundle's task accuracy (delta against fp32 torch) is the real gate
    "int8": {"coords": 12.0, "scores": 0.3, "probs": 0.15},
}
SCORE_FLOOR = 0.05


class ExportValidationError(CardlensError):
    """An exported artifact does not reproduce the reference."""


class OutputNameError(ExportValidationError):
    pass


class ShapeMismatchError(ExportValidationError):
    pass


class ToleranceError(ExportValidationError):
    pass


@dataclass(frozen=True)
class Parity:
    inputs: int
    max_abs: dict            # metric -> worst error seen
    tolerance: dict

    def to_dict(self) -> dict:
        return asdict(self)


def _yolo_errors(ref: np.ndarray, got: np.ndarray, score_rows: slice) -> dict:
    scores = ref[0, score_rows].max(axis=0)
    keep = scores >= SCORE_FLOOR
    if not keep.any():
        return {"coords": 0.0, "scores": float(np.abs(ref[0, score_rows] - got[0, score_rows]).max())}
    r, g = ref[0][:, keep], got[0][:, keep]
    rows = np.arange(ref.shape[1])
    score_idx = rows[score_rows]
    coord_idx = np.setdiff1d(rows, score_idx)
    if ref.shape[1] == 17:  # pose: keypoint visibilities are scores too
        vis = np.array([7, 10, 13, 16])
        coord_idx = np.setdiff1d(coord_idx, vis)
        score_idx = np.concatenate([score_idx, vis])
    return {"coords": float(np.abs(r[coord_idx] - g[coord_idx]).max()),
            "scores": float(np.abs(r[score_idx] - g[score_idx]).max())}


def compare(role: str, precision: str, expected_names: tuple[str, ...], got_names: tuple[str, ...],
            pairs: list[tuple[np.ndarray, np.ndarray]], artifact: str) -> Parity:
    """Check names, shapes and numbers of (reference, exported) output pairs; raise on any mismatch."""
    from cardlens.ocr.ctc import softmax

    if tuple(got_names) != tuple(expected_names):
        raise OutputNameError(f"{artifact}: outputs are named {list(got_names)}, expected {list(expected_names)}")
    tol = TOLERANCES[precision]
    worst: dict[str, float] = {}
    for ref, got in pairs:
        got = np.asarray(got, dtype=np.float32)
        if ref.shape != got.shape:
            raise ShapeMismatchError(f"{artifact}: output shape {got.shape}, reference {ref.shape}")
        if not np.isfinite(got).all():
            raise ToleranceError(f"{artifact}: output holds NaN or inf")
        if role == "recognizer":
            errs = {"probs": float(np.abs(softmax(ref[0]) - softmax(got[0])).max())}
        else:
            errs = _yolo_errors(ref, got, slice(4, 5) if role == "detector" else slice(4, None))
        for k, v in errs.items():
            worst[k] = max(worst.get(k, 0.0), v)
    for k, v in worst.items():
        if v > tol[k]:
            raise ToleranceError(f"{artifact}: max abs error in {k} is {v:.4g}, over the {precision} tolerance "
                                 f"{tol[k]:.4g}")
    return Parity(len(pairs), {k: round(v, 6) for k, v in worst.items()},
                  {k: tol[k] for k in worst})
