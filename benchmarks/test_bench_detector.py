"""Detector latency at 1 thread, torch vs ONNX Runtime (a figure, not a pass/fail test).

    .venv/bin/python -m pytest benchmarks/test_bench_detector.py --benchmark-columns=min,median,mean,max
"""

import numpy as np
import pytest

from cardlens.detector.model import CardDetector


@pytest.fixture(scope="module")
def frame():
    from cardlens.synth.scene import render_scene

    return render_scene(7, 3, 640).image[:, :, ::-1].copy()


@pytest.mark.parametrize("runtime", ["onnx", "torch"])
def test_detector_latency_1_thread(benchmark, runtime, frame):
    det = CardDetector.load(runtime=runtime, threads=1)
    det.detect(frame)  # warm-up outside the timed rounds
    benchmark.extra_info.update({"runtime": runtime, "threads": 1, "input": list(det.spec.input_size),
                                 "frame": list(frame.shape)})
    result = benchmark.pedantic(det.detect, args=(frame,), rounds=50, warmup_rounds=5)
    assert isinstance(result, list)


def test_synth_frame_has_card(frame):
    assert frame.dtype == np.uint8
