"""Detector post-processing (numpy only; shared by the torch, ONNX and TFLite paths).

Raw output format ``yolo-pose-raw``: shape (1, 5 + 3K, N) — per anchor cx, cy, w, h (input pixels),
the card score (already sigmoid), then K keypoints as (x, y, visibility) in input pixels.
"""

from __future__ import annotations

import numpy as np

from cardlens.detector.preprocess import Letterbox
from cardlens.detector.types import CardDetection


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one xyxy box against (N, 4) xyxy boxes."""
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def xyxy(cx: np.ndarray, cy: np.ndarray, w: np.ndarray, h: np.ndarray) -> np.ndarray:
    """(N, 4) corner boxes from YOLO's centre, width and height rows."""
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression; indices of kept boxes, best first."""
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        if order.size == 1:
            break
        ious = box_iou(boxes[i], boxes[order[1:]])
        order = order[1:][ious <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def decode_pose(raw: np.ndarray, lb: Letterbox, num_keypoints: int = 4, conf_threshold: float = 0.25,
                iou_threshold: float = 0.5, max_detections: int = 10) -> list[CardDetection]:
    """Raw pose tensor → card detections in original-image pixels, best first."""
    out = np.asarray(raw, dtype=np.float32)
    if out.ndim == 3:
        out = out[0]
    expected = 5 + 3 * num_keypoints
    if out.shape[0] != expected and out.shape[-1] == expected:
        out = out.T
    if out.shape[0] != expected:
        raise ValueError(f"pose output has {out.shape[0]} channels, expected {expected}")
    scores = out[4]
    mask = np.isfinite(scores) & (scores >= conf_threshold)
    if not mask.any():
        return []
    sel = out[:, mask]
    boxes = xyxy(*sel[:4])
    keep = nms(boxes, sel[4], iou_threshold)[:max_detections]
    kpts = sel[5:].reshape(num_keypoints, 3, -1)
    ih, iw = lb.image_size
    results = []
    for i in keep:
        box = lb.to_image(boxes[i].reshape(2, 2)).reshape(4)
        box = np.clip(box, 0, [iw, ih, iw, ih])
        corners = lb.to_image(kpts[:, :2, i])
        results.append(CardDetection(corners.astype(np.float32), float(sel[4, i]), "yolo-pose",
                                     tuple(float(v) for v in box), tuple(float(v) for v in kpts[:, 2, i])))
    return results


def decode_detect(raw: np.ndarray, lb: Letterbox, labels: tuple[str, ...], conf_threshold: float = 0.25,
                  iou_threshold: float = 0.5, max_detections: int = 40) -> list[tuple[str, tuple, float]]:
    """Raw detect tensor ``(1, 4 + C, N)`` → ``(label, xyxy box in image pixels, score)``, NMS per class,
    best first."""
    out = np.asarray(raw, dtype=np.float32)
    if out.ndim == 3:
        out = out[0]
    expected = 4 + len(labels)
    if out.shape[0] != expected and out.shape[-1] == expected:
        out = out.T
    if out.shape[0] != expected:
        raise ValueError(f"detect output has {out.shape[0]} channels, expected {expected}")
    cls_scores = out[4:]
    cls = cls_scores.argmax(axis=0)
    scores = cls_scores[cls, np.arange(out.shape[1])]
    mask = np.isfinite(scores) & (scores >= conf_threshold)
    if not mask.any():
        return []
    boxes = xyxy(*out[:4, mask])
    scores, cls = scores[mask], cls[mask]
    ih, iw = lb.image_size
    found = []
    for c in np.unique(cls):
        idx = np.flatnonzero(cls == c)
        for i in idx[nms(boxes[idx], scores[idx], iou_threshold)]:
            box = np.clip(lb.to_image(boxes[i].reshape(2, 2)).reshape(4), 0, [iw, ih, iw, ih])
            found.append((labels[int(c)], tuple(float(v) for v in box), float(scores[i])))
    found.sort(key=lambda f: -f[2])
    return found[:max_detections]
