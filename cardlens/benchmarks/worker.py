"""One benchmark configuration, measured in its own process (so model load, cold start and RSS are
that configuration's alone): ``python -m cardlens.benchmarks.worker JOB.json OUT.json``.

Job kinds: ``pipeline`` (our models on one runtime / precision / thread count), ``baseline`` (an
alternative OCR engine) and ``reference`` (MobileNetV2 on this host, to calibrate the estimates).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from cardlens.benchmarks.memory import PeakProbe
from cardlens.benchmarks.stats import latency_stats, repeat_cv


def _timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, (time.perf_counter() - t0) * 1e3


def _limit_threads(threads: int) -> None:
    import cv2

    cv2.setNumThreads(threads)
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass


class _Counted:
    """Wraps a raw network runner: calls and milliseconds, for the per-frame network share."""

    def __init__(self, run):
        self.run, self.calls, self.ms = run, 0, 0.0

    def __call__(self, x):
        t0 = time.perf_counter()
        out = self.run(x)
        self.ms += (time.perf_counter() - t0) * 1e3
        self.calls += 1
        return out


def _passes(fn_args: list, runs: int, duration_s: float) -> tuple[list[float], list[float]]:
    """Round-robin over the prepared inputs, ``runs`` passes or until ``duration_s`` (at least one
    pass): every call's milliseconds, and the median of each pass (the repeats for the noise check)."""
    samples: list[float] = []
    medians: list[float] = []
    t_end = time.perf_counter() + duration_s
    for _ in range(runs):
        this = [_timed(fn, *args)[1] for fn, args in fn_args]
        samples += this
        medians.append(float(np.median(this)))
        if time.perf_counter() > t_end:
            break
    return samples, medians


def _stats(samples: list[float], medians: list[float]) -> dict:
    d = latency_stats(samples, repeats=medians).to_dict()
    d["repeat_cv"], d["repeats"] = round(repeat_cv(medians), 4), len(medians)
    return d


def _sample(fn_args: list, runs: int, duration_s: float) -> dict:
    return _stats(*_passes(fn_args, runs, duration_s))


def _decode_number(probs, allowed, reader):
    """CTC prefix beam search over one number line, then the Luhn / brand / confidence decision."""
    from cardlens.ocr.ctc import beam_search
    from cardlens.ocr.number_decoding import decide_number

    return decide_number([beam_search(probs, allowed, beam=reader.beam)], reader.min_confidence,
                         reader.min_char_confidence)


def _accuracy(scanner, images: list[dict]) -> tuple[dict, list[dict]]:
    from cardlens.scan_eval import evaluate_image, summarize

    outcomes = [evaluate_image(scanner, Path(im["folder"]), im["label"]) for im in images]
    s = summarize(outcomes)
    keys = ("images", "card_found", "with_number", "number_exact", "luhn_valid_labels", "pan_exact",
            "char_accuracy", "expiry_exact", "false_accepts")
    return {k: s[k] for k in keys}, [{"file": o.file, "ms": round(o.ms, 2)} for o in outcomes]


def run_pipeline(job: dict) -> dict:
    from cardlens.detector.model import CardDetector
    from cardlens.detector.postprocess import decode_pose
    from cardlens.detector.preprocess import spec_input
    from cardlens.detector.refine import refined
    from cardlens.geometry import grow_quad, rectify
    from cardlens.imageio import read_image
    from cardlens.ocr.card_reader import CardReader, crop_line
    from cardlens.ocr.charset import NUMBER_CHARS, allowed_classes
    from cardlens.ocr.field_locator import FieldLocator
    from cardlens.ocr.recognizer import TextRecognizer
    from cardlens.scanner import CARD_MARGIN, CardScanner

    threads, runtime, folders = int(job["threads"]), job["runtime"], job["folders"]
    _limit_threads(threads)
    with PeakProbe() as load_mem:
        t0 = time.perf_counter()
        # the card verifier only where the configuration lists one (its files then count in its size)
        det = CardDetector.load(folders["detector"], runtime=runtime, threads=threads,
                                verifier=folders.get("verifier", False))
        loc = FieldLocator.load(folders["fields"], runtime=runtime, threads=threads)
        rec = TextRecognizer.load(folders["recognizer"], runtime=runtime, threads=threads)
        reader = CardReader(loc, rec)
        scanner = CardScanner(locator=det, reader=reader)
        load_ms = (time.perf_counter() - t0) * 1e3
        images = job["images"]
        arrays = [read_image(Path(im["folder"]) / im["label"]["file"]) for im in images]
        _, first_ms = _timed(scanner.scan, arrays[0])
    runners = {"detector": det, "fields": loc, "recognizer": rec, **({"verifier": det.verifier} if det.verifier else {})}
    counters = {name: _Counted(obj._run) for name, obj in runners.items()}
    for name, obj in runners.items():
        obj._run = counters[name]
    accuracy, per_image = _accuracy(scanner, images)     # also one pass of warm-up
    n_frames = len(images)
    network = {k: {"calls_per_frame": c.calls / n_frames, "ms_per_frame": c.ms / n_frames} for k, c in counters.items()}
    for name, obj in runners.items():
        obj._run = counters[name].run
    for a in arrays[: job.get("warmup", 2)]:
        scanner.scan(a)

    # prepared inputs per stage (from the images where a card is found)
    s, t = det.spec, det.spec.thresholds
    stage_inputs: dict[str, list] = {k: [] for k in ("preprocess", "detector", "decode", "refine", "rectify",
                                                     "fields", "recognizer_line", "decoding")}
    allowed = allowed_classes(NUMBER_CHARS)
    for img in arrays:
        x, lb = spec_input(img, s)
        raw = det._run(x)
        stage_inputs["preprocess"].append((spec_input, (img, s)))
        stage_inputs["detector"].append((det._run, (x,)))
        dec_args = (raw, lb, len(s.keypoints), det.conf, t.get("iou", 0.5), t.get("max_det", 10))
        stage_inputs["decode"].append((decode_pose, dec_args))
        found = decode_pose(*dec_args)
        if not found:
            continue
        stage_inputs["refine"].append((refined, (img, found[0])))
        d = refined(img, found[0])
        quad = grow_quad(d.corners, CARD_MARGIN)
        stage_inputs["rectify"].append((rectify, (img, quad)))
        card = rectify(img, quad)
        stage_inputs["fields"].append((loc.locate, (card,)))
        for box in loc.locate(card):
            crop = crop_line(card, box.box)
            if crop is None:
                continue
            stage_inputs["recognizer_line"].append((rec.probabilities, (crop,)))
            if box.kind == "number":
                stage_inputs["decoding"].append((_decode_number, (rec.probabilities(crop), allowed, reader)))
    runs, duration = int(job["runs"]), float(job["duration_s"])
    stages = {}
    for name, fa in stage_inputs.items():
        if fa:
            stages[name] = _sample(fa, runs, duration)
    with PeakProbe() as run_mem:
        samples, repeat_p50 = _passes([(scanner.scan, (a,)) for a in arrays], runs, duration * 3)
    stages["frame"] = _stats(samples, repeat_p50)
    return {"load_ms": round(load_ms, 2), "first_inference_ms": round(first_ms, 2),
            "cold_start_ms": round(load_ms + first_ms, 2), "rss_load_mb": load_mem.increase_mb,
            "rss_steady_mb": round(load_mem.increase_mb + run_mem.increase_mb, 2), "rss_exact": load_mem.exact,
            "stages": stages, "network": network, "accuracy": accuracy, "per_image": per_image,
            "samples": {"frame": [round(v, 3) for v in samples]}}


def run_baseline(job: dict) -> dict:
    from cardlens.benchmarks.baselines import load_baseline
    from cardlens.imageio import read_image

    threads = int(job["threads"])
    _limit_threads(threads)
    images = job["images"]
    with PeakProbe() as load_mem:
        t0 = time.perf_counter()
        scanner, info = load_baseline(job["baseline"], threads)
        load_ms = (time.perf_counter() - t0) * 1e3
        first = read_image(Path(images[0]["folder"]) / images[0]["label"]["file"])
        _, first_ms = _timed(scanner.scan, first)
    with PeakProbe() as run_mem:
        accuracy, per_image = _accuracy(scanner, images)
        arrays = [read_image(Path(im["folder"]) / im["label"]["file"]) for im in images]
        samples, repeat_p50 = _passes([(scanner.scan, (a,)) for a in arrays], max(0, int(job["runs"]) - 1),
                                      float(job["duration_s"]))
    samples = [p["ms"] for p in per_image] + samples
    frame = _stats(samples, repeat_p50)
    size = sum(Path(f).stat().st_size for f in info.model_files if Path(f).is_file())
    return {"description": info.description, "model_files": [Path(f).name for f in info.model_files],
            "size_bytes": size, "load_ms": round(load_ms, 2), "first_inference_ms": round(first_ms, 2),
            "cold_start_ms": round(load_ms + first_ms, 2), "rss_load_mb": load_mem.increase_mb,
            "rss_steady_mb": round(load_mem.increase_mb + run_mem.increase_mb, 2),
            "stages": {"frame": frame}, "accuracy": accuracy, "per_image": per_image,
            "samples": {"frame": [round(v, 3) for v in samples]}}


def run_reference(job: dict) -> dict:
    """MobileNetV2 (random weights: speed does not depend on them) on ONNX Runtime, this host."""
    from cardlens.detector.runtime import onnx_runner

    threads = int(job["threads"])
    _limit_threads(threads)
    run, _ = onnx_runner(Path(job["onnx"]), threads=threads)
    x = np.random.default_rng(0).random((1, 3, 224, 224), dtype=np.float32)
    for _ in range(3):
        run(x)
    return {"stages": {"network": _sample([(run, (x,))] * 5, int(job["runs"]), float(job["duration_s"]))}}


KINDS = {"pipeline": run_pipeline, "baseline": run_baseline, "reference": run_reference}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    job = json.loads(Path(argv[0]).read_text())
    from cardlens.offline import configure_offline

    configure_offline()
    result = KINDS[job["kind"]](job)
    tmp = Path(argv[1] + ".tmp")
    tmp.write_text(json.dumps(result))
    tmp.replace(argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
