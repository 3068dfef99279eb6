"""The benchmark harness: statistics, budgets, the estimator on hand-computed examples, operation
counts, the report writers (golden file) and one real end-to-end ``cardlens bench`` run."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from cardlens.benchmarks.budgets import (
    Anchor,
    DeviceClass,
    device_classes,
    load_catalog,
    load_device_results,
    verdict,
)
from cardlens.benchmarks.environment import collect_environment
from cardlens.benchmarks.estimate import (
    MEM_EFF,
    RATIO_SPREAD,
    HostProfile,
    estimate_class,
    estimate_ratio,
    estimate_roofline,
)
from cardlens.benchmarks.stats import latency_stats, percentile, repeat_cv
from cardlens.errors import UsageError

DATA = Path(__file__).parent / "data" / "bench"


# ---------------------------------------------------------------- statistics
def test_latency_stats_hand_computed():
    s = latency_stats([10, 20, 30, 40, 50])
    assert (s.n, s.min, s.max, s.mean) == (5, 10, 50, 30)
    assert s.p50 == 30
    assert s.p90 == pytest.approx(46.0)          # numpy linear: 40 + 0.6 * 10
    assert s.p99 == pytest.approx(49.6)
    assert s.std == pytest.approx(math.sqrt(250))  # sample std (ddof=1)
    assert s.cv == pytest.approx(math.sqrt(250) / 30)
    assert s.noisy                               # cv 0.53 and no repeats given


def test_noise_judged_on_repeats_when_given():
    samples = [5, 100, 5, 100, 5, 100]           # two kinds of frame: spread by design
    assert not latency_stats(samples, repeats=[52.5, 52.0, 53.0]).noisy
    assert latency_stats(samples, repeats=[40.0, 60.0, 52.0]).noisy
    assert repeat_cv([1.0]) == 0.0
    assert repeat_cv([10.0, 10.0]) == 0.0


@pytest.mark.parametrize("bad", [[], [1.0, float("nan")], [float("inf")]])
def test_latency_stats_rejects_bad_samples(bad):
    with pytest.raises(ValueError):
        latency_stats(bad)


def test_percentile_matches_numpy():
    rng = np.random.default_rng(0)
    x = rng.exponential(10, 1000)
    assert percentile(x, 95) == pytest.approx(float(np.percentile(x, 95)))


# ---------------------------------------------------------------- budgets
def test_verdict_pass_fail_uncertain_with_margin():
    assert verdict(80, 90, 100, "x").to_dict() == {"status": "pass", "margin": 10, "budget": 100, "low": 80,
                                                   "high": 90, "label": "x"}
    v = verdict(120, 150, 100, "x")
    assert (v.status, v.margin) == ("fail", -20)
    v = verdict(90, 130, 100, "x")
    assert (v.status, v.margin) == ("uncertain", -30)
    assert verdict(130, 90, 100, "x").status == "uncertain"   # range given backwards


def test_shipped_catalog_has_required_classes_with_citations():
    catalog = load_catalog()
    classes = device_classes(catalog)
    for key in ("low-end-android", "mid-range-android", "flagship-android", "iphone-neural-engine",
                "raspberry-pi-5", "raspberry-pi-4"):
        assert key in classes, key
        c = classes[key]
        assert c.p90_ms > 0 and c.size_mb > 0 and c.ram_mb > 0
        assert c.rationale
        assert c.anchors, f"{key} has no published anchor"
        assert all(a.source for a in c.anchors), f"{key}: an anchor without its source"
    assert catalog["reference_models"]["mobilenet_v2"]["gflops"] == pytest.approx(0.6, abs=0.05)


def test_user_classes_add_and_override(tmp_path):
    extra = tmp_path / "mine.yaml"
    extra.write_text("classes:\n  kiosk:\n    label: Our kiosk\n    budgets: {p90_ms: 50, size_mb: 20, ram_mb: 300}\n"
                     "  raspberry-pi-4:\n    label: Pi 4 (ours)\n    budgets: {p90_ms: 400, size_mb: 10, ram_mb: 300}\n")
    classes = device_classes(load_catalog(extra))
    assert classes["kiosk"].p90_ms == 50 and classes["kiosk"].anchors == ()
    assert classes["raspberry-pi-4"].p90_ms == 400
    bad = tmp_path / "bad.yaml"
    bad.write_text("classes:\n  broken:\n    label: no budgets\n")
    with pytest.raises(UsageError, match="broken"):
        device_classes(load_catalog(bad))
    with pytest.raises(UsageError, match="not found"):
        load_catalog(tmp_path / "missing.yaml")


def test_device_results_import(tmp_path):
    f = tmp_path / "phone.json"
    f.write_text(json.dumps([{"device_class": "low-end-android", "config": "tflite-int8", "p90_ms": 140,
                              "source": "Moto E13, adb benchmark_model"}]))
    (m,) = load_device_results(f)
    assert (m.device_class, m.config, m.p90_ms, m.source) == ("low-end-android", "tflite-int8", 140, "Moto E13, adb benchmark_model")
    f.write_text(json.dumps([{"config": "x"}]))
    with pytest.raises(UsageError, match="entry 0"):
        load_device_results(f)


# ---------------------------------------------------------------- estimator, by hand
CLASS = DeviceClass("test", "Test class", "cpu", p90_ms=100, size_mb=5, ram_mb=100, peak_gflops_1t=10.0,
                    mem_bandwidth_gbs=4.0, anchors=(
                        Anchor("mobilenet_v2", 1, 120.0, "phone A", "rt", "src A"),
                        Anchor("mobilenet_v2", 1, 150.0, "phone B", "rt", "src B"),
                        Anchor("mobilenet_v2", 4, 50.0, "phone B", "rt", "src C")))
HOST = HostProfile(frame_p90_ms=40.0, network_ms=30.0, flops_per_frame=2e9, bytes_per_frame=100e6,
                   reference_ms={"mobilenet_v2": 10.0})
GFLOPS = {"mobilenet_v2": 0.6}


def test_ratio_estimate_by_hand():
    e = estimate_ratio(CLASS, HOST)
    # 1-thread anchors only: ratios 12 and 15; 40 ms × 12 × 0.8 = 384, 40 × 15 × 1.25 = 750
    assert (e.low_ms, e.high_ms) == pytest.approx((40 * 12 * RATIO_SPREAD[0], 40 * 15 * RATIO_SPREAD[1]))
    assert (e.low_ms, e.high_ms) == pytest.approx((384.0, 750.0))


def test_roofline_estimate_by_hand():
    e = estimate_roofline(CLASS, HOST, GFLOPS)
    # efficiencies: 0.6 / (0.120 × 10 × 1) = 0.5, 0.6 / (0.150 × 10) = 0.4, 0.6 / (0.050 × 10 × 4) = 0.3
    # network: 2 GFLOP / (10 GFLOPS × eff) → 400 ms (eff 0.5) … 666.7 ms (eff 0.3);
    # memory: 100 MB / (4 GB/s × 0.5) = 50 ms, below compute
    # non-network: (40 − 30) ms × ratio 12 × 0.8 = 96 … × 15 × 1.25 = 187.5
    assert MEM_EFF == 0.5
    assert e.low_ms == pytest.approx(400 + 96)
    assert e.high_ms == pytest.approx(2000 / 3 + 187.5)
    combined = estimate_class(CLASS, HOST, GFLOPS)[-1]
    assert combined.method == "combined"
    assert (combined.low_ms, combined.high_ms) == pytest.approx((384.0, 2000 / 3 + 187.5))
    assert verdict(combined.low_ms, combined.high_ms, CLASS.p90_ms, "estimated (class)").status == "fail"


def test_no_estimate_without_anchors():
    bare = DeviceClass("bare", "Bare", "cpu", 100, 5, 100)
    assert estimate_class(bare, HOST, GFLOPS) == ()


# ---------------------------------------------------------------- operation counts
def test_graph_cost_on_a_hand_built_graph(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    from cardlens.benchmarks.flops import graph_cost

    w = numpy_helper.from_array(np.zeros((4, 3, 3, 3), np.float32), "w")
    b = numpy_helper.from_array(np.zeros((4,), np.float32), "b")
    m = numpy_helper.from_array(np.zeros((256, 10), np.float32), "m")
    shape = numpy_helper.from_array(np.array([1, 256], np.int64), "shape")
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Reshape", ["r", "shape"], ["f"]),
             helper.make_node("MatMul", ["f", "m"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], [w, b, m, shape])
    path = tmp_path / "g.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    cost = graph_cost(path)
    conv = 2 * (4 * 8 * 8) * 3 * 9 + 4 * 8 * 8      # 2 × out elements × Cin × k² + bias
    relu = 4 * 8 * 8
    matmul = 2 * 10 * 256
    assert cost.by_op == {"Conv": conv, "MatMul": matmul, "Relu": relu, "Reshape": 0}
    assert cost.flops == conv + relu + matmul == 19456
    assert cost.weight_bytes == 4 * (108 + 4 + 2560) + 8 * 2
    assert cost.activation_bytes == 4 * (256 + 256 + 256 + 10)


# ---------------------------------------------------------------- environment
def test_environment_reads_isa_flags():
    x86 = "model name\t: Test CPU 9000\nflags\t\t: fpu sse4_2 avx avx2 fma avx512f avx512_vnni\n"
    env = collect_environment(x86)
    assert env["cpu_model"] == "Test CPU 9000"
    if env["machine"] == "x86_64":
        assert env["isa"]["avx2"] and env["isa"]["avx512_vnni"] and not env["isa"]["amx_int8"]
    assert env["python"] and env["versions"]["numpy"]


# ---------------------------------------------------------------- report writers (golden file)
def test_report_markdown_matches_golden():
    from cardlens.benchmarks.report import render_markdown

    results = json.loads((DATA / "results.json").read_text())
    golden = (DATA / "REPORT.md").read_text()
    assert render_markdown(results) == golden


def test_write_outputs_makes_every_file(tmp_path):
    from PIL import Image

    from cardlens.benchmarks.report import console_table, write_outputs

    results = json.loads((DATA / "results.json").read_text())
    written = write_outputs(results, tmp_path)
    names = sorted(p.name for p in written)
    assert names == ["REPORT.md", "budgets.png", "latency.png", "results.json", "sizes.png"]
    for p in written:
        if p.suffix == ".png":
            with Image.open(p) as im:
                assert im.size[0] > 300 and im.size[1] > 100
    assert json.loads((tmp_path / "results.json").read_text()) == results
    from rich.console import Console

    console = Console(record=True, width=160)
    for t in console_table(results):
        console.print(t)
    text = console.export_text()
    assert "onnx-fp32-t1" in text and "low-end-android" in text


# ---------------------------------------------------------------- end to end
def test_cli_bench_end_to_end(tmp_path, capsys, no_network):
    from cardlens.cli import main

    out = tmp_path / "bench"
    rc = main(["bench", "--quick", "--images", "2", "--runs", "2", "--duration", "0.3", "--runtime", "onnx",
               "--baselines", "rapidocr", "--out", str(out), "--json"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    results = json.loads((out / "results.json").read_text())
    (cfg,) = results["configs"]
    assert cfg["name"] == "onnx-fp32-t1" and "error" not in cfg
    for stage in ("preprocess", "detector", "decode", "frame"):
        s = cfg["stages"][stage]
        assert 0 < s["min"] <= s["p50"] <= s["p90"] <= s["p99"] <= s["max"]
    assert cfg["size_bytes"] == sum(cfg["model_files"].values()) > 1_000_000
    assert cfg["cold_start_ms"] >= cfg["load_ms"] > 0 and cfg["rss_steady_mb"] >= 0
    # 1 synthetic + 1 realcards-dev image (the synthetic one alone where ../shared is not beside the clone)
    assert cfg["accuracy"]["images"] == sum(results["settings"]["images"].values()) >= 1
    assert results["environment"]["versions"]["onnxruntime"]
    ref = results["reference"]
    assert ref["mobilenet_v2"]["host_ms"]["1"]["p50"] > 0
    # our operation counter on the reference graphs agrees with the published figures
    assert ref["mobilenet_v2"]["gflops"] == pytest.approx(0.6, rel=0.05)   # ~300 M multiply-adds
    assert ref["mobilenet"]["gflops"] == pytest.approx(1.138, rel=0.05)    # MobileNet v1: ~569 M
    low_end = results["budgets"]["onnx-fp32-t1"]["low-end-android"]
    assert low_end["latency"]["label"] == "estimated (class)" and low_end["latency"]["low"] < low_end["latency"]["high"]
    assert low_end["size"]["label"] == "measured (host)"
    (rapid,) = results["baselines"]
    assert rapid["name"] == "rapidocr" and rapid["size_bytes"] > 10_000_000
    assert results["comparisons"][0]["baseline"] == "rapidocr"
    assert summary["summary"]["config"] == "onnx-fp32-t1"
    assert set(summary["summary"]["budget_verdicts"]) >= {"low-end-android", "raspberry-pi-5"}
    for f in ("REPORT.md", "latency.png", "budgets.png", "sizes.png"):
        assert (out / f).is_file(), f
