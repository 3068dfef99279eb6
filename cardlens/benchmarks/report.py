"""Bench outputs: ``results.json``, ``REPORT.md`` (deterministic from the results), PNG plots, console table."""

from __future__ import annotations

import json
from pathlib import Path

STAGES = ("preprocess", "detector", "decode", "refine", "rectify", "fields", "recognizer_line", "decoding", "frame")


def _f(v, nd=1, suffix=""):
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{nd}f}{suffix}"
    return f"{v}{suffix}"


def _pct(v):
    return "–" if v is None else f"{100 * v:.1f} %"


def _inputs_line(settings: dict) -> str:
    parts = [f"{role} {'×'.join(map(str, v['input_hw']))} {v['color']}"
             for role, v in (settings.get("model_inputs") or {}).items() if v]
    sizes = settings.get("image_sizes") or {}
    line = ("Network inputs: " + ", ".join(parts) + ". ") if parts else ""
    if sizes:
        line += (f"Bench images from {sizes['min_wh'][0]}×{sizes['min_wh'][1]} to {sizes['max_wh'][0]}×"
                 f"{sizes['max_wh'][1]} px (median {sizes['median_pixels'] / 1e6:.2f} MP).")
    return line


def _times(ratio, better: str, worse: str) -> str:
    """``2.0× faster`` for ratio 2, ``1.7× slower`` for ratio 0.6 (ratio = theirs / ours)."""
    if not ratio:
        return "–"
    return f"{ratio:.1f}× {better}" if ratio >= 1 else f"{1 / ratio:.1f}× {worse}"


def _ok(results: dict) -> list[dict]:
    return [r for r in results["configs"] if "error" not in r]


def render_markdown(results: dict) -> str:
    env = results["environment"]
    s = results["settings"]
    isa = ", ".join(k for k, v in env["isa"].items() if v) or "none detected"
    L = [f"# cardlens bench ({results['mode']})", "",
         f"Host: {env['cpu_model']} ({env['machine']}; ISA: {isa}); {env['usable_cpus']} usable of "
         f"{env['logical_cpus']} logical CPUs; {env['os']}; Python {env['python']}; cardlens {env['cardlens']}.",
         "Runtimes: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items() if v) + ".",
         f"Images: {s['images']['synthetic']} synthetic scenes (seed {s['seed']}) + {s['images']['realcards']} "
         f"realcards-dev images; {s['runs']} runs per configuration (warm-up excluded), "
         f"threads {', '.join(map(str, s['threads']))}; elapsed {results.get('elapsed_s')} s.",
         _inputs_line(s), "",
         "Every figure is labelled: **measured (host)** on the machine above, **measured (device, imported)** "
         "from a file of on-device numbers, or **estimated (class)** with its method and a low–high range.", "",
         "## Whole frame per configuration — measured (host)", "",
         "| config | p50 ms | p90 ms | p99 ms | cv | cold start ms | size MB | RSS load / steady MB | PAN exact | number exact | false accepts |",
         "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results["configs"]:
        if "error" in r:
            L.append(f"| {r['name']} | failed: {r['error']} |||||||||| ")
            continue
        f, a = r["stages"]["frame"], r["accuracy"]
        L.append(f"| {r['name']} | {_f(f['p50'])} | {_f(f['p90'])} | {_f(f['p99'])} | {_f(f['cv'], 2)}"
                 f"{' (noisy)' if f['noisy'] else ''} | {_f(r['cold_start_ms'], 0)} | {r['size_bytes'] / 1e6:.2f} | "
                 f"{_f(r['rss_load_mb'], 0)} / {_f(r['rss_steady_mb'], 0)} | {_pct(a['pan_exact'])} (n={a['luhn_valid_labels']}) | "
                 f"{_pct(a['number_exact'])} (n={a['with_number']}) | {a['false_accepts']} |")
    for sk in results.get("skipped", []):
        L.append(f"| {sk['name']} | not run: {sk['reason']} | | | | | {sk['size_bytes'] / 1e6:.2f} | | | | |")
    L += ["", "## Per stage, p50 / p90 ms — measured (host)", "",
          "| config | " + " | ".join(STAGES) + " |", "|---|" + "---|" * len(STAGES)]
    for r in _ok(results):
        cells = []
        for st in STAGES:
            v = r["stages"].get(st)
            cells.append(f"{_f(v['p50'], 2)} / {_f(v['p90'], 2)}" if v else "–")
        L.append(f"| {r['name']} | " + " | ".join(cells) + " |")
    L += ["", "(recognizer_line is one text line; a frame reads several. decoding is CTC beam search + Luhn/brand "
          "decision for one number line.)", ""]
    mc = results.get("model_costs") or {}
    if mc:
        L += ["## Model cost (fp32 ONNX graphs)", "", "| model | GFLOP per call | weights MB | activations MB |",
              "|---|---|---|---|"]
        for k, v in mc.items():
            L.append(f"| {k} | {v['gflops']:.3f} | {v['weight_bytes'] / 1e6:.2f} | {v['activation_bytes'] / 1e6:.1f} |")
        L.append("")
    L += ["## Device-class budgets", ""]
    refs = {m: v for m, v in (results.get("reference") or {}).items() if v.get("host_ms")}
    if refs:
        L.append("Estimates are calibrated on reference networks timed on this host (ONNX Runtime, random weights) "
                 "against the published anchors in `cardlens/benchmarks/device_classes.yaml`: "
                 + "; ".join(f"{m} ({v['gflops']} GFLOP counted, {v['published_gflops']} published): "
                             + ", ".join(f"{t} thread(s) p50 {x['p50']:.2f} ms" for t, x in v["host_ms"].items())
                             for m, v in refs.items()) + ".")
        L.append("")
    classes = results.get("device_classes", {})
    L += ["| config | class | p90 budget ms | p90 ms (low–high) | latency | size MB / budget | RAM MB / budget | verdict |",
          "|---|---|---|---|---|---|---|---|"]
    for name, per_class in results.get("budgets", {}).items():
        for key, e in per_class.items():
            lat = e.get("latency")
            lat_cell = (f"{_f(lat['low'])}–{_f(lat['high'])} ({lat['label']})" if lat and lat["low"] != lat["high"]
                        else f"{_f(lat['low'])} ({lat['label']})" if lat else "not estimated")
            L.append(f"| {name} | {key} | {_f(classes.get(key, {}).get('p90_ms'), 0)} | {lat_cell} | "
                     f"{lat['status'] + ' (margin ' + _f(lat['margin']) + ')' if lat else '–'} | "
                     f"{_f(e['size']['low'], 2)} / {_f(e['size']['budget'], 0)} {e['size']['status']} | "
                     f"{_f(e['ram']['low'], 0)} / {_f(e['ram']['budget'], 0)} {e['ram']['status']} | **{e['overall']}** |")
    methods = {}
    for per_class in results.get("budgets", {}).values():
        for key, e in per_class.items():
            for m in (e.get("latency") or {}).get("methods", []):
                methods.setdefault(key, {}).setdefault(m["method"], m["detail"])
        break
    if methods:
        L += ["", "Estimate methods (first configuration):", ""]
        for key, ms in methods.items():
            for meth, detail in ms.items():
                if meth != "combined":
                    L.append(f"- {key}, {meth}: {detail}")
    L += ["", "## Baselines on the same images — measured (host)", ""]
    bases = results.get("baselines", [])
    if bases:
        L += ["| engine | p50 ms | p90 ms | cold start ms | size MB | RSS steady MB | PAN exact | number exact | false accepts |",
              "|---|---|---|---|---|---|---|---|---|"]
        for b in bases:
            if "skipped" in b or "error" in b:
                L.append(f"| {b['name']} | {'skipped: ' + b['skipped'] if 'skipped' in b else 'failed: ' + b['error']} ||||||||")
                continue
            f, a = b["stages"]["frame"], b["accuracy"]
            L.append(f"| {b['name']} ({b['threads']}t) | {_f(f['p50'], 0)} | {_f(f['p90'], 0)} | {_f(b['cold_start_ms'], 0)} | "
                     f"{b['size_bytes'] / 1e6:.1f} | {_f(b['rss_steady_mb'], 0)} | {_pct(a['pan_exact'])} | "
                     f"{_pct(a['number_exact'])} | {a['false_accepts']} |")
        L.append("")
        for c in results.get("comparisons", []):
            pts = c["pan_exact_points"]
            L.append(f"- vs **{c['baseline']}**: {c['ours']} is {_times(c['faster_x'], 'faster', 'slower')} (p50), "
                     f"{_times(c['smaller_x'], 'smaller', 'larger')}, {_f(pts, 1, ' points') if pts is not None else '– points'} "
                     f"PAN exact, {_f(c['number_exact_points'], 1, ' points')} number exact "
                     f"(false accepts {c['false_accepts']['ours']} vs {c['false_accepts']['baseline']}).")
    else:
        L.append("Baselines not run (`--no-baselines`).")
    noisy = [r["name"] for r in _ok(results) if r["stages"]["frame"]["noisy"]]
    L += ["", "## Notes", "",
          "- Noisy configurations (the p50 of repeated passes over the same images varies by more than 10 %): " + (", ".join(noisy) if noisy else "none") + ".",
          "- PAN exact counts only Luhn-valid labelled numbers read exactly and accepted; number exact counts "
          "any printed number read exactly (most realcards-dev numbers are specimens that fail Luhn).",
          "- RSS is the peak resident-set increase of the configuration's own process over its start "
          "(load: models loaded + first frame; steady: after the timed frames).",
          "- Estimates are ranges for a class, not a device measurement; import measured numbers with "
          "`--device-results FILE` to replace them."]
    return "\n".join(L) + "\n"


def _save(plt, fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_plots(results: dict, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    ok = _ok(results)
    series = [(r["name"], r["samples"]["frame"]) for r in ok]
    series += [(f"{b['name']} (baseline)", b["samples"]["frame"]) for b in results.get("baselines", [])
               if "samples" in b]
    if series:
        fig, ax = plt.subplots(figsize=(9, 0.45 * len(series) + 1.5))
        ax.boxplot([s for _, s in series], vert=False, whis=(5, 95), showfliers=True)
        ax.set_yticks(range(1, len(series) + 1), [n for n, _ in series])
        ax.set_xscale("log")
        ax.set_xlabel("ms per frame (log scale; whiskers p5–p95), measured (host)")
        ax.set_title("Whole-frame latency per configuration")
        paths.append(_save(plt, fig, out / "latency.png"))
    budgets = results.get("budgets", {})
    name = results.get("summary", {}).get("config")
    if name in budgets:
        per_class = budgets[name]
        keys = [k for k in per_class if per_class[k].get("latency")]
        if keys:
            fig, ax = plt.subplots(figsize=(8, 0.55 * len(keys) + 1.5))
            for i, k in enumerate(keys):
                lat = per_class[k]["latency"]
                color = {"pass": "tab:green", "fail": "tab:red"}.get(lat["status"], "tab:orange")
                ax.barh(i, lat["high"] - lat["low"] or 0.5, left=lat["low"], color=color, alpha=0.7)
                ax.plot([lat["budget"]] * 2, [i - 0.4, i + 0.4], color="black", lw=2)
            ax.set_yticks(range(len(keys)), keys)
            ax.set_xlabel(f"{name}: p90 ms per frame, estimated range (bar) vs budget (black line)")
            ax.set_title("Device-class latency budgets")
            paths.append(_save(plt, fig, out / "budgets.png"))
    sizes = {}
    for r in ok:
        sizes.setdefault(f"{r['runtime']}-{r['precision']}", r["size_bytes"])
    for s in results.get("skipped", []):
        sizes.setdefault(s["name"], s["size_bytes"])
    if sizes:
        fig, ax = plt.subplots(figsize=(8, 0.45 * len(sizes) + 1.5))
        names = sorted(sizes)
        ax.barh(range(len(names)), [sizes[n] / 1e6 for n in names], color="tab:blue")
        ax.set_yticks(range(len(names)), names)
        ax.set_xlabel("MB, all three models")
        ax.set_title("Model size per format and precision")
        paths.append(_save(plt, fig, out / "sizes.png"))
    return paths


def write_outputs(results: dict, out: Path, plots: bool = True) -> list[Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (("results.json", json.dumps(results, indent=1, sort_keys=True)),
                       ("REPORT.md", render_markdown(results))):
        tmp = out / (name + ".tmp")
        tmp.write_text(text)
        tmp.replace(out / name)
        written.append(out / name)
    if plots:
        written += write_plots(results, out)
    return written


def console_table(results: dict):
    """A rich table of the whole-frame results and budgets (printed by the CLI)."""
    from rich.table import Table

    t = Table(title=f"cardlens bench ({results['mode']}) — whole frame, measured (host)")
    for col in ("config", "p50 ms", "p90 ms", "cv", "size MB", "RSS MB", "PAN exact", "number exact"):
        t.add_column(col, justify="right" if col != "config" else "left")
    for r in results["configs"]:
        if "error" in r:
            t.add_row(r["name"], "failed", "", "", "", "", "", "")
            continue
        f, a = r["stages"]["frame"], r["accuracy"]
        t.add_row(r["name"], _f(f["p50"]), _f(f["p90"]), _f(f["cv"], 2) + (" !" if f["noisy"] else ""),
                  f"{r['size_bytes'] / 1e6:.2f}", _f(r["rss_steady_mb"], 0), _pct(a["pan_exact"]), _pct(a["number_exact"]))
    for b in results.get("baselines", []):
        if "stages" in b:
            f, a = b["stages"]["frame"], b["accuracy"]
            t.add_row(f"{b['name']} (baseline)", _f(f["p50"]), _f(f["p90"]), _f(f["cv"], 2),
                      f"{b['size_bytes'] / 1e6:.1f}", _f(b["rss_steady_mb"], 0), _pct(a["pan_exact"]), _pct(a["number_exact"]))
    v = Table(title=f"device-class verdicts for {results['summary'].get('config')}")
    for col in ("class", "p90 budget", "latency (low–high)", "label", "size", "RAM", "verdict"):
        v.add_column(col)
    name = results["summary"].get("config")
    for key, e in results.get("budgets", {}).get(name, {}).items():
        lat = e.get("latency")
        v.add_row(key, _f(lat["budget"], 0) if lat else "–",
                  f"{_f(lat['low'])}–{_f(lat['high'])}" if lat else "not estimated", lat["label"] if lat else "",
                  e["size"]["status"], e["ram"]["status"], e["overall"])
    return t, v
