"""Evaluation for the pipeline: every figure a set of model folders is judged by, and the flat
figures the promotion gate reads."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

Log = Callable[[str], None]


@dataclass(frozen=True)
class EvalSets:
    detector_yaml: Path | None
    fields_yaml: Path | None
    lines_dir: Path | None
    scans_dir: Path | None
    realcards: Path | None


def verifier_used(det) -> dict | None:
    """Which card verifier a loaded detector runs with, and the score threshold that gives it."""
    ver = det.verifier
    if ver is None:
        return None
    return {"name": ver.spec.name, "onnx_sha256": ver.spec.sha256, "runtime": ver.runtime, "keep": ver.keep,
            "detector_conf": det.conf}


def evaluate_models(models: Mapping[str, Path], sets: EvalSets, detector_map: bool, log: Log) -> dict:
    """Every figure the models are judged by, for one set of model folders (role → folder).

    The detector runs as production runs it: with the card verifier ``models["verifier"]`` (and so at
    its ``thresholds.conf_verified``). Without that entry it runs alone, at ``thresholds.conf``; the
    report's ``verifier`` entry says which it was."""
    from cardlens.detector.evaluate import evaluate_realcards, evaluate_synthetic, metrics_to_dict
    from cardlens.detector.model import CardDetector
    from cardlens.ocr.card_reader import CardReader
    from cardlens.ocr.field_locator import FieldLocator
    from cardlens.ocr.package import fields_metrics, recognizer_metrics
    from cardlens.ocr.recognizer import TextRecognizer
    from cardlens.scan_eval import evaluate_scans
    from cardlens.scanner import CardScanner

    ver_dir = models.get("verifier")
    # never the folder beside the detector: only the verifier named here
    det = CardDetector.load(models["detector"], runtime="onnx", verifier=Path(ver_dir) if ver_dir else False)
    used = verifier_used(det)
    report: dict = {"verifier": {**used, "folder": str(ver_dir)} if used else None, "detector": {}, "scan": {}}
    log(f"    detector {det.spec.name} with card verifier {used['name']} ({ver_dir}), score ≥ {used['detector_conf']:g}"
        if used else f"    detector {det.spec.name} alone (no card verifier given), score ≥ {det.conf:g}")
    if sets.detector_yaml:
        log("    detector on the held-out synthetic set")
        m = evaluate_synthetic(det, sets.detector_yaml, split="val", with_map=detector_map,
                               pt_path=Path(models["detector"]) / "model.pt")
        report["detector"]["synthetic"] = metrics_to_dict(m)
    if sets.realcards:
        log("    detector on realcards-dev")
        report["detector"]["realcards"] = metrics_to_dict(evaluate_realcards(det, sets.realcards))
    if sets.fields_yaml:
        log("    field locator on the held-out field set")
        report["fields"] = fields_metrics(Path(models["fields"]), str(sets.fields_yaml))
    if sets.lines_dir:
        log("    recognizer on the held-out line set")
        report["recognizer"] = recognizer_metrics(Path(models["recognizer"]), str(sets.lines_dir))
    scanner = CardScanner(locator=det, reader=CardReader(FieldLocator.load(models["fields"], runtime="onnx"),
                                                         TextRecognizer.load(models["recognizer"], runtime="onnx")))
    for name, folder in (("synthetic", sets.scans_dir), ("realcards", sets.realcards)):
        if folder:
            log(f"    whole pipeline on {'synthetic scans' if name == 'synthetic' else 'realcards-dev'}")
            r = evaluate_scans(folder, "cardlens", scanner=scanner)
            report["scan"][name] = {"overall": r["overall"], "by_group": r["by_group"]}
    return report


def gate_metrics(report: Mapping | None) -> dict | None:
    """The promotion gate's flat figures from an :func:`evaluate_models` report."""
    if not report:
        return None
    out = {}
    for ds in ("synthetic", "realcards"):
        scan = (report.get("scan") or {}).get(ds, {}).get("overall", {})
        det = (report.get("detector") or {}).get(ds) or {}
        out[f"{ds}.pan_exact"] = scan.get("pan_exact")
        out[f"{ds}.false_accept_rate"] = scan.get("false_accept_rate")
        out[f"{ds}.detector_recall"] = det.get("recall_iou50" if ds == "synthetic" else "found_iou50")
    return out


def easyocr_metrics(sets: EvalSets, log: Log) -> dict:
    from cardlens.scan_eval import evaluate_scans

    out = {}
    for name, folder in (("synthetic", sets.scans_dir), ("realcards", sets.realcards)):
        if folder:
            log(f"    EasyOCR (full image + Luhn regex) on {name}")
            overall = evaluate_scans(folder, "easyocr-full")["overall"]
            out[f"{name}.pan_exact"] = overall["pan_exact"]
            out[f"{name}.false_accept_rate"] = overall["false_accept_rate"]
    return out
