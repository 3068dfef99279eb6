"""Validation of an exported artifact against the torch reference: typed errors, explicit tolerances.

YOLO outputs are compared twice:

- *raw*: on every anchor the reference scores ≥ 0.05, coordinates (input pixels) and scores apart;
- *kept*: after the shared numpy post-processing (threshold + NMS), the detections an app acts on —
  each reference detection must be found again (same label, IoU ≥ 0.5) with its score and box (and
  corners) within tolerance, and no detection may appear or vanish unless the reference score lies
  within ``FLIP_MARGIN`` of the threshold (``flipped`` counts those that do).

fp32 and fp16 must pass both. int8 is gated on the kept detections only; its raw errors are reported:
measured on the shipped detector, static QDQ moves the scores of non-maximum anchors next to the card
(which NMS discards) by up to 0.45 while the kept card's score moves by ≤ 0.11.

The recognizer is compared on its per-frame character probabilities (``probs``) and on the share of
lines whose best-path reading changes (``lines_changed``); int8 is gated on the latter only (its
per-frame probabilities move by up to 0.4 at character boundaries). Each bundle's task accuracy
(PAN exact against fp32 torch, ``REPORT.md``) is measured on top.

The card verifier is compared on its logit and on the probability an app acts on (``card_prob``, the
sigmoid), and a decision that changes side of ``thresholds.keep`` while the reference probability lies
more than ``FLIP_MARGIN`` from it counts in ``flipped``. A mismatch raises; nothing is skipped.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from cardlens.errors import CardlensError

# max abs error allowed, per precision: (coordinates in input px, scores, character probabilities)
TOLERANCES = {
    "fp32": {"coords": 1e-3, "scores": 1e-3, "probs": 1e-3, "lines_changed": 0.0},
    "fp16": {"coords": 1.0, "scores": 0.02, "probs": 0.02, "lines_changed": 0.05},
    # int8 coordinates: up to 12 px at 320 px input; the corner refinement searches ±10 % of the card
    # diagonal, and each bundle's task accuracy (delta against fp32 torch) is the real gate
    # recognizer: share of validation lines whose best-path reading changes (measured on 300 synthetic
    # lines: fp16 0.3 %, int8 QDQ 2.7 %, LiteRT dynamic-range int8 2.3 %)
    "int8": {"kept_coords": 12.0, "kept_scores": 0.15, "flipped": 0, "lines_changed": 0.08},
}
# card verifier: max abs error of its logit and of its probability; ``flipped`` 0 below as for the YOLO models.
# Measured on the 48 validation crops, ONNX / TFLite, with the width-16 candidate of 2026-12-02 (logits -7.5 to
# 23.6; a prototype with logits -9 to 20 in brackets): fp32 logit 1.1e-5 / 1.1e-5; fp16 logit 0.006 / 0.005
# (0.015 / 0.010), probability ≤ 2e-4; int8 logit 0.21 / 0.21 (0.35 / 0.36; the error grows with |logit|,
# ≤ 2.5 % of it), probability 0.046 / 0.047 (0.013 / 0.012), at a crop of logit -0.77 (p 0.32 → 0.36).
# The shipped width-8 verifier, ONNX int8 (rebuild of the shipped bundle): logit 0.55, probability 0.032.
# int8's probability gate is FLIP_MARGIN: a probability that moves less cannot cross keep from further away.
VERIFIER_TOLERANCES = {"fp32": {"logit": 1e-3, "card_prob": 1e-3},
                       "fp16": {"logit": 0.05, "card_prob": 0.005},
                       "int8": {"logit": 0.75, "card_prob": 0.1}}
for _p, _t in VERIFIER_TOLERANCES.items():
    TOLERANCES[_p].update(_t)
# the kept-detection tolerances of fp32 / fp16 equal their raw ones
for _tol in (TOLERANCES["fp32"], TOLERANCES["fp16"]):
    _tol.update(kept_coords=_tol["coords"], kept_scores=_tol["scores"], flipped=0)
SCORE_FLOOR = 0.05
FLIP_MARGIN = 0.1
DEFAULT_THRESHOLDS = {"conf": 0.25, "iou": 0.5}


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


def _verifier_errors(ref: np.ndarray, got: np.ndarray, thresholds: dict | None) -> dict:
    from cardlens.detector.verifier import DEFAULT_KEEP, sigmoid

    keep = float((thresholds or {}).get("keep", DEFAULT_KEEP))
    p, q = sigmoid(ref), sigmoid(got)
    far = np.abs(p - keep) > FLIP_MARGIN
    return {"logit": float(np.abs(ref - got).max()), "card_prob": float(np.abs(p - q).max()),
            "flipped": int(((p >= keep) != (q >= keep))[far].sum())}


def _best_path(logits: np.ndarray) -> tuple[int, ...]:
    """The CTC best-path reading (argmax per frame, repeats merged, blanks dropped)."""
    best = logits.argmax(-1)
    return tuple(int(c) for i, c in enumerate(best) if c != 0 and (i == 0 or best[i - 1] != c))


def run_conf(role: str, thresholds: dict) -> float:
    """The score threshold a bundle's model really runs at: the detector's lower ``conf_verified``, since every
    bundle carries the card verifier; ``conf`` for the other models."""
    conf = float(thresholds.get("conf", 0.25))
    return min(conf, float(thresholds.get("conf_verified", conf))) if role == "detector" else conf


def _decoded(role: str, raw: np.ndarray, thresholds: dict, labels: tuple[str, ...]) -> list[tuple]:
    """(label, score, coordinates) of the detections the post-processing keeps, in input pixels."""
    from cardlens.detector.postprocess import decode_detect, decode_pose
    from cardlens.detector.preprocess import Letterbox

    n = raw.shape[-1]
    lb = Letterbox(1.0, 0.0, 0.0, (n, n), (10 ** 6, 10 ** 6))  # identity: keep input pixels, no clipping
    conf, iou = run_conf(role, thresholds), float(thresholds.get("iou", 0.5))
    if role == "detector":
        return [("card", d.confidence, np.concatenate([np.asarray(d.box), d.corners.reshape(-1)]))
                for d in decode_pose(raw, lb, conf_threshold=conf, iou_threshold=iou, max_detections=100)]
    return [(label, score, np.asarray(box)) for label, box, score in
            decode_detect(raw, lb, labels, conf, iou, max_detections=1000)]


def _near_ties(role: str, raw: np.ndarray, labels: tuple[str, ...], label: str, coords: np.ndarray,
               score: float) -> np.ndarray:
    """Coordinates of every reference anchor the post-processing could equally have kept instead of
    ``coords``: same label, IoU ≥ 0.5 with it, score within ``FLIP_MARGIN`` of its score."""
    from cardlens.detector.postprocess import box_iou, xyxy

    out = np.asarray(raw, dtype=np.float32)[0]
    scores = out[4] if role == "detector" else out[4 + labels.index(label)]
    sel = out[:, scores >= score - FLIP_MARGIN]
    boxes = np.clip(xyxy(*sel[:4]), 0, None)  # clipped at 0 as the decoded boxes are
    if role == "detector":
        k = (sel.shape[0] - 5) // 3
        corners = sel[5:].reshape(k, 3, -1)[:, :2].transpose(2, 0, 1).reshape(sel.shape[1], -1)
        boxes = np.concatenate([boxes, corners], axis=1)
    return np.concatenate([coords[None], boxes[box_iou(coords[:4], boxes[:, :4]) >= 0.5]])


def _kept_errors(role: str, ref: np.ndarray, got: np.ndarray, thresholds: dict, labels: tuple[str, ...]) -> dict:
    """Kept detections of ``got`` against ``ref``. A detection's coordinates are compared with the
    nearest of the reference anchors that tie with the one it kept (within ``FLIP_MARGIN`` of its score):
    where the reference itself is that close to keeping another anchor — measured: two anchors on one card
    whose corner orders differ by 180° — any of them is an answer the reference could have given."""
    from cardlens.detector.postprocess import box_iou

    conf = run_conf(role, thresholds)
    a, b = _decoded(role, ref, thresholds, labels), _decoded(role, got, thresholds, labels)
    errs = {"kept_coords": 0.0, "kept_scores": 0.0, "flipped": 0}
    used: set[int] = set()
    for label, score, coords in a:
        cands = [j for j, d in enumerate(b) if d[0] == label and j not in used]
        ious = box_iou(coords[:4], np.array([b[j][2][:4] for j in cands])) if cands else np.zeros(0)
        if ious.size and ious.max() >= 0.5:
            j = cands[int(ious.argmax())]
            used.add(j)
            errs["kept_scores"] = max(errs["kept_scores"], abs(score - b[j][1]))
            ties = _near_ties(role, ref, labels, label, coords, score)
            errs["kept_coords"] = max(errs["kept_coords"], float(np.abs(ties - b[j][2]).max(axis=1).min()))
        elif score >= conf + FLIP_MARGIN:
            errs["flipped"] += 1
    errs["flipped"] += sum(1 for j, d in enumerate(b) if j not in used and d[1] >= conf + FLIP_MARGIN
                           and not any(x[0] == d[0] and box_iou(d[2][:4], x[2][None, :4])[0] >= 0.5 for x in a))
    return errs


def compare(role: str, precision: str, expected_names: tuple[str, ...], got_names: tuple[str, ...],
            pairs: list[tuple[np.ndarray, np.ndarray]], artifact: str, thresholds: dict | None = None,
            labels: tuple[str, ...] = ()) -> Parity:
    """Check names, shapes and numbers of (reference, exported) output pairs; raise on any mismatch.

    ``thresholds`` (conf, iou) and ``labels`` are the model spec's: the kept-detection comparison runs
    the same post-processing the runtimes use."""
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
            errs = {"probs": float(np.abs(softmax(ref[0]) - softmax(got[0])).max()),
                    "lines_changed": float(_best_path(ref[0]) != _best_path(got[0]))}
        elif role == "verifier":
            errs = _verifier_errors(ref, got, thresholds)
        else:
            errs = _yolo_errors(ref, got, slice(4, 5) if role == "detector" else slice(4, None))
            n_labels = ref.shape[1] - 4
            errs.update(_kept_errors(role, ref, got, thresholds or DEFAULT_THRESHOLDS,
                                     tuple(labels) or tuple(str(i) for i in range(n_labels))))
        for k, v in errs.items():
            worst[k] = worst.get(k, 0.0) + v if k in ("lines_changed", "flipped") else max(worst.get(k, 0.0), v)
    if "lines_changed" in worst:
        worst["lines_changed"] /= len(pairs)
    for k, v in worst.items():
        if k in tol and v > tol[k]:
            raise ToleranceError(f"{artifact}: max abs error in {k} is {v:.4g}, over the {precision} tolerance "
                                 f"{tol[k]:.4g}")
    return Parity(len(pairs), {k: round(v, 6) for k, v in worst.items()},
                  {k: tol[k] for k in worst if k in tol})
