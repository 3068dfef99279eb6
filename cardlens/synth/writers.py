"""Dataset writers: detector (YOLO-pose), field (YOLO detect on rectified cards) and recognizer (line crops).

Every sample is a pure function of ``(seed, index)``; workers only change speed, never bytes.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from cardlens.synth.geometry import (
    apply_homography,
    card_size_px,
    clip_box,
    cv2_matrix,
    design_corners,
    homography,
    polygon_clip_box,
    warp_box,
)
from cardlens.synth.seeding import sample_rngs

DETECTOR_CLASSES = ("card",)
FIELD_CLASSES = ("number", "number_group", "expiry", "name")
LINE_KINDS = ("number", "expiry", "name")
RECT_LONG = 640  # rectified card long side (field set)
LINE_HEIGHT = 48
JPEG_QUALITY = 92


@dataclass(frozen=True)
class WriteSummary:
    kind: str
    out: str
    n: int
    train: int
    val: int
    negatives: int
    files: int
    yaml: str | None
    manifest: str | None
    elapsed_s: float
    images_per_s: float

    def to_dict(self) -> dict:
        return asdict(self)


def _split(seed: int, n: int, fraction: float, stream: str) -> set[int]:
    rng = sample_rngs(seed, n, stream)[0]
    k = int(round(n * fraction))
    return set(int(i) for i in rng.permutation(n)[:k])


def _imwrite(path: Path, rgb: np.ndarray, quality: int = JPEG_QUALITY) -> None:
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    ext = path.suffix.lower()
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if ext in (".jpg", ".jpeg") else [cv2.IMWRITE_PNG_COMPRESSION, 3]
    ok, buf = cv2.imencode(ext, bgr, params)
    if not ok:  # pragma: no cover
        raise OSError(f"could not encode {path}")
    path.write_bytes(buf.tobytes())


def _fmt(v: float) -> str:
    return f"{min(max(v, 0.0), 1.0):.6f}"


# ------------------------------------------------------------------ detector set
def detector_label(sample) -> str:
    """One YOLO-pose line: ``0 cx cy w h  x0 y0 v0 ... x3 y3 v3`` (normalised by the image's width and
    height), or '' for a negative."""
    if sample.card is None or sample.box is None:
        return ""
    h, w = sample.image.shape[:2]
    x1, y1, x2, y2 = sample.box
    parts = ["0", _fmt((x1 + x2) / 2 / w), _fmt((y1 + y2) / 2 / h), _fmt((x2 - x1) / w), _fmt((y2 - y1) / h)]
    for (x, y), v in zip(sample.corners, sample.visibility, strict=True):
        if v == 0:
            parts += ["0.000000", "0.000000", "0"]
        else:
            parts += [_fmt(x / w), _fmt(y / h), str(v)]
    return " ".join(parts) + "\n"


# Close-up framing (``closeups``): the card held near the camera. The scene is rendered this much larger,
# then a window around the card is cut, each side moved by this share of the card's box (negative: the cut
# runs into the card, whose edges then leave the frame), and scaled back to ``imgsz`` on its long side.
CLOSEUP_RENDER = 1.5
CLOSEUP_MARGIN = (-0.10, 0.05)
CLOSEUP_NEGATIVE_WINDOW = (0.45, 0.8)  # no-card close-ups: a window of this share of the scene


def closeup_frame(s, seed: int, index: int, imgsz: int):
    """``s`` (a scene rendered at ``CLOSEUP_RENDER`` × ``imgsz``) cut to a close-up: the card fills the
    frame, maybe with its edges cut off; a scene without a card is cut to a random window instead.
    Returns a scene of the same kind whose long side is ``imgsz`` (the frame need not be square)."""
    rng = sample_rngs(seed, index, "closeup")[0]
    H, W = s.image.shape[:2]
    if s.card is None or s.box is None:
        side = rng.uniform(*CLOSEUP_NEGATIVE_WINDOW) * min(W, H)
        aspect = rng.uniform(0.56, 1.0)
        ww, wh = (side, side * aspect) if rng.random() < 0.7 else (side * aspect, side)
        x0, y0 = rng.uniform(0, W - ww), rng.uniform(0, H - wh)
        x1, y1 = x0 + ww, y0 + wh
    else:
        bx1, by1, bx2, by2 = s.box
        bw, bh = bx2 - bx1, by2 - by1
        m = rng.uniform(*CLOSEUP_MARGIN, size=4)
        x0, y0 = max(0.0, bx1 - m[0] * bw), max(0.0, by1 - m[1] * bh)
        x1, y1 = min(float(W), bx2 + m[2] * bw), min(float(H), by2 + m[3] * bh)
    ix0, iy0, ix1, iy1 = int(np.floor(x0)), int(np.floor(y0)), int(np.ceil(x1)), int(np.ceil(y1))
    crop = s.image[iy0:iy1, ix0:ix1]
    k = imgsz / max(crop.shape[:2])
    out_w, out_h = max(1, int(round(crop.shape[1] * k))), max(1, int(round(crop.shape[0] * k)))
    image = cv2.resize(crop, (out_w, out_h), interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR)
    if s.card is None:
        return replace(s, image=image)
    sx, sy = out_w / crop.shape[1], out_h / crop.shape[0]
    T = np.array([[sx, 0, -ix0 * sx], [0, sy, -iy0 * sy], [0, 0, 1]], np.float64)
    corners = apply_homography(T, s.corners)
    vis = tuple(0 if not (0 <= x <= out_w and 0 <= y <= out_h) else v
                for (x, y), v in zip(corners, s.visibility, strict=True))
    return replace(s, image=image, corners=corners, visibility=vis, box=polygon_clip_box(corners, out_w, out_h),
                   homography=T @ s.homography, card_alpha=None, occluder_alpha=None)


def _detector_task(args) -> tuple[int, bool]:
    from cardlens.synth.scene import render_scene

    out, seed, index, imgsz, split, negative, closeup = args
    if closeup:
        big = int(round(imgsz * CLOSEUP_RENDER))
        s = closeup_frame(render_scene(seed, index, big, negative=negative, scale_range=(0.5, 0.95), inside_share=1.0),
                          seed, index, imgsz)
    else:
        s = render_scene(seed, index, imgsz, negative=negative)
    name = f"{index:07d}"
    _imwrite(Path(out) / "images" / split / f"{name}.jpg", s.image)
    (Path(out) / "labels" / split / f"{name}.txt").write_text(detector_label(s))
    return index, s.card is not None


def _worker_init() -> None:
    cv2.setNumThreads(1)  # one process per core; OpenCV's own threads would only contend


def _run_pool(task, jobs: list, workers: int, desc: str, progress: bool):
    from tqdm import tqdm

    results = []
    bar = tqdm(total=len(jobs), desc=desc, unit="img", disable=not progress, leave=False)
    if workers <= 1:
        for j in jobs:
            results.append(task(j))
            bar.update()
    else:
        ctx = mp.get_context("spawn")
        chunk = max(1, min(32, len(jobs) // (workers * 8) or 1))
        with ctx.Pool(workers, initializer=_worker_init) as pool:
            for r in pool.imap(task, jobs, chunksize=chunk):
                results.append(r)
                bar.update()
    bar.close()
    return results


def _dirs(out: Path, sub: list[str]) -> None:
    for s in sub:
        (out / s).mkdir(parents=True, exist_ok=True)


DEFAULT_NEGATIVES = 0.1  # share of detector scenes rendered without a card


def write_detector_set(out, n: int, seed: int = 0, workers: int = 1, imgsz: int = 640, val_fraction: float = 0.1,
                       negatives: float = DEFAULT_NEGATIVES, progress: bool = True,
                       closeups: float = 0.0) -> WriteSummary:
    """YOLO-pose detector set: ``images/{train,val}``, ``labels/{train,val}``, ``data.yaml``.

    ``closeups``: share of scenes framed as close-ups (:func:`closeup_frame`, cards and no-card scenes
    alike); 0 leaves every other choice of the set as it was."""
    t0 = time.perf_counter()
    out = Path(out)
    _dirs(out, ["images/train", "images/val", "labels/train", "labels/val"])
    val = _split(seed, n, val_fraction, "split")
    neg = _split(seed, n, negatives, "negatives")
    close = _split(seed, n, closeups, "closeups") if closeups > 0 else set()
    jobs = [(str(out), seed, i, imgsz, "val" if i in val else "train", i in neg, i in close) for i in range(n)]
    _run_pool(_detector_task, jobs, workers, "synth detector", progress)
    yaml_path = out / "data.yaml"
    yaml_path.write_text(
        "# cardlens synthetic card detector set (YOLO-pose). 'path' is omitted on purpose: ultralytics then\n"
        "# resolves train/val relative to this file's folder.\n"
        "# Keypoints: the 4 card corners in the card DESIGN's order (top-left of the design first, clockwise).\n"
        "# Visibility: 2 visible, 1 inside the frame but covered (finger), 0 outside the frame (written as 0 0 0).\n"
        f"# seed: {seed}\n# n: {n}\n# imgsz: {imgsz}\n"
        + (f"# closeups: {closeups:g} (close-up frames: long side {imgsz}, not square)\n" if closeups > 0 else "")
        + "train: images/train\nval: images/val\n"
        "kpt_shape: [4, 3]\n"
        "flip_idx: [1, 0, 3, 2]  # a mirrored card is not a real card: train with fliplr=0.0\n"
        "names:\n  0: card\n")
    dt = time.perf_counter() - t0
    return WriteSummary("detector", str(out), n, n - len(val), len(val), len(neg), 2 * n + 1, str(yaml_path), None,
                        round(dt, 3), round(n / dt, 2) if dt else 0.0)


# ------------------------------------------------------------------ rectified cards (field + line sets)
@dataclass(frozen=True, eq=False)
class RectifiedCard:
    image: np.ndarray  # upright card, RGB uint8 (RECT_LONG on its long side)
    fields: tuple  # (kind, text, box in rectified pixels, FieldBox)
    to_rect: np.ndarray  # card pixels -> rectified pixels (continuous)
    ink_ids: np.ndarray  # card's ink-id map warped into the rectified image (nearest)
    sample: object


def rectified_card(seed: int, index: int, rect_long: int = RECT_LONG, corner_error: float = 0.012,
                   scene_size: int = 960, scale_range: tuple[float, float] = (0.6, 0.95)) -> RectifiedCard:
    """A photographed card warped upright from *perturbed* corners (realistic corner-detector error).

    ``scene_size`` and ``scale_range`` set how many camera pixels the card had before the warp: smaller
    values give the softer crops a 640×480 camera frame yields."""
    from cardlens.synth.render import make_card_spec
    from cardlens.synth.scene import compose_scene

    rng = sample_rngs(seed, index, "rectify")[0]
    spec = make_card_spec(seed, index)
    if spec.number_on == "none" or spec.side != spec.number_on:  # field/line sets need a printed number
        spec = replace(spec, number_on=spec.side)
    s = compose_scene(seed, index, scene_size, spec=spec, scale_range=scale_range, tilt_deg=30, occluders=False,
                      inside_share=1.0, distractor_rate=0.3)
    rw, rh = card_size_px(rect_long, spec.portrait)
    diag = float(np.hypot(*(s.corners[2] - s.corners[0])))
    noisy = s.corners + rng.normal(0, corner_error * diag, (4, 2)) * (rng.random() < 0.85)
    to_rect_from_img = homography(noisy, design_corners(rw, rh))
    img = cv2.warpPerspective(s.image, cv2_matrix(to_rect_from_img), (rw, rh), flags=cv2.INTER_AREA,
                              borderMode=cv2.BORDER_REPLICATE)
    to_rect = to_rect_from_img @ s.homography
    ids = cv2.warpPerspective(s.card.ink_ids, cv2_matrix(to_rect), (rw, rh), flags=cv2.INTER_NEAREST)
    fields = []
    for f in s.card.fields:
        if f.kind not in FIELD_CLASSES:
            continue
        b = clip_box(warp_box(to_rect, f.box), rw, rh)
        if b is not None:
            fields.append((f.kind, f.text, b, f))
    return RectifiedCard(img, tuple(fields), to_rect, ids, s)


def _field_task(args):
    out, seed, index, split, scene = args
    rc = rectified_card(seed, index, **scene)
    h, w = rc.image.shape[:2]
    name = f"{index:07d}"
    _imwrite(Path(out) / "images" / split / f"{name}.jpg", rc.image)
    lines = []
    for kind, _text, (x1, y1, x2, y2), _f in rc.fields:
        c = FIELD_CLASSES.index(kind)
        lines.append(f"{c} {_fmt((x1 + x2) / 2 / w)} {_fmt((y1 + y2) / 2 / h)} {_fmt((x2 - x1) / w)} {_fmt((y2 - y1) / h)}\n")
    (Path(out) / "labels" / split / f"{name}.txt").write_text("".join(lines))
    return index


def write_field_set(out, n: int, seed: int = 0, workers: int = 1, val_fraction: float = 0.1,
                    progress: bool = True, scene_size: int = 960, card_scale: tuple[float, float] = (0.6, 0.95),
                    corner_error: float = 0.012) -> WriteSummary:
    """YOLO detect set of rectified upright cards with boxes for number, its groups, expiry and name.

    ``scene_size``/``card_scale``/``corner_error`` as for :func:`write_line_set`: the defaults give sharp,
    well-framed cards; ``scene_size=640, card_scale=(0.35, 0.95), corner_error=0.02`` the softer ones the
    pipeline cuts out of a camera frame."""
    t0 = time.perf_counter()
    out = Path(out)
    _dirs(out, ["images/train", "images/val", "labels/train", "labels/val"])
    val = _split(seed, n, val_fraction, "split")
    scene = {"scene_size": scene_size, "scale_range": tuple(card_scale), "corner_error": corner_error}
    jobs = [(str(out), seed, i, "val" if i in val else "train", scene) for i in range(n)]
    _run_pool(_field_task, jobs, workers, "synth fields", progress)
    yaml_path = out / "data.yaml"
    yaml_path.write_text(
        "# cardlens synthetic field set: rectified upright cards (YOLO detect). 'path' omitted on purpose.\n"
        f"# seed: {seed}\n# n: {n}\ntrain: images/train\nval: images/val\nnames:\n"
        + "".join(f"  {i}: {c}\n" for i, c in enumerate(FIELD_CLASSES)))
    dt = time.perf_counter() - t0
    return WriteSummary("fields", str(out), n, n - len(val), len(val), 0, 2 * n + 1, str(yaml_path), None,
                        round(dt, 3), round(n / dt, 2) if dt else 0.0)


# ------------------------------------------------------------------ recognizer set
def _to_line_height(crop: np.ndarray) -> np.ndarray:
    scale = LINE_HEIGHT / crop.shape[0]
    return cv2.resize(crop, (max(1, int(round(crop.shape[1] * scale))), LINE_HEIGHT), interpolation=cv2.INTER_AREA)


def line_crops(rc: RectifiedCard, rng: np.random.Generator) -> list[tuple[str, str, np.ndarray, dict]]:
    """Text-line crops cut the way the pipeline will cut them, with jitter in the crop box."""
    h, w = rc.image.shape[:2]
    out = []
    stacked = rc.sample.card.spec.text.number_layout == "stacked"
    for kind, text, (x1, y1, x2, y2), _f in rc.fields:
        if kind == "number_group" and not stacked:
            continue
        if kind == "number" and stacked:
            continue
        if kind not in ("number", "expiry", "name", "number_group"):
            continue
        bh, bw = y2 - y1, x2 - x1
        jx1 = x1 - bh * rng.uniform(0.05, 0.6)
        jx2 = x2 + bh * rng.uniform(0.05, 0.6)
        jy1 = y1 - bh * rng.uniform(0.0, 0.35)
        jy2 = y2 + bh * rng.uniform(0.0, 0.35)
        box = clip_box((jx1, jy1, jx2, jy2), w, h)
        if box is None or bw < 4 or bh < 3:
            continue
        xa, ya, xb, yb = (int(round(v)) for v in box)
        out.append((kind, text, _to_line_height(rc.image[ya:max(yb, ya + 1), xa:max(xb, xa + 1)]), {}))
    return out


_LOCATORS: dict = {}  # one field locator per worker process (ONNX, 1 thread), loaded on first use


def located_line_crops(rc: RectifiedCard, min_iou: float = 0.5) -> list[tuple[str, str, np.ndarray, dict]]:
    """Text-line crops cut by the shipped field locator and the reader's own cropping
    (:func:`cardlens.ocr.card_reader.reader_line_crops`), each labelled with the printed field it
    overlaps (IoU ≥ ``min_iou``, same kind); located boxes that match no printed field are dropped."""
    from cardlens.detector.postprocess import box_iou
    from cardlens.ocr.card_reader import reader_line_crops
    from cardlens.ocr.field_locator import FieldLocator

    if "fields" not in _LOCATORS:
        _LOCATORS["fields"] = FieldLocator.load(runtime="onnx", threads=1)
    boxes = _LOCATORS["fields"].locate(rc.image, color="rgb")
    out = []
    for box, crop in reader_line_crops(rc.image, boxes):
        truth = [(text, b) for kind, text, b, _f in rc.fields if kind == box.kind]
        if not truth:
            continue
        ious = box_iou(np.asarray(box.box, dtype=np.float64), np.array([b for _t, b in truth], dtype=np.float64))
        best = int(np.argmax(ious))
        if ious[best] < min_iou:
            continue
        out.append((box.kind, truth[best][0], _to_line_height(crop), {"iou": round(float(ious[best]), 3)}))
    return out


def _line_task(args):
    out, seed, index, scene, crops = args
    rc = rectified_card(seed, index, **scene)
    rng = sample_rngs(seed, index, "lines")[0]
    spec = rc.sample.card.spec
    rows = []
    cut = located_line_crops(rc) if crops == "located" else line_crops(rc, rng)
    for j, (kind, text, crop, meta) in enumerate(cut):
        rel = f"images/{index:07d}_{j}_{kind}.png"
        _imwrite(Path(out) / rel, crop)
        row = {"image": rel, "kind": kind, "text": text, "index": index, "print_style": spec.print_style,
               "font": spec.number_font, **meta}
        if kind in ("number", "number_group"):
            row.update(digits=text.replace(" ", ""), brand=spec.text.brand, luhn=spec.text.luhn_label)
        rows.append(row)
    return rows


def write_line_set(out, n: int, seed: int = 0, workers: int = 1, val_fraction: float = 0.1,
                   progress: bool = True, scene_size: int = 960, card_scale: tuple[float, float] = (0.6, 0.95),
                   corner_error: float = 0.012, crops: str = "jitter") -> WriteSummary:
    """Recognizer set: ``images/*.png`` line crops and ``manifest.jsonl`` (one row per crop, with split).

    ``crops="jitter"`` cuts each printed field's box with random margins; ``crops="located"`` cuts the
    boxes the shipped field locator finds, the way the reader cuts them (see :func:`located_line_crops`).

    ``scene_size``/``card_scale``/``corner_error`` set the photograph the crops are cut from (see
    :func:`rectified_card`); the defaults give sharp crops, ``scene_size=640, card_scale=(0.35, 0.95),
    corner_error=0.02`` the softer, less well-framed ones a phone camera frame gives."""
    t0 = time.perf_counter()
    out = Path(out)
    _dirs(out, ["images"])
    val = _split(seed, n, val_fraction, "split")
    scene = {"scene_size": scene_size, "scale_range": tuple(card_scale), "corner_error": corner_error}
    if crops not in ("jitter", "located"):
        raise ValueError(f"crops must be 'jitter' or 'located', not {crops!r}")
    jobs = [(str(out), seed, i, scene, crops) for i in range(n)]
    rows = [r for rs in _run_pool(_line_task, jobs, workers, "synth lines", progress) for r in rs]
    manifest = out / "manifest.jsonl"
    with manifest.open("w") as fh:
        for r in rows:
            r["split"] = "val" if r["index"] in val else "train"
            fh.write(json.dumps(r, sort_keys=True) + "\n")
    dt = time.perf_counter() - t0
    return WriteSummary("lines", str(out), n, sum(r["split"] == "train" for r in rows), sum(r["split"] == "val" for r in rows),
                        0, len(rows) + 1, None, str(manifest), round(dt, 3), round(n / dt, 2) if dt else 0.0)


# ------------------------------------------------------------------ scan set (whole pipeline)
SCAN_FRAMINGS = ("scene", "fill")
# framing="fill": the image is cut around the card's true corners grown by this share of its size on every
# side (negative: the cut runs into the card), as artwork, a flatbed scan or a photo cropped to the card is.
FILL_MARGIN = (-0.01, 0.05)


def _scan_task(args):
    from cardlens.synth.scene import compose_scene

    out, seed, index, imgsz, framing = args
    s = compose_scene(seed, index, imgsz, scale_range=(0.45, 0.95), tilt_deg=25, inside_share=1.0,
                      distractor_rate=0.5, keep_masks=True)
    spec = s.card.spec
    visible = number_visible(s)
    image, c, box = s.image, s.corners, s.box
    if framing == "fill":
        image, c, box = _fill_frame(s, seed, index, imgsz)
    name = f"images/{index:07d}.jpg"
    _imwrite(Path(out) / name, image)
    kinds = {f.kind: f.text for f in s.card.fields}
    horizontal = abs(c[1][0] - c[0][0]) >= abs(c[1][1] - c[0][1])  # the design's first edge
    if spec.portrait:
        horizontal = not horizontal
    return {
        "file": name,
        "number": spec.text.pan if "number" in kinds or "number_group" in kinds else None,
        "luhn_valid": spec.text.luhn_ok,
        "expiry": kinds.get("expiry"),
        "name": kinds.get("name"),
        "card_box": [round(v, 1) for v in box],
        "embossed": (spec.print_style == "embossed") if ("number" in kinds or "number_group" in kinds) else None,
        "number_visible": visible,
        "orientation": "horizontal" if horizontal else "vertical",
        "side": spec.side,
        "difficulty": "synthetic",
        "image_type": "synthetic" if framing == "scene" else "synthetic-fill",
        "source": f"cardlens synth scans seed={seed} index={index}" + (" framing=fill" if framing == "fill" else ""),
    }


# Share of the number's box a finger may cover before the number counts as hidden (a fingertip's soft
# edge grazing the box leaves every digit readable).
HIDDEN_NUMBER_SHARE = 0.01


def number_visible(s) -> bool | None:
    """Whether every printed digit of the scene's card number is in the frame and uncovered by a finger
    (``s`` from ``compose_scene(..., keep_masks=True)``); None when the card prints no number. Glare and
    blur do not count: they are what the reader must cope with."""
    boxes = [f.box for f in s.card.fields if f.kind == "number"] or [
        f.box for f in s.card.fields if f.kind == "number_group"]
    if not boxes:
        return None
    h, w = s.image.shape[:2]
    occ = s.occluder_alpha
    for x1, y1, x2, y2 in boxes:
        quad = apply_homography(s.homography, np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], np.float64))
        if quad.min() < 0 or quad[:, 0].max() > w or quad[:, 1].max() > h:
            return False
        if occ is not None and occ.any():
            mask = np.zeros((h, w), np.uint8)
            cv2.fillConvexPoly(mask, np.round(quad).astype(np.int32), 1)
            area = max(int(mask.sum()), 1)
            if float((occ[mask > 0] > 0.5).sum()) / area > HIDDEN_NUMBER_SHARE:
                return False
    return True


def _fill_frame(s, seed: int, index: int, imgsz: int):
    """The scene's card cut upright to a card-shaped image (long side ``imgsz``) with a random margin:
    (image, card corners in it, card box clipped to it)."""
    from cardlens.geometry import grow_quad

    rng = sample_rngs(seed, index, "fill")[0]
    w, h = card_size_px(imgsz, s.card.spec.portrait)
    cut = grow_quad(s.corners.astype(np.float32), float(rng.uniform(*FILL_MARGIN)))
    m = homography(cut.astype(np.float64), design_corners(w, h))
    image = cv2.warpPerspective(s.image, cv2_matrix(m), (w, h), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
    corners = apply_homography(m, s.corners)
    return image, corners, polygon_clip_box(corners, w, h)


def write_scan_set(out, n: int, seed: int = 0, workers: int = 1, imgsz: int = 640,
                   progress: bool = True, framing: str = "scene") -> WriteSummary:
    """Whole scenes with one card each and ``labels.jsonl`` in realcards-dev's format (for ``eval scan``).

    ``framing="fill"``: each scene's card cut out to a card-shaped image it fills (``FILL_MARGIN``), the
    way card artwork, a scan or a cropped photo looks; the same cards as ``"scene"`` for the same seed."""
    if framing not in SCAN_FRAMINGS:
        raise ValueError(f"framing must be one of {', '.join(SCAN_FRAMINGS)}, not {framing!r}")
    t0 = time.perf_counter()
    out = Path(out)
    _dirs(out, ["images"])
    rows = _run_pool(_scan_task, [(str(out), seed, i, imgsz, framing) for i in range(n)], workers, "synth scans",
                     progress)
    labels = out / "labels.jsonl"
    with labels.open("w") as fh:
        for r in rows:
            fh.write(json.dumps(r, sort_keys=True) + "\n")
    dt = time.perf_counter() - t0
    return WriteSummary("scans", str(out), n, 0, n, 0, n + 1, None, str(labels), round(dt, 3),
                        round(n / dt, 2) if dt else 0.0)


__all__ = ["WriteSummary", "write_scan_set", "write_detector_set", "write_field_set", "write_line_set", "rectified_card",
           "detector_label", "apply_homography"]
