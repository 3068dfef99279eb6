"""Model card for a trained detector: how it was made and what it measured."""

from __future__ import annotations

import json
import platform
import subprocess
from datetime import date
from pathlib import Path


def model_complexity(pt_path: Path, imgsz: int) -> dict:
    from cardlens.offline import import_ultralytics

    import_ultralytics()
    from ultralytics.nn.tasks import load_checkpoint
    from ultralytics.utils.torch_utils import get_flops, get_num_params

    model, _ = load_checkpoint(str(pt_path), device="cpu", fuse=False)
    return {"params": int(get_num_params(model)), "gflops": round(float(get_flops(model, imgsz)), 3)}


def git_commit(repo: Path) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def write_model_card(folder: Path, info: dict) -> Path:
    """``MODEL_CARD.md`` + ``model_card.json`` from a dict of facts (see the keys used below)."""
    folder = Path(folder)
    (folder / "model_card.json").write_text(json.dumps(info, indent=2) + "\n")
    files = "\n".join(f"| `{name}` | {size / 1e6:.2f} MB | `{sha}` |" for name, size, sha in info["files"])
    syn = info.get("synthetic_val") or {}
    rc = info.get("realcards") or {}
    lines = [
        f"# {info['name']} — card + corner detector",
        "",
        "YOLO-pose (ultralytics YOLO26 layout, custom narrow scale), one class `card`, four corner keypoints",
        "in the card design's order (top-left of the design first, clockwise). Trained **from scratch** on",
        "synthetic scenes rendered by `cardlens synth`; never trained on real card images.",
        "",
        "## How it was made",
        "",
        *[f"- Stage {i}: data `{st['data_command']}` at commit `{st['data_commit']}` ({st['data_train']} train / {st['data_val']} val scenes, "
          f"{st['data_negatives']} without a card); training `{st['train_command']}` — {st['epochs']} epochs, "
          f"{st['train_minutes']:.0f} min on {st.get('host', info.get('train_host'))}."
          for i, st in enumerate(info["stages"], 1)],
        f"- Packaged at commit `{info['code_commit']}`.",
        f"- Input {info['imgsz']}×{info['imgsz']} RGB, letterbox pad 114, scale 1/255; raw output (1, 17, N).",
        f"- Size: {info['params']:,} parameters, {info['gflops']} GFLOPs at {info['imgsz']} px.",
        "",
        "| file | size | sha256 |",
        "|---|---|---|",
        files,
        "",
        "## Measured (`cardlens eval detector`)",
        "",
        "| figure | value | target |",
        "|---|---|---|",
    ]
    rows = [
        ("synthetic val box mAP50-95, the network's boxes", syn.get("box_map50_95"), "≥ 0.90"),
        ("synthetic val box mAP50", syn.get("box_map50"), ""),
        ("synthetic val box mAP50-95, the detector's edge-fitted boxes (ranked by box_score)",
         syn.get("detector_box_map50_95"), "≥ 0.90"),
        ("synthetic val box mAP50-95, the same boxes ranked by confidence",
         syn.get("detector_box_map50_95_by_confidence"), ""),
        ("synthetic val pose mAP50-95", syn.get("pose_map50_95"), ""),
        ("synthetic val recall (IoU ≥ 0.5)", syn.get("recall_iou50"), ""),
        ("synthetic val median corner error (× diagonal)", syn.get("corner_error_median"), "≤ 0.02"),
        ("synthetic val p90 corner error (× diagonal)", syn.get("corner_error_p90"), ""),
        ("synthetic no-card scenes without a detection", syn.get("negatives_clean"), "≥ 0.99"),
        ("realcards-dev card found (IoU ≥ 0.5)", rc.get("found_iou50"), "≥ 0.95"),
        ("realcards-dev negatives without a detection", rc.get("negatives_clean"), ""),
    ]
    lines += [f"| {name} | {value:.4f} | {target} |" if isinstance(value, float) else f"| {name} | n/a | {target} |"
              for name, value, target in rows]
    if rc.get("by_group"):
        lines += ["", "realcards-dev by group (found / total):", ""]
        lines += [f"- {k}: {v['found']}/{v['total']}" for k, v in rc["by_group"].items()]
    if info.get("latency_ms"):
        lines += ["", "Latency on this host (1 thread, ms per frame incl. pre/post-processing): "
                  + ", ".join(f"{k} {v:.1f}" for k, v in info["latency_ms"].items())]
    if info.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {note}" for note in info["notes"]]
    lines += ["", f"_Written {date.today().isoformat()} on {platform.machine()} / Python {platform.python_version()}._", ""]
    path = folder / "MODEL_CARD.md"
    path.write_text("\n".join(lines))
    return path
