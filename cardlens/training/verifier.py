"""``cardlens train verifier``: the card verifier, trained on what the shipped detector finds.

1. *Harvest*: the detector (score ≥ ``harvest_conf``) runs on ``cardlens synth detector`` scenes; each
   detection is cut out as the verifier sees it (:func:`cardlens.detector.verifier.verifier_crop`) and
   labelled card (IoU ≥ 0.5 with the scene's card) or not card (IoU < 0.2, or a scene without a card);
   boxes in between are left out. The detector's false boxes are exactly the verifier's negatives.
2. *Train*: a few epochs of a small CNN (~32 k parameters at the default width 8), random 60×96 windows, colour, grey, channel order and
   noise augmentation, turned by 180° half of the time. Seeded; one log line per epoch.
3. *Package*: ``model.pt`` + ``model.onnx`` (spec in ``metadata_props``) + ``spec.json`` +
   ``train_summary.json`` in ``<out>``, and the harvest's figures on the ``--val`` scenes.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from cardlens.errors import CardlensError, UsageError, require
from cardlens.logs import get_logger
from cardlens.modelspec import sha256_of

log = get_logger(__name__)


@dataclass(frozen=True)
class VerifierTrainConfig:
    scenes: tuple[str, ...]          # folders from 'cardlens synth detector' (their train split)
    out: str
    val: str | None = None           # a 'cardlens synth detector' folder whose val split is measured
    detector: str | None = None      # detector folder (default: the shipped one)
    epochs: int = 20
    batch: int = 64
    lr: float = 3e-3
    width: int = 8
    seed: int = 0
    threads: int | None = None
    workers: int = 2
    harvest_conf: float = 0.05
    command: str = ""


@dataclass(frozen=True)
class VerifierTrainResult:
    out: str
    weights: str
    onnx: str
    spec: str
    epochs: int
    seconds: float
    crops: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)


_DETECTOR = None


def _init_worker(detector: str | None, threads: int) -> None:
    global _DETECTOR
    from cardlens.detector.model import CardDetector

    _DETECTOR = CardDetector.load(detector, threads=threads, verifier=False)


def _harvest_one(args: tuple[str, str, float]) -> list[tuple[np.ndarray, int, float]]:
    from cardlens.detector.evaluate import _read_label
    from cardlens.detector.postprocess import box_iou
    from cardlens.detector.verifier import verifier_crop
    from cardlens.imageio import read_image

    image_path, label_path, conf = args
    img = read_image(image_path)
    h, w = img.shape[:2]
    label = _read_label(Path(label_path), w, h)
    out = []
    for d in _DETECTOR.detect(img, conf=conf):
        if label is None:
            y = 0
        else:
            iou = float(box_iou(label[0], np.array([d.box]))[0])
            y = 1 if iou >= 0.5 else 0 if iou < 0.2 else -1
        if y >= 0:
            out.append((verifier_crop(img, d.corners), y, float(d.confidence)))
    return out


def scene_files(folder: str | Path, split: str) -> list[tuple[str, str]]:
    root = Path(folder)
    images = sorted((root / "images" / split).glob("*.jpg"))
    if not images:
        raise UsageError(f"{root} has no images/{split}/*.jpg: make scenes with 'cardlens synth detector'")
    return [(str(p), str(root / "labels" / split / (p.stem + ".txt"))) for p in images]


def harvest(files: list[tuple[str, str]], detector: str | None, conf: float, workers: int = 2,
            progress: bool = False) -> dict[str, np.ndarray]:
    """Crops (N, 64, 100, 3) BGR uint8, labels y (1 card, 0 not) and the detector's scores ``s``."""
    from multiprocessing import get_context

    jobs = [(img, lab, conf) for img, lab in files]
    rows: list = []
    workers = max(1, int(workers))
    with get_context("spawn").Pool(workers, _init_worker, (detector, 1)) as pool:
        for i, found in enumerate(pool.imap(_harvest_one, jobs, chunksize=32)):
            rows.extend(found)
            if (i + 1) % 2000 == 0:
                log.info("harvest: %d / %d scenes, %d crops", i + 1, len(jobs), len(rows))
    if not rows:
        raise CardlensError("the detector found nothing to harvest on these scenes")
    return {"x": np.stack([r[0] for r in rows]), "y": np.array([r[1] for r in rows], np.int64),
            "s": np.array([r[2] for r in rows], np.float32)}


def _augment(x, gen):
    """Random 60×96 windows, brightness/contrast, grey, channel order, 180° turns, noise (torch, in [0, 1])."""
    import torch

    from cardlens.detector.verifier import CROP_SIZE, INPUT_SIZE

    n = x.shape[0]
    i = int(torch.randint(0, CROP_SIZE[0] - INPUT_SIZE[0] + 1, (1,), generator=gen))
    j = int(torch.randint(0, CROP_SIZE[1] - INPUT_SIZE[1] + 1, (1,), generator=gen))
    x = x[:, :, i:i + INPUT_SIZE[0], j:j + INPUT_SIZE[1]].clone()
    bright = 1 + 0.4 * (torch.rand(n, 1, 1, 1, generator=gen) - 0.5)
    contrast = 1 + 0.6 * (torch.rand(n, 1, 1, 1, generator=gen) - 0.5)
    mean = x.mean((1, 2, 3), keepdim=True)
    x = (x - mean) * contrast + mean * bright
    grey = torch.rand(n, generator=gen) < 0.2
    x[grey] = x[grey].mean(1, keepdim=True).expand(-1, 3, -1, -1)
    swap = torch.rand(n, generator=gen) < 0.3
    x[swap] = x[swap][:, torch.randperm(3, generator=gen)]
    turn = torch.rand(n, generator=gen) < 0.5
    x[turn] = torch.flip(x[turn], (2, 3))
    x = x + 0.03 * torch.rand(n, 1, 1, 1, generator=gen) * torch.randn(x.shape, generator=gen)
    return x.clamp(0, 1)


def _tensor(crops_bgr: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(crops_bgr[..., ::-1])).permute(0, 3, 1, 2).float() / 255.0


def separation(probs: np.ndarray, y: np.ndarray, scores: np.ndarray, conf: float,
               keeps: tuple[float, ...] = (0.1, 0.2, 0.3, 0.5)) -> dict:
    """Share of card crops kept and of non-card crops dropped, among detections scoring ≥ ``conf``."""
    sel = scores >= conf
    pos, neg = probs[sel & (y == 1)], probs[sel & (y == 0)]
    return {"conf": conf, "cards": int(len(pos)), "not_cards": int(len(neg)),
            **{f"keep@{k:g}": {"cards_kept": round(float(np.mean(pos >= k)) if len(pos) else 0.0, 4),
                               "not_cards_dropped": round(float(np.mean(neg < k)) if len(neg) else 0.0, 4)}
               for k in keeps}}


def train_verifier(cfg: VerifierTrainConfig) -> VerifierTrainResult:
    torch = require("torch", "train")
    from cardlens.detector.verifier import INPUT_SIZE, centre, verifier_spec
    from cardlens.detector.verifier_net import CardVerifierNet
    from cardlens.training.recognizer import export_torch_onnx

    if not cfg.scenes:
        raise UsageError("give at least one --scenes folder (from 'cardlens synth detector')")
    if cfg.epochs < 1 or cfg.batch < 2:
        raise UsageError("--epochs must be ≥ 1 and --batch ≥ 2")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    t0 = time.time()
    files = [f for folder in cfg.scenes for f in scene_files(folder, "train")]
    log.info("harvesting %d training scenes", len(files))
    train = harvest(files, cfg.detector, cfg.harvest_conf, cfg.workers)
    val = harvest(scene_files(cfg.val, "val"), cfg.detector, cfg.harvest_conf, cfg.workers) if cfg.val else None
    crops = {"train": int(len(train["y"])), "train_cards": int(train["y"].sum()),
             **({"val": int(len(val["y"])), "val_cards": int(val["y"].sum())} if val else {})}
    log.info("crops: %s (%.0f s)", crops, time.time() - t0)

    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    net = CardVerifierNet(cfg.width)
    x, y = _tensor(train["x"]), torch.from_numpy(train["y"]).float()
    steps = cfg.epochs * ((len(x) + cfg.batch - 1) // cfg.batch)
    opt = torch.optim.AdamW(net.parameters(), cfg.lr * 2 / 3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=steps)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    xv = _tensor(np.stack([centre(c) for c in val["x"]])) if val else None

    def predict(batch_x):
        net.eval()
        with torch.no_grad():
            return torch.sigmoid(torch.cat([net(batch_x[k:k + 256]) for k in range(0, len(batch_x), 256)])).squeeze(1).numpy()

    history = []
    for epoch in range(cfg.epochs):
        net.train()
        perm = torch.randperm(len(x), generator=gen)
        total = 0.0
        for k in range(0, len(x), cfg.batch):
            idx = perm[k:k + cfg.batch]
            loss = loss_fn(net(_augment(x[idx], gen)).squeeze(1), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        row = {"epoch": epoch + 1, "loss": round(total / len(x), 5)}
        if val:
            sep = separation(predict(xv), val["y"], val["s"], 0.1, (0.2,))["keep@0.2"]
            row.update(sep)
        history.append(row)
        log.info("epoch %d/%d %s", epoch + 1, cfg.epochs, json.dumps(row))
        with (out / "train_log.jsonl").open("a") as f:
            f.write(json.dumps(row) + "\n")

    net.eval()
    pt = out / "model.pt"
    torch.save({"width": cfg.width, "state_dict": net.state_dict()}, pt)
    spec = verifier_spec(cfg.width)
    onnx_path = export_torch_onnx(net, spec, out / "model.onnx")
    spec = replace(spec.with_weights(onnx_path), extra={**spec.extra, "torch_weights": pt.name,
                                                        "torch_sha256": sha256_of(pt)})
    spec.save(out / "spec.json")
    metrics = {}
    if val:
        probs = predict(xv)
        metrics = {"val_scenes": str(cfg.val), **{f"conf_{c:g}": separation(probs, val["y"], val["s"], c)
                                                  for c in (0.1, 0.25)}}
    params = sum(p.numel() for p in net.parameters())
    summary = {"config": asdict(cfg), "crops": crops, "params": params, "input_size": list(INPUT_SIZE),
               "epochs": history, "metrics": metrics, "seconds": round(time.time() - t0, 1)}
    (out / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return VerifierTrainResult(str(out), str(pt), str(onnx_path), str(out / "spec.json"), cfg.epochs,
                               round(time.time() - t0, 1), crops, metrics)

