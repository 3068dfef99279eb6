"""Finish and install the OCR models: measured figures + model card, then copy into cardlens/models.

``python -m cardlens.ocr.package fields RUN --data FIELDS_VAL/data.yaml --stage ... [--install]``
``python -m cardlens.ocr.package recognizer RUN --data LINES_DIR [--install]``
"""

from __future__ import annotations

import argparse
import json
import shutil
from datetime import date
from pathlib import Path

from cardlens.detector.modelcard import git_commit
from cardlens.modelspec import ModelSpec, sha256_of

MODELS = Path(__file__).resolve().parent.parent / "models"
TARGET = {"fields": MODELS / "field-locator", "recognizer": MODELS / "text-recognizer"}
SHIPPED = ("model.onnx", "model.pt", "spec.json", "MODEL_CARD.md", "model_card.json")


def fields_metrics(run: Path, data_yaml: str) -> dict:
    from cardlens.offline import import_ultralytics

    import_ultralytics()
    from ultralytics import YOLO

    spec = ModelSpec.load(run / "spec.json")
    m = YOLO(str(run / "model.pt")).val(data=str(data_yaml), imgsz=spec.input_size[0], split="val", batch=16,
                                         plots=False, device="cpu", workers=0, verbose=False)
    per_class = {spec.labels[int(c)]: {"map50": round(float(m.box.ap50[i]), 4), "map50_95": round(float(m.box.ap[i]), 4)}
                 for i, c in enumerate(m.box.ap_class_index)}
    return {"box_map50": round(float(m.box.map50), 4), "box_map50_95": round(float(m.box.map), 4),
            "precision": round(float(m.box.mp), 4), "recall": round(float(m.box.mr), 4), "per_class": per_class}


def recognizer_metrics(run: Path, lines_dir: str) -> dict:
    import cv2

    from cardlens.ocr.charset import EXPIRY_CHARS, NAME_CHARS, NUMBER_CHARS, allowed_classes
    from cardlens.ocr.ctc import greedy
    from cardlens.ocr.recognizer import TextRecognizer

    rec = TextRecognizer.load(run, runtime="onnx")
    alphabet = {"number": NUMBER_CHARS, "number_group": NUMBER_CHARS, "expiry": EXPIRY_CHARS, "name": NAME_CHARS}
    right, total = {}, {}
    for line in Path(lines_dir, "manifest.jsonl").open():
        row = json.loads(line)
        if row["split"] != "val":
            continue
        img = cv2.imread(str(Path(lines_dir) / row["image"]))
        got = greedy(rec.probabilities(img), allowed_classes(alphabet[row["kind"]])).text
        total[row["kind"]] = total.get(row["kind"], 0) + 1
        right[row["kind"]] = right.get(row["kind"], 0) + (got.strip() == row["text"])
    out = {f"exact_{k}": round(right[k] / total[k], 4) for k in sorted(total)}
    out["lines"] = sum(total.values())
    return out


def write_card(run: Path, kind: str, info: dict) -> None:
    (run / "model_card.json").write_text(json.dumps(info, indent=2) + "\n")
    title = {"fields": "field locator", "recognizer": "card text recognizer"}[kind]
    lines = [f"# {info['name']} — {title}", "", info["what"], "", "## How it was made", ""]
    lines += [f"- {s}" for s in info["stages"]]
    lines += [f"- Packaged at commit `{info['code_commit']}`.", f"- Size: {info['params']:,} parameters.", "",
              "| file | size | sha256 |", "|---|---|---|"]
    lines += [f"| `{f}` | {size / 1e6:.2f} MB | `{sha}` |" for f, size, sha in info["files"]]
    lines += ["", "## Measured", "", "```", json.dumps(info["metrics"], indent=2), "```"]
    if info.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {n}" for n in info["notes"]]
    lines += ["", f"_Written {date.today().isoformat()}._", ""]
    (run / "MODEL_CARD.md").write_text("\n".join(lines))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cardlens.ocr.package")
    ap.add_argument("kind", choices=sorted(TARGET))
    ap.add_argument("run")
    ap.add_argument("--data", required=True, help="fields: a field set data.yaml (val); recognizer: a line set")
    ap.add_argument("--stage", action="append", default=[], help="a line describing one training stage")
    ap.add_argument("--note", action="append", default=[])
    ap.add_argument("--install", action="store_true")
    args = ap.parse_args(argv)
    run = Path(args.run)
    spec = ModelSpec.load(run / "spec.json")
    if args.kind == "fields":
        from cardlens.detector.modelcard import model_complexity

        metrics = fields_metrics(run, args.data)
        params = model_complexity(run / "model.pt", spec.input_size[0])["params"]
        what = ("YOLO26-detect layout, custom narrow scale, on the rectified upright card: boxes for the number "
                "line, each number group, the expiry date and the cardholder name. Trained from scratch on "
                "`cardlens synth fields` cards only.")
    else:
        metrics = recognizer_metrics(run, args.data)
        params = int(spec.extra.get("params", 0))
        what = ("CNN + CTC line recognizer (conv, batch-norm, ReLU, max-pool only: exports to ONNX, TFLite and "
                f"CoreML), input 1×32×512 grey, charset `{spec.charset}`. Trained from scratch on "
                "`cardlens synth lines` crops only.")
    info = {"name": spec.name, "what": what, "stages": args.stage, "code_commit": git_commit(Path.cwd()),
            "params": params, "metrics": metrics, "notes": args.note,
            "files": [(f, (run / f).stat().st_size, sha256_of(run / f)) for f in ("model.onnx", "model.pt")]}
    write_card(run, args.kind, info)
    if args.install:
        dest = TARGET[args.kind]
        dest.mkdir(parents=True, exist_ok=True)
        for f in SHIPPED:
            shutil.copyfile(run / f, dest / f)
        print(f"installed into {dest}")
    print((run / "MODEL_CARD.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
