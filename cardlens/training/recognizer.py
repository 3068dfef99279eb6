"""``cardlens train recognizer``: CNN + CTC line recognizer on ``cardlens synth lines`` crops.

Seeded, logged one line per epoch, resumable from ``<out>/last.pt``, and finished by packaging:
``model.pt`` (state dict + config) + ``model.onnx`` (spec in ``metadata_props``) + ``spec.json`` +
``train_summary.json`` in ``<out>``. Batches group lines of similar width (padding costs CPU time);
the exported model takes one fixed width, which is what mobile runtimes want.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from cardlens.errors import CardlensError, UsageError, require
from cardlens.logs import get_logger
from cardlens.modelspec import METADATA_KEY, ModelSpec, sha256_of
from cardlens.ocr.charset import CHARSET, encode

log = get_logger(__name__)
INPUT_HEIGHT = 32
INPUT_WIDTH = 512


@dataclass(frozen=True)
class RecognizerTrainConfig:
    data: str                    # folder with manifest.jsonl (cardlens synth lines)
    out: str
    epochs: int = 12
    batch: int = 64
    lr: float = 2e-3
    width: float = 1.0           # channel multiplier
    seed: int = 0
    threads: int | None = None
    resume: bool = False
    limit: int | None = None     # at most this many training lines (quick runs)
    init: str | None = None      # start from these recognizer weights (model.pt) instead of random init
    extra_data: tuple[str, ...] = field(default_factory=tuple)
    stop_after: int | None = None  # end after this many epochs of the ``epochs``-long LR schedule
    glyph_warp: float = 0.0      # share of training lines whose glyph shapes are warped (see warp_glyphs)
    device: str = "cpu"          # "cpu", "cuda", "cuda:N" or "auto" (CUDA when there is one)
    # > 0: training batches are augmented and collated in this many worker processes, each batch with its own
    # generator (seed, epoch, batch): the same run for any worker count, but not 0's single stream
    workers: int = 0
    max_minutes: float | None = None  # end after the epoch that passes this (the LR schedule is --epochs long)


@dataclass(frozen=True)
class RecognizerTrainResult:
    out: str
    weights: str
    onnx: str
    spec: str
    epochs: int
    seconds: float
    metrics: dict


def recognizer_spec(width: float = 1.0) -> ModelSpec:
    return ModelSpec(
        name="card-text-recognizer" + ("" if width == 1.0 else f"-w{width:g}"),
        task="line-ctc",
        input_size=(INPUT_HEIGHT, INPUT_WIDTH),
        input_name="lines",
        color="GRAY",
        resize="height-keep-aspect-right-pad-median",
        charset=CHARSET,
        output_names=("logits",),
        output_format="ctc-logits: (1, T, C), T = W/4 frames, class 0 = blank, class i = charset[i-1]",
        thresholds={"beam": 16, "number_min_confidence": 0.9, "number_min_char_confidence": 0.5},
    )


def load_lines(folder: str | Path, split: str, limit: int | None = None) -> list[tuple[np.ndarray, str, str]]:
    """(grey h32 crop, text, kind) for one split of a line set."""
    folder = Path(folder)
    manifest = folder / "manifest.jsonl"
    if not manifest.is_file():
        raise CardlensError(f"no manifest.jsonl in {folder} (make one with: cardlens synth lines --out DIR)")
    out = []
    for line in manifest.open():
        row = json.loads(line)
        if row.get("split") != split:
            continue
        img = cv2.imread(str(folder / row["image"]), cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise CardlensError(f"unreadable line image {folder / row['image']}")
        h, w = img.shape
        new_w = max(4, min(INPUT_WIDTH, int(round(w * INPUT_HEIGHT / h))))
        out.append((cv2.resize(img, (new_w, INPUT_HEIGHT), interpolation=cv2.INTER_AREA), row["text"], row["kind"]))
        if limit and len(out) >= limit:
            break
    return out


def warp_glyphs(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Glyph shapes the generator's faces do not draw: a smooth random displacement field (an elastic
    distortion, a few pixels at 32 px height) bends strokes and moves serifs and hooks, and a 1-pixel
    grey-level erosion or dilation makes strokes lighter or bolder. Real embossers use faces our fonts
    lack (the hooked 7 of East Asian embossers, read as 1 or 2)."""
    h, w = x.shape
    sigma, alpha = rng.uniform(1.5, 4.0), rng.uniform(1.0, 2.0)
    dx, dy = (cv2.GaussianBlur(rng.uniform(-1, 1, (h, w)).astype(np.float32), (0, 0), sigma) for _ in range(2))
    scale = alpha / max(float(np.abs(dx).max()), float(np.abs(dy).max()), 1e-6)
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    x = cv2.remap(x, gx + dx * scale, gy + dy * scale, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    r = rng.random()
    if r < 0.25:
        x = cv2.erode(x, np.ones((2, 2), np.uint8))
    elif r < 0.5:
        x = cv2.dilate(x, np.ones((2, 2), np.uint8))
    return x


def _augment(img: np.ndarray, rng: np.random.Generator, glyph_warp: float = 0.0) -> np.ndarray:
    """Photometric and geometric jitter, including the crop errors seen on real cards: boxes that
    clip the tops or bottoms of the glyphs or leave wide margins, a residual tilt from imperfect
    corners, and low-resolution crops; with ``glyph_warp`` > 0, that share of lines also gets
    :func:`warp_glyphs`."""
    x = img.astype(np.float32)
    if glyph_warp and rng.random() < glyph_warp:
        x = warp_glyphs(x, rng)
    if rng.random() < 0.5:  # horizontal scale (fonts and crop widths vary)
        w = max(4, min(INPUT_WIDTH, int(round(x.shape[1] * rng.uniform(0.85, 1.15)))))
        x = cv2.resize(x, (w, INPUT_HEIGHT), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.4:  # vertical crop error: cut into the glyphs or pad with the border
        top, bottom = (int(round(v * INPUT_HEIGHT)) for v in rng.uniform(-0.12, 0.25, 2))
        x = cv2.copyMakeBorder(x[max(0, -top):INPUT_HEIGHT - max(0, -bottom)], max(0, top), max(0, bottom),
                               0, 0, cv2.BORDER_REPLICATE)
        x = cv2.resize(x, (x.shape[1], INPUT_HEIGHT), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.3:  # residual tilt and shear of the rectified card
        h, w = x.shape
        angle, shear = rng.uniform(-2.5, 2.5), rng.uniform(-0.15, 0.15)
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        m[0, 1] += shear
        m[0, 2] -= shear * h / 2
        x = cv2.warpAffine(x, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
    if rng.random() < 0.2:  # low resolution (a small card in a wide frame)
        f = rng.uniform(0.35, 0.7)
        small = cv2.resize(x, (max(4, int(x.shape[1] * f)), max(4, int(INPUT_HEIGHT * f))), interpolation=cv2.INTER_AREA)
        x = cv2.resize(small, (x.shape[1], INPUT_HEIGHT), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.3:
        x = cv2.GaussianBlur(x, (3, 3), rng.uniform(0.3, 1.0))
    lo, hi = np.percentile(x, 2), np.percentile(x, 98)
    contrast = rng.uniform(0.6, 1.3)
    x = (x - (lo + hi) / 2) * contrast + (lo + hi) / 2 + rng.uniform(-30, 30)
    if rng.random() < 0.3:
        x = x + rng.normal(0, rng.uniform(2, 8), x.shape)
    return np.clip(x, 0, 255)


def _batches(items: list, batch: int, rng: np.random.Generator) -> list[list[int]]:
    """Indices grouped by similar width (a little shuffled within), batches in random order."""
    widths = np.array([it[0].shape[1] for it in items], dtype=np.float64)
    order = np.argsort(widths + rng.uniform(0, 24, len(widths)))
    groups = [order[i:i + batch].tolist() for i in range(0, len(order), batch)]
    rng.shuffle(groups)
    return groups


def _collate(items, idx, rng, augment: bool, glyph_warp: float = 0.0):
    import torch

    imgs = [(_augment(items[i][0], rng, glyph_warp) if augment else items[i][0].astype(np.float32)) for i in idx]
    w = max(16, int(np.ceil(max(im.shape[1] for im in imgs) / 4) * 4))
    x = np.zeros((len(imgs), 1, INPUT_HEIGHT, w), dtype=np.float32)
    for j, im in enumerate(imgs):
        x[j, 0] = float(np.median(im))
        x[j, 0, :, :im.shape[1]] = im
    targets = [encode(items[i][1]) for i in idx]
    flat = torch.tensor([c for t in targets for c in t], dtype=torch.long)
    lengths = torch.tensor([len(t) for t in targets], dtype=torch.long)
    return torch.from_numpy(x / 255.0), flat, lengths


def evaluate_lines(model, items, batch: int = 128) -> dict:
    """Greedy exact match per kind and character error rate on prepared items."""
    import torch

    from cardlens.ocr.ctc import greedy, softmax
    from cardlens.scan_eval import edit_distance

    model.eval()
    device = next(model.parameters()).device
    right, total, edits, chars = {}, {}, 0, 0
    rng = np.random.default_rng(0)
    with torch.no_grad():
        for idx in _batches(items, batch, rng):
            x, _, _ = _collate(items, idx, rng, augment=False)
            probs = softmax(model(x.to(device)).float().cpu().numpy())
            for j, i in enumerate(idx):
                text, kind = items[i][1], items[i][2]
                got = greedy(probs[j]).text
                total[kind] = total.get(kind, 0) + 1
                right[kind] = right.get(kind, 0) + (got == text)
                edits += edit_distance(got, text)
                chars += len(text)
    metrics = {f"exact_{k}": right[k] / total[k] for k in sorted(total)}
    metrics["exact_all"] = sum(right.values()) / max(sum(total.values()), 1)
    metrics["cer"] = edits / max(chars, 1)
    return metrics


class _AugmentedBatches:
    """One epoch's training batches for DataLoader workers: batch ``k`` is augmented with its own generator
    (seed, epoch, k), so the result does not depend on which worker collates it."""

    def __init__(self, items, batches, seed: int, epoch: int, glyph_warp: float):
        self.items, self.batches, self.seed, self.epoch, self.glyph_warp = items, batches, seed, epoch, glyph_warp

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, k: int):
        rng = np.random.default_rng([self.seed, self.epoch, k])
        return _collate(self.items, self.batches[k], rng, augment=True, glyph_warp=self.glyph_warp)


def _training_batches(cfg: RecognizerTrainConfig, items, rng: np.random.Generator, epoch: int):
    """The epoch's (x, targets, lengths) batches: in this process from ``rng`` (workers 0, as before), else
    collated by ``cfg.workers`` DataLoader workers."""
    batches = _batches(items, cfg.batch, rng)
    if cfg.workers <= 0:
        return (_collate(items, idx, rng, augment=True, glyph_warp=cfg.glyph_warp) for idx in batches)
    import torch

    return torch.utils.data.DataLoader(_AugmentedBatches(items, batches, cfg.seed, epoch, cfg.glyph_warp),
                                       batch_size=None, shuffle=False, num_workers=cfg.workers,
                                       persistent_workers=False, pin_memory=False)


def _device(torch, name: str):
    """The torch device ``name`` asks for; a clear error when it asks for CUDA on a machine without it."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise UsageError(f"--device {name!r}: {err}; use cpu, cuda, cuda:N or auto") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {name}: this machine has no CUDA device torch can use (try --device cpu)")
    if device.type not in ("cpu", "cuda"):
        raise UsageError(f"--device {name}: use cpu, cuda, cuda:N or auto")
    return device


def export_torch_onnx(model, spec: ModelSpec, out_path: Path, opset: int = 17) -> Path:
    """A plain torch module to ONNX at batch 1 (grey input for a ``GRAY`` spec, else 3 channels), ``spec`` in
    its ``metadata_props`` (the recognizer's and the card verifier's export)."""
    import torch

    onnx = require("onnx", "export")
    model.eval()
    h, w = spec.input_size
    dummy = torch.zeros(1, 1 if spec.color == "GRAY" else 3, h, w)
    torch.onnx.export(model, dummy, str(out_path), input_names=[spec.input_name], output_names=list(spec.output_names),
                      opset_version=opset, dynamo=False)
    m = onnx.load(str(out_path))
    entry = m.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, spec.to_json()
    onnx.save(m, str(out_path))
    return out_path


def train_recognizer(cfg: RecognizerTrainConfig) -> RecognizerTrainResult:
    torch = require("torch", "train")
    from cardlens.ocr.recognizer_net import LineRecognizer

    if cfg.epochs < 1 or cfg.batch < 2:
        raise UsageError("--epochs must be ≥ 1 and --batch ≥ 2")
    if cfg.stop_after is not None and not 1 <= cfg.stop_after <= cfg.epochs:
        raise UsageError("--stop-after must be between 1 and --epochs")
    if cfg.workers < 0 or (cfg.max_minutes is not None and cfg.max_minutes <= 0):
        raise UsageError("--workers must be ≥ 0 and --max-minutes > 0")
    device = _device(torch, cfg.device)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng(cfg.seed)
    t_load = time.time()
    train = load_lines(cfg.data, "train", cfg.limit)
    for extra in cfg.extra_data:
        train += load_lines(extra, "train", cfg.limit)
    val = load_lines(cfg.data, "val", None if cfg.limit is None else max(32, cfg.limit // 8))
    if not train or not val:
        raise CardlensError(f"{cfg.data}: the line set needs both train and val lines")
    print(f"loaded {len(train)} train / {len(val)} val lines in {time.time() - t_load:.0f} s", flush=True)
    model = LineRecognizer(width=cfg.width)
    if cfg.init:
        state = torch.load(cfg.init, map_location="cpu", weights_only=False)
        if float(state.get("width", cfg.width)) != cfg.width:
            raise UsageError(f"--init weights have width {state.get('width')}, not --width {cfg.width}")
        model.load_state_dict(state["state_dict"] if "state_dict" in state else state["model"])  # model.pt | last.pt
        print(f"initialised from {cfg.init}", flush=True)
    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    steps_per_epoch = len(_batches(train, cfg.batch, np.random.default_rng(0)))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch,
                                                pct_start=0.15)
    ctc = torch.nn.CTCLoss(blank=0, zero_infinity=True)
    start_epoch, history = 0, []
    last = out / "last.pt"
    if cfg.resume and last.is_file():
        state = torch.load(last, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        start_epoch, history = state["epoch"], state["history"]
        rng = np.random.default_rng([cfg.seed, start_epoch])
        print(f"resumed after epoch {start_epoch}", flush=True)
    t0 = time.time()
    best = (-1.0, None)
    for epoch in range(start_epoch, min(cfg.epochs, cfg.stop_after or cfg.epochs)):
        model.train()
        losses = []
        for x, flat, lengths in _training_batches(cfg, train, rng, epoch):
            logits = model(x.to(device))                           # (N, T, C)
            logp = logits.log_softmax(-1).permute(1, 0, 2)         # (T, N, C)
            frames = torch.full((len(lengths),), logp.shape[0], dtype=torch.long)
            loss = ctc(logp, flat.to(device), frames, lengths)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
        metrics = evaluate_lines(model, val)
        history.append({"epoch": epoch + 1, "loss": float(np.mean(losses)), **metrics})
        elapsed = time.time() - t0
        print(f"epoch {epoch + 1}/{cfg.epochs} loss {np.mean(losses):.4f} "
              + " ".join(f"{k}={v:.4f}" for k, v in metrics.items()) + f" elapsed {elapsed / 60:.1f} min", flush=True)
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                    "epoch": epoch + 1, "history": history}, last)
        if metrics["exact_all"] > best[0]:
            best = (metrics["exact_all"], {k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
        if cfg.max_minutes is not None and elapsed / 60 >= cfg.max_minutes and epoch + 1 < cfg.epochs:
            print(f"time box of {cfg.max_minutes:g} min reached after epoch {epoch + 1}", flush=True)
            break
    seconds = time.time() - t0
    model.to("cpu")
    if best[1] is not None:
        model.load_state_dict(best[1])
    pt = out / "model.pt"
    torch.save({"state_dict": model.state_dict(), "width": cfg.width, "charset": CHARSET}, pt)
    spec = recognizer_spec(cfg.width)
    onnx_path = export_torch_onnx(model, spec.with_weights(pt), out / "model.onnx")
    train_params = {k: v for k, v in asdict(cfg).items() if k not in ("data", "out")}
    spec = spec.with_weights(onnx_path)
    spec = ModelSpec.from_dict({**spec.to_dict(), "extra": {"torch_weights": pt.name, "torch_sha256": sha256_of(pt),
                                                           "train": train_params,
                                                           "params": sum(p.numel() for p in model.parameters())}})
    spec.save(out / "spec.json")
    final = max(history, key=lambda h: h["exact_all"]) if history else {}
    (out / "train_summary.json").write_text(json.dumps({"seconds": round(seconds, 1), "history": history,
                                                        "best": final, "config": asdict(cfg),
                                                        "train_lines": len(train), "val_lines": len(val)}, indent=2))
    return RecognizerTrainResult(str(out), str(pt), str(onnx_path), str(out / "spec.json"), len(history),
                                 round(seconds, 1), final)
