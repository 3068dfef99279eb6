"""Throughput of the detector-set writer: scenes per second at 640 px.

    python benchmarks/bench_synth.py --n 1000 --workers 2 [--json]
    python benchmarks/bench_synth.py --n 150 --cpu [--json]

Counts everything `cardlens synth detector` does (pool start-up, render, encode, write). ``--cpu`` instead
reports the CPU time one worker spends per scene (render, encode, write; after a warm-up), which stays
meaningful on a busy machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path


def cpu_ms_per_scene(out: str, n: int, seed: int, imgsz: int, warmup: int = 10) -> float:
    """CPU milliseconds per detector scene in this process, as a pool worker spends them."""
    import cv2

    from cardlens.synth import writers

    cv2.setNumThreads(1)  # as in a pool worker
    writers._dirs(Path(out), ["images/train", "labels/train"])
    neg = writers._split(seed, n, 0.1, "negatives")
    for i in range(n, n + warmup):
        writers._detector_task((out, seed, i, imgsz, "train", False))
    t0 = time.process_time()
    for i in range(n):
        writers._detector_task((out, seed, i, imgsz, "train", i in neg))
    return 1000 * (time.process_time() - t0) / n


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cpu", action="store_true", help="CPU ms per scene in one process instead of wall-clock")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    from cardlens.synth import write_detector_set

    out = tempfile.mkdtemp(prefix="bench_synth_")
    try:
        if args.cpu:
            ms = cpu_ms_per_scene(out, args.n, args.seed, args.imgsz)
            res = {"n": args.n, "imgsz": args.imgsz, "cpu_ms_per_scene": round(ms, 1)}
            print(json.dumps(res) if args.json else
                  f"{ms:.1f} ms CPU per detector scene at {args.imgsz} px (one process, {args.n} scenes)")
            return 0
        t0 = time.perf_counter()
        write_detector_set(out, args.n, args.seed, args.workers, imgsz=args.imgsz, progress=False)
        dt = time.perf_counter() - t0
    finally:
        shutil.rmtree(out, ignore_errors=True)
    res = {"n": args.n, "workers": args.workers, "imgsz": args.imgsz, "seconds": round(dt, 2),
           "scenes_per_s": round(args.n / dt, 1), "target_per_s": 50}
    print(json.dumps(res) if args.json else
          f"{res['scenes_per_s']} detector scenes/s at {args.imgsz} px with {args.workers} workers ({args.n} in {dt:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
