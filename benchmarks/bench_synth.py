"""Throughput of the detector-set writer: scenes per second at 640 px.

    python benchmarks/bench_synth.py --n 1000 --workers 2 [--json]

Counts everything `cardlens synth detector` does (pool start-up, render, encode, write).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    from cardlens.synth import write_detector_set

    out = tempfile.mkdtemp(prefix="bench_synth_")
    try:
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
