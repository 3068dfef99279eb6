"""``DIR/SUMMARY.md``: every bundle side by side — sizes, worst parity error, task accuracy."""

from __future__ import annotations

from pathlib import Path


def write_summary(out: Path, results: list, refused: list[dict], failed: list[dict] = ()) -> Path:
    lines = ["# cardlens export summary", "",
             "| bundle | total size | detector | fields | recognizer | verifier | worst parity error | accuracy |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        sizes = {m.role: m.bytes for m in r.models}
        errs = [f"{m.role} {k} {v:.3g}" for m in r.models if m.parity for k, v in m.parity["max_abs"].items()]
        acc = "; ".join(_accuracy(d, a) for d, a in r.accuracy.items()) or (
            "not run (CoreML predicts on macOS only)" if r.name.startswith("coreml") else "not requested")
        lines.append(f"| `{r.name}` | {sum(sizes.values()) / 1e6:.2f} MB | {sizes.get('detector', 0) / 1e6:.2f} MB | "
                     f"{sizes.get('fields', 0) / 1e6:.2f} MB | {sizes.get('recognizer', 0) / 1e6:.2f} MB | "
                     f"{sizes.get('verifier', 0) / 1e6:.2f} MB | "
                     f"{', '.join(errs) or 'structure only'} | {acc} |")
    if failed:
        lines += ["", "**Failed validation** (the export exited 1):", ""] + [f"- `{r['bundle']}`: {r['reason']}" for r in failed]
    if refused:
        lines += ["", "Not produced:", ""] + [f"- `{r['bundle']}`: {r['reason']}" for r in refused]
    path = Path(out) / "SUMMARY.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _accuracy(data: str, a: dict) -> str:
    delta = (a.get("delta_vs_torch_fp32") or {}).get("pan_exact")
    vs = "" if delta is None else f" ({delta * 100:+.1f} pts vs torch fp32)"
    return (f"{data} ({a.get('images')}): PAN {a.get('pan_exact')}{vs}, number exact {a.get('number_exact')}, "
            f"FA {a.get('false_accepts')}")
