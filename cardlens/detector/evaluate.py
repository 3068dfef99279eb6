"""``cardlens eval detector``: the figures the detector is judged by.

- synthetic val (a ``cardlens synth detector`` set): box mAP50 / mAP50-95 and pose mAP (ultralytics'
  validator on the torch weights: the network's own boxes), the box mAP of what ``CardDetector.detect``
  returns (its box is the one the edge-fitted corners span when every visible side was fitted; ranked by
  ``box_score``, the network's confidence weighed by how many sides were fitted, and by the confidence
  alone beside it; COCO-style 101-point AP as ultralytics computes it, here), and with the shipped runtime through our own pre/post-processing:
  recall at IoU ≥ 0.5, median and p90 corner error as a fraction of the card diagonal (corners compared
  in design order, so a card detected upside-down counts as wrong), false detections on no-card scenes;
- realcards-dev: card found (IoU ≥ 0.5 with the labelled enclosing box) on images with a card, and no
  detection on the negatives, broken down by image type and orientation.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from cardlens.detector.postprocess import box_iou
from cardlens.imageio import read_image


@dataclass(frozen=True)
class SyntheticDetectorMetrics:
    images: int
    cards: int
    negatives: int
    recall_iou50: float
    corner_error_median: float      # fraction of the card diagonal
    corner_error_p90: float
    negatives_clean: float          # share of no-card scenes with no detection
    box_map50: float | None = None
    box_map50_95: float | None = None
    pose_map50_95: float | None = None
    detector_box_map50: float | None = None     # CardDetector.detect's boxes (edge-refined), ranked by box_score
    detector_box_map50_95: float | None = None
    detector_box_map50_95_by_confidence: float | None = None   # the same boxes ranked by the network's confidence


@dataclass(frozen=True)
class RealcardsDetectorMetrics:
    images_with_card: int
    found_iou50: float
    negatives: int
    negatives_clean: float
    by_group: dict
    misses: tuple[str, ...]


def _read_label(path: Path, w: int, h: int):
    text = path.read_text().split() if path.is_file() else []
    if not text:
        return None
    v = np.array(text[1:], dtype=np.float64)
    cx, cy, bw, bh = v[:4]
    box = np.array([(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h])
    kp = v[4:].reshape(4, 3)
    corners = np.stack([kp[:, 0] * w, kp[:, 1] * h], axis=1)
    return box, corners, kp[:, 2]


def evaluate_synthetic(detector, data_yaml: str | Path, split: str = "val", limit: int | None = None,
                       with_map: bool = True, pt_path: str | Path | None = None) -> SyntheticDetectorMetrics:
    root = Path(data_yaml).parent
    images = sorted((root / "images" / split).glob("*.jpg"))[:limit]
    errors, found, cards, neg, neg_clean = [], 0, 0, 0, 0
    ranked: list[tuple[np.ndarray | None, np.ndarray, np.ndarray]] = []  # (label box, boxes, box scores)
    by_conf: list[tuple[np.ndarray | None, np.ndarray, np.ndarray]] = []  # the same, network confidences
    for img_path in images:
        img = read_image(img_path)
        h, w = img.shape[:2]
        label = _read_label(root / "labels" / split / (img_path.stem + ".txt"), w, h)
        if with_map:  # every box the network scores at all, as a validator ranks them
            every = detector.detect(img, conf=MAP_CONF, verify=False)
            card_box, boxes = None if label is None else label[0], np.array([d.box for d in every], float).reshape(-1, 4)
            ranked.append((card_box, boxes, np.array([d.box_score for d in every], float)))
            by_conf.append((card_box, boxes, np.array([d.confidence for d in every], float)))
        dets = detector.detect(img)
        if label is None:
            neg += 1
            neg_clean += not dets
            continue
        cards += 1
        box, corners, vis = label
        if not dets:
            continue
        boxes = np.array([d.box for d in dets])
        ious = box_iou(box, boxes)
        best = int(np.argmax(ious))
        if ious[best] < 0.5:
            continue
        found += 1
        seen = vis > 0
        # corners outside the frame are labelled (0, 0): measure the diagonal on fully seen pairs only
        diags = [np.hypot(*(corners[i + 2] - corners[i])) for i in (0, 1) if seen[i] and seen[i + 2]]
        diag = float(np.mean(diags)) if diags else float(np.hypot(box[2] - box[0], box[3] - box[1]))
        if seen.any() and diag > 0:
            err = np.linalg.norm(dets[best].corners[seen] - corners[seen], axis=1).mean() / diag
            errors.append(float(err))
    errs = np.array(errors) if errors else np.array([np.nan])
    maps = {}
    if with_map and pt_path:
        maps = ultralytics_map(pt_path, data_yaml, detector.spec.input_size[0], split)
    if with_map:
        m50, m50_95 = box_map(ranked)
        maps.update(detector_box_map50=m50, detector_box_map50_95=m50_95,
                    detector_box_map50_95_by_confidence=box_map(by_conf)[1])
    return SyntheticDetectorMetrics(len(images), cards, neg, found / max(cards, 1), float(np.median(errs)),
                                    float(np.percentile(errs, 90)), neg_clean / max(neg, 1), **maps)


MAP_CONF = 0.001                        # the score floor validators rank boxes from
MAP_IOUS = np.linspace(0.5, 0.95, 10)


def average_precision(tp: np.ndarray, scores: np.ndarray, n_labels: int) -> float:
    """AP as ultralytics' validator computes it (so the two box mAPs compare): the precision envelope
    with sentinels (recall 0 → precision 1, recall 1 → precision 0), interpolated at 101 recall points
    and integrated; perfect boxes score 0.995, as there."""
    if n_labels == 0:
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    hits = np.asarray(tp, float)[order]
    tps, fps = np.cumsum(hits), np.cumsum(1 - hits)
    recall = np.concatenate(([0.0], tps / n_labels, [1.0]))
    precision = np.concatenate(([1.0], tps / np.maximum(tps + fps, 1e-9), [0.0]))
    precision = np.flip(np.maximum.accumulate(np.flip(precision)))
    x = np.linspace(0, 1, 101)
    return float(np.trapz(np.interp(x, recall, precision), x))


def box_map(ranked: list[tuple[np.ndarray | None, np.ndarray, np.ndarray]]) -> tuple[float, float]:
    """(mAP50, mAP50-95) of one class with at most one labelled box per image: per image its label box
    (None without a card), the boxes found and their scores. At each IoU threshold the best-scored box
    that overlaps the label enough is the true positive; every other box is a false one."""
    hits, scores, n_labels = [], [], 0
    for label, boxes, conf in ranked:
        tp = np.zeros((len(boxes), len(MAP_IOUS)))
        if label is not None:
            n_labels += 1
            if len(boxes):
                ious = box_iou(np.asarray(label, float), boxes)
                for j, t in enumerate(MAP_IOUS):
                    ok = np.flatnonzero(ious >= t)
                    if len(ok):
                        tp[ok[np.argmax(conf[ok])], j] = 1
        hits.append(tp)
        scores.append(conf)
    tp_all = np.concatenate(hits) if hits else np.zeros((0, len(MAP_IOUS)))
    sc = np.concatenate(scores) if scores else np.zeros(0)
    aps = [average_precision(tp_all[:, j], sc, n_labels) for j in range(len(MAP_IOUS))]
    return aps[0], float(np.mean(aps))


def ultralytics_map(pt_path, data_yaml, imgsz: int, split: str = "val") -> dict:
    from cardlens.offline import import_ultralytics

    import_ultralytics()
    from ultralytics import YOLO

    m = YOLO(str(pt_path)).val(data=str(data_yaml), imgsz=imgsz, split=split, batch=16, plots=False,
                                device="cpu", workers=0, verbose=False)
    return {"box_map50": float(m.box.map50), "box_map50_95": float(m.box.map),
            "pose_map50_95": float(m.pose.map)}


def evaluate_realcards(detector, root: str | Path) -> RealcardsDetectorMetrics:
    root = Path(root)
    labels_path = root / "labels.jsonl"
    if not labels_path.is_file():
        from cardlens.errors import CardlensError

        raise CardlensError(f"realcards labels not found: {labels_path}")
    rows = [json.loads(line) for line in labels_path.read_text().splitlines() if line.strip()]
    groups: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    with_card = found = neg = neg_clean = 0
    misses = []
    for row in rows:
        img = read_image(root / row["file"])
        dets = detector.detect(img)
        if row["image_type"] == "negative" or row.get("card_box") is None:
            neg += 1
            neg_clean += not dets
            if dets:
                misses.append(f"{row['file']}: detection on a negative")
            continue
        with_card += 1
        ok = bool(dets) and float(box_iou(np.array(row["card_box"], float), np.array([d.box for d in dets])).max()) >= 0.5
        found += ok
        if not ok:
            misses.append(f"{row['file']}: card not found")
        for key in (f"type={row['image_type']}", f"orientation={row['orientation']}", f"side={row['side']}",
                    f"difficulty={row['difficulty']}"):
            groups[key][0] += ok
            groups[key][1] += 1
    by_group = {k: {"found": v[0], "total": v[1], "rate": round(v[0] / v[1], 4)} for k, v in sorted(groups.items())}
    return RealcardsDetectorMetrics(with_card, found / max(with_card, 1), neg, neg_clean / max(neg, 1), by_group,
                                    tuple(misses))


def metrics_to_dict(m) -> dict:
    return asdict(m)
