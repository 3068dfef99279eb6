"""``run_bench``: every configuration and baseline on the same images, then estimates, verdicts and reports.

Each configuration runs in its own process (:mod:`cardlens.benchmarks.worker`). Every figure carries
a label: ``measured (host)``, ``measured (device, imported)`` or ``estimated (class)``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cardlens.benchmarks import baselines as bl
from cardlens.benchmarks.budgets import device_classes, load_catalog, load_device_results, verdict
from cardlens.benchmarks.environment import collect_environment
from cardlens.benchmarks.estimate import HostProfile, estimate_class
from cardlens.errors import CardlensError, UsageError
from cardlens.offline import cache_dir

MEASURED = "measured (host)"
IMPORTED = "measured (device, imported)"
ESTIMATED = "estimated (class)"
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
SHIPPED = {"detector": MODELS_DIR / "card-detector", "fields": MODELS_DIR / "field-locator",
           "recognizer": MODELS_DIR / "text-recognizer", "verifier": MODELS_DIR / "card-verifier"}
DEFAULT_REALCARDS = Path("../shared/realcards-dev")
BUNDLE_NAME = re.compile(r"^(onnx|tflite|coreml)-(fp32|fp16|int8)$")
REFERENCE = "mobilenet_v2"
REFERENCES = ("mobilenet_v2", "mobilenet")


@dataclass(frozen=True)
class Preset:
    n_synthetic: int
    n_real: int
    runs: int
    duration_s: float
    threads: tuple[int, ...]


QUICK = Preset(n_synthetic=4, n_real=4, runs=3, duration_s=2.0, threads=(1,))
FULL = Preset(n_synthetic=24, n_real=55, runs=5, duration_s=8.0, threads=(1, 2))


@dataclass(frozen=True)
class Config:
    name: str           # e.g. "onnx-fp32-t1"
    runtime: str        # torch | onnx | tflite
    precision: str
    threads: int
    folders: dict
    source: str         # "shipped" or the bundle folder


def _with_verifier(folders: dict) -> dict:
    """``folders`` without a ``verifier`` entry that holds no model (the detector then runs alone)."""
    return {k: v for k, v in folders.items() if k != "verifier" or (Path(v) / "spec.json").is_file()}


def _model_files(folders: dict, runtime: str) -> list[Path]:
    suffix = {"torch": ".pt", "onnx": ".onnx", "tflite": ".tflite", "coreml": ".mlpackage"}[runtime]
    return [p for f in folders.values() for p in Path(f).iterdir() if p.suffix == suffix]


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def discover_configs(bundles: Sequence[Path], threads: Sequence[int], runtimes: Sequence[str] | None,
                     precisions: Sequence[str] | None, dedupe_onnx_fp32: bool = False) -> tuple[list[Config], list[dict]]:
    """Shipped torch + ONNX fp32 models and every bundle under ``bundles`` (a bundle folder or a folder
    of them). CoreML bundles are listed as skipped with their size (they predict on macOS only)."""
    found = [("torch", "fp32", _with_verifier(SHIPPED), "shipped"), ("onnx", "fp32", _with_verifier(SHIPPED), "shipped")]
    skipped = []
    for root in bundles:
        root = Path(root)
        if not root.is_dir():
            raise UsageError(f"bundle folder {root} not found (make one with: cardlens export --out {root})")
        for folder in ([root] if (root / "manifest.json").is_file() else sorted(root.iterdir())):
            m = BUNDLE_NAME.match(folder.name)
            if not m or not (folder / "manifest.json").is_file():
                continue
            fmt, prec = m.groups()
            folders = _with_verifier({k: folder / k for k in ("detector", "fields", "recognizer", "verifier")})
            if fmt == "coreml":
                skipped.append({"name": folder.name, "reason": "CoreML predicts on macOS only; size measured",
                                "size_bytes": sum(_size(p) for p in _model_files(folders, "coreml"))})
                continue
            if (fmt, prec) == ("onnx", "fp32") and dedupe_onnx_fp32:
                continue  # the shipped ONNX models are the same graphs
            found.append((fmt, prec, folders, str(folder)))
    configs = []
    for runtime, prec, folders, source in found:
        if (runtimes and runtime not in runtimes) or (precisions and prec not in precisions):
            continue
        for t in threads:
            configs.append(Config(f"{runtime}-{prec}-t{t}", runtime, prec, int(t),
                                  {k: str(v) for k, v in folders.items()}, source))
    return configs, skipped


def bench_images(n_synthetic: int, n_real: int, seed: int, realcards: Path | None) -> list[dict]:
    """Synthetic scenes (rendered once per seed and size, cached) and a fixed-seed sample of realcards-dev."""
    from cardlens.scan_eval import load_labels

    images = []
    if n_synthetic:
        folder = cache_dir() / "bench" / f"scans-s{seed}-n{n_synthetic}"
        if not (folder / "labels.jsonl").is_file():
            from cardlens.synth.writers import write_scan_set

            write_scan_set(folder, n_synthetic, seed=seed, workers=1, imgsz=640, progress=False)
        images += [{"set": "synthetic", "folder": str(folder), "label": lab} for lab in load_labels(folder)]
    if n_real and realcards is not None and (Path(realcards) / "labels.jsonl").is_file():
        labels = load_labels(realcards)
        pick = sorted(np.random.default_rng(seed).choice(len(labels), min(n_real, len(labels)), replace=False))
        images += [{"set": "realcards", "folder": str(Path(realcards).resolve()), "label": labels[i]} for i in pick]
    if not images:
        raise UsageError("no bench images: give --synthetic N > 0 or a realcards-dev folder")
    return images


def _mobilenet_v1():
    """MobileNet v1 1.0 (Howard et al. 2017, table 1): conv 3×3/2 then 13 depthwise-separable blocks."""
    import torch.nn as nn

    def block(cin, cout, stride, depthwise):
        if depthwise:
            return [nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin), nn.ReLU(),
                    nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
        return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

    cfg = [(32, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1), (256, 512, 2),
           *[(512, 512, 1)] * 5, (512, 1024, 2), (1024, 1024, 1)]
    layers = block(3, 32, 2, False) + [m for cin, cout, s in cfg for m in block(cin, cout, s, True)]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1024, 1000)).eval()


def reference_model(name: str = REFERENCE) -> Path:
    """A reference network at 224 px with random weights (nothing downloaded; speed does not depend on
    the weights) as ONNX, cached: ``mobilenet_v2`` (torchvision) or ``mobilenet`` (v1)."""
    path = cache_dir() / "bench" / f"{name}.onnx"
    if not path.is_file():
        import torch
        import torchvision

        path.parent.mkdir(parents=True, exist_ok=True)
        model = torchvision.models.mobilenet_v2(weights=None).eval() if name == "mobilenet_v2" else _mobilenet_v1()
        tmp = path.with_suffix(".tmp.onnx")
        torch.onnx.export(model, torch.zeros(1, 3, 224, 224), str(tmp), input_names=["x"], output_names=["y"],
                          opset_version=17, dynamo=False)
        tmp.replace(path)
    return path


def _image_sizes(images: list[dict]) -> dict:
    from PIL import Image

    sizes = []
    for im in images:
        with Image.open(Path(im["folder"]) / im["label"]["file"]) as f:
            sizes.append(f.size)
    return {"min_wh": [min(w for w, _ in sizes), min(h for _, h in sizes)],
            "max_wh": [max(w for w, _ in sizes), max(h for _, h in sizes)],
            "median_pixels": int(np.median([w * h for w, h in sizes]))}


def _model_inputs(folders: dict) -> dict:
    """Network input (height, width, channels) per model, from each folder's spec.json."""
    from cardlens.modelspec import ModelSpec

    out = {}
    for role, folder in folders.items():
        try:
            spec = ModelSpec.load(Path(folder) / "spec.json")
            out[role] = {"input_hw": list(spec.input_size), "layout": spec.layout, "color": spec.color}
        except (CardlensError, OSError, AttributeError):
            out[role] = None
    return out


def _run_job(job: dict, timeout_s: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="cardlens-bench-") as tmp:
        jp, op = Path(tmp) / "job.json", Path(tmp) / "out.json"
        jp.write_text(json.dumps(job))
        env = {**os.environ, "OMP_NUM_THREADS": str(job["threads"]), "PYTHONWARNINGS": "ignore"}
        try:
            proc = subprocess.run([sys.executable, "-m", "cardlens.benchmarks.worker", str(jp), str(op)],
                                  capture_output=True, text=True, timeout=timeout_s, env=env)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout_s:.0f} s"}
        if proc.returncode != 0 or not op.is_file():
            from cardlens.cardrules import redact_text

            tail = redact_text((proc.stderr or "").strip().splitlines()[-1] if proc.stderr.strip() else "")
            return {"error": f"worker exited {proc.returncode}: {tail[:300]}"}
        return json.loads(op.read_text())


def _per_frame_cost(network: dict, costs: dict) -> tuple[float, float]:
    flops = sum(network[k]["calls_per_frame"] * costs[k].flops for k in costs if k in network)
    moved = sum(network[k]["calls_per_frame"] * costs[k].bytes_moved for k in costs if k in network)
    return flops, moved


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def run_bench(*, out: Path, quick: bool = True, models: Path | None = None, bundles: Sequence[Path] = (),
              baselines: bool | Sequence[str] = True, runs: int | None = None, n_images: int | None = None,
              threads: Sequence[int] | None = None, runtimes: Sequence[str] | None = None,
              precisions: Sequence[str] | None = None, duration_s: float | None = None, seed: int = 2024,
              realcards: Path | None = DEFAULT_REALCARDS, device_classes_files: Sequence[Path] = (),
              device_results: Path | None = None, plots: bool = True, log=print) -> dict:
    """Benchmark and write ``results.json``, ``REPORT.md`` and PNG plots into ``out``; return the results.

    ``n_images`` splits evenly between synthetic and real images; ``models`` replaces the shipped
    model folder (a folder with card-detector/, field-locator/, text-recognizer/ and optionally card-verifier/)."""
    t_start = time.perf_counter()
    preset = QUICK if quick else FULL
    runs = runs or preset.runs
    duration = duration_s if duration_s is not None else preset.duration_s
    n_syn, n_real = (preset.n_synthetic, preset.n_real) if n_images is None else (n_images - n_images // 2, n_images // 2)
    threads = tuple(threads or preset.threads)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    shipped = _with_verifier(SHIPPED)
    if models is not None:
        shipped = {"detector": Path(models) / "card-detector", "fields": Path(models) / "field-locator",
                   "recognizer": Path(models) / "text-recognizer"}
        for p in shipped.values():
            if not p.is_dir():
                raise UsageError(f"--models {models}: {p.name}/ not found")
        shipped = _with_verifier({**shipped, "verifier": Path(models) / "card-verifier"})
    catalog = load_catalog(*device_classes_files)
    classes = device_classes(catalog)
    imported = load_device_results(device_results) if device_results else []
    ref_gflops = {k: float(v["gflops"]) for k, v in (catalog.get("reference_models") or {}).items()}

    log(f"bench: {'quick' if quick else 'full'} run, {n_syn} synthetic + up to {n_real} realcards-dev images, "
        f"{runs} runs, threads {threads}")
    images = bench_images(n_syn, n_real, seed, realcards)
    configs, skipped = discover_configs(bundles, threads, runtimes, precisions, dedupe_onnx_fp32=quick)
    configs = [Config(c.name, c.runtime, c.precision, c.threads,
                      {k: str(shipped[k]) for k in shipped} if c.source == "shipped" else c.folders, c.source)
               for c in configs]
    env = collect_environment()

    # reference networks on this host, for the estimates
    reference: dict[str, dict] = {}     # model -> {threads: stats}
    ref_costs = {}
    try:
        from cardlens.benchmarks.flops import graph_cost

        for model in REFERENCES:
            ref_path = reference_model(model)
            ref_costs[model] = graph_cost(ref_path)
            for t in sorted(set(threads) | {1}):
                r = _run_job({"kind": "reference", "onnx": str(ref_path), "threads": t, "runs": max(runs * 4, 10),
                              "duration_s": duration}, 300)
                if "error" not in r:
                    reference.setdefault(model, {})[t] = r["stages"]["network"]
            log(f"  reference {model} (ONNX Runtime, {ref_costs[model].flops / 1e9:.2f} GFLOP): "
                + ", ".join(f"{t}t p50 {v['p50']:.1f} ms" for t, v in reference.get(model, {}).items()))
    except (CardlensError, ImportError) as exc:
        log(f"  reference networks unavailable ({exc}); class estimates skipped")

    from cardlens.benchmarks.flops import graph_cost

    onnx_costs = {k: graph_cost(next(Path(shipped[k]).glob("*.onnx"))) for k in shipped}
    results = []
    for i, c in enumerate(configs, 1):
        log(f"  [{i}/{len(configs)}] {c.name} ({c.source})")
        job = {"kind": "pipeline", "runtime": c.runtime if c.source == "shipped" else "auto",
               "threads": c.threads, "folders": c.folders, "images": images, "runs": runs, "duration_s": duration,
               "warmup": 2}
        r = _run_job(job, 900)
        files = _model_files(c.folders, c.runtime)
        r.update({"name": c.name, "runtime": c.runtime, "precision": c.precision, "threads": c.threads,
                  "source": c.source, "size_bytes": sum(_size(p) for p in files),
                  "model_files": {Path(p).parent.name + "/" + p.name: _size(p) for p in files}, "label": MEASURED})
        if "error" in r:
            log(f"    failed: {r['error']}")
        else:
            f = r["stages"]["frame"]
            log(f"    frame p50 {f['p50']:.1f} ms p90 {f['p90']:.1f} ms (cv {f['cv']:.2f}{', NOISY' if f['noisy'] else ''}), "
                f"{r['size_bytes'] / 1e6:.2f} MB, RSS +{r['rss_steady_mb']:.0f} MB, PAN exact {r['accuracy']['pan_exact']}, "
                f"number exact {r['accuracy']['number_exact']}")
            flops, moved = _per_frame_cost(r["network"], onnx_costs)
            r["flops_per_frame"], r["bytes_per_frame"] = flops, moved
        results.append(r)

    base_results = []
    names = list(bl.BASELINES) if baselines is True else list(baselines or [])
    base_threads = max(threads)
    for name in names:
        why = bl.available(name)
        if why:
            base_results.append({"name": name, "skipped": why})
            log(f"  baseline {name}: skipped ({why})")
            continue
        log(f"  baseline {name} ({base_threads} threads)")
        r = _run_job({"kind": "baseline", "baseline": name, "threads": base_threads, "images": images,
                      "runs": 1 if quick else 2, "duration_s": duration}, 3600)
        r.update({"name": name, "threads": base_threads, "label": MEASURED})
        if "error" not in r:
            log(f"    frame p50 {r['stages']['frame']['p50']:.0f} ms, {r['size_bytes'] / 1e6:.1f} MB, "
                f"PAN exact {r['accuracy']['pan_exact']}, number exact {r['accuracy']['number_exact']}")
        base_results.append(r)

    budgets = evaluate_budgets(results, classes, imported, reference, ref_gflops)
    comparisons = compare_baselines(results, base_results, base_threads)
    ok = [r for r in results if "error" not in r]
    main_cfg = next((r for r in ok if r["runtime"] == "onnx" and r["precision"] == "fp32" and r["threads"] == 1),
                    ok[0] if ok else None)
    summary = {
        "config": main_cfg["name"] if main_cfg else None,
        "pipeline_p90_ms": main_cfg["stages"]["frame"]["p90"] if main_cfg else None,
        "pipeline_size_bytes": main_cfg["size_bytes"] if main_cfg else None,
        "pan_exact": main_cfg["accuracy"]["pan_exact"] if main_cfg else None,
        "number_exact": main_cfg["accuracy"]["number_exact"] if main_cfg else None,
        "budget_verdicts": {k: v["overall"] for k, v in budgets.get(main_cfg["name"], {}).items()} if main_cfg else {},
    }
    doc = {
        "kind": "cardlens-bench", "version": 1, "mode": "quick" if quick else "full",
        "settings": {"runs": runs, "duration_s": duration, "threads": list(threads), "seed": seed,
                     "images": {"synthetic": sum(im["set"] == "synthetic" for im in images),
                                "realcards": sum(im["set"] == "realcards" for im in images)},
                     "image_sizes": _image_sizes(images),
                     "model_inputs": _model_inputs(shipped),
                     "baseline_threads": base_threads},
        "environment": env,
        "reference": {m: {"gflops": round(ref_costs[m].flops / 1e9, 4) if m in ref_costs else None,
                          "published_gflops": ref_gflops.get(m),
                          "host_ms": {str(t): v for t, v in reference.get(m, {}).items()}} for m in REFERENCES},
        "model_costs": {k: v.to_dict() for k, v in onnx_costs.items()},
        "configs": results, "skipped": skipped, "baselines": base_results, "budgets": budgets,
        "comparisons": comparisons, "summary": summary,
        "device_classes": {k: {"label": c.label, "kind": c.kind, "p90_ms": c.p90_ms, "size_mb": c.size_mb,
                               "ram_mb": c.ram_mb} for k, c in classes.items()},
        "elapsed_s": None,
    }
    from cardlens.benchmarks.report import write_outputs

    doc["elapsed_s"] = round(time.perf_counter() - t_start, 1)
    write_outputs(doc, out, plots=plots)
    log(f"bench: done in {doc['elapsed_s']:.0f} s → {out}/results.json, REPORT.md" + (", *.png" if plots else ""))
    return doc


def evaluate_budgets(results: list[dict], classes: dict, imported: list, reference: dict, ref_gflops: dict) -> dict:
    """Per configuration and device class: latency (estimated, or imported device measurement), size
    and RAM (measured on this host) against the class budgets."""
    out: dict = {}
    ref_ms = {m: v[1]["p50"] for m, v in reference.items() if 1 in v}
    for r in results:
        if "error" in r:
            continue
        per_class = {}
        for key, cls in classes.items():
            entry = {}
            device = [m for m in imported if m.device_class == key and m.config in (r["name"], r["name"].rsplit("-t", 1)[0])]
            if device:
                m = device[0]
                entry["latency"] = verdict(m.p90_ms, m.p90_ms, cls.p90_ms, IMPORTED).to_dict() | {"source": m.source}
            elif r["threads"] == 1 and ref_ms:
                host = HostProfile(r["stages"]["frame"]["p90"], sum(v["ms_per_frame"] for v in r["network"].values()),
                                   r.get("flops_per_frame", 0.0), r.get("bytes_per_frame", 0.0), ref_ms)
                ests = estimate_class(cls, host, ref_gflops)
                if ests:
                    comb = ests[-1]
                    entry["latency"] = verdict(comb.low_ms, comb.high_ms, cls.p90_ms, ESTIMATED).to_dict() | {
                        "methods": [e.to_dict() for e in ests]}
            size_mb = r["size_bytes"] / 1e6
            entry["size"] = verdict(size_mb, size_mb, cls.size_mb, MEASURED).to_dict()
            ram = r["rss_steady_mb"]
            entry["ram"] = verdict(ram, ram, cls.ram_mb, MEASURED).to_dict()
            statuses = [v["status"] for v in entry.values()]
            entry["overall"] = ("fail" if "fail" in statuses else "uncertain" if "uncertain" in statuses
                                or "latency" not in entry else "pass")
            per_class[key] = entry
        out[r["name"]] = per_class
    return out


def compare_baselines(results: list[dict], base_results: list[dict], threads: int) -> list[dict]:
    """Side-by-side ratios against our ONNX fp32 pipeline at the baselines' thread count."""
    ours = next((r for r in results if "error" not in r and r["runtime"] == "onnx" and r["precision"] == "fp32"
                 and r["threads"] == threads), None)
    if ours is None:
        return []
    rows = []
    for b in base_results:
        if "error" in b or "skipped" in b:
            continue
        ours_pan, b_pan = ours["accuracy"]["pan_exact"], b["accuracy"]["pan_exact"]
        ours_num, b_num = ours["accuracy"]["number_exact"], b["accuracy"]["number_exact"]
        rows.append({
            "baseline": b["name"], "ours": ours["name"],
            "faster_x": _ratio(b["stages"]["frame"]["p50"], ours["stages"]["frame"]["p50"]),
            "smaller_x": _ratio(b["size_bytes"], ours["size_bytes"]),
            "pan_exact_points": None if ours_pan is None or b_pan is None else round(100 * (ours_pan - b_pan), 1),
            "number_exact_points": None if ours_num is None or b_num is None else round(100 * (ours_num - b_num), 1),
            "false_accepts": {"ours": ours["accuracy"]["false_accepts"], "baseline": b["accuracy"]["false_accepts"]},
        })
    return rows
