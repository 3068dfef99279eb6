"""``cardlens eval detector|scan``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

DEFAULT_REALCARDS = "../shared/realcards-dev"


def register(subparsers) -> None:
    p = subparsers.add_parser("eval", help="evaluate models on synthetic val and realcards-dev",
                              description="Evaluate cardlens models; prints a table or JSON.")
    sub = p.add_subparsers(dest="target", metavar="TARGET", required=True)
    d = sub.add_parser("detector", help="card detector: mAP, corner error, recall, negatives")
    d.add_argument("--model", default=None, help="detector folder (default: the shipped model)")
    d.add_argument("--runtime", default="onnx", choices=["onnx", "torch"])
    d.add_argument("--data", default=None, help="synthetic detector set YAML (val split is used)")
    d.add_argument("--verifier", default="beside", metavar="DIR",
                   help="card verifier folder; 'beside' (default) takes the one beside the detector folder "
                        "if there is one, 'none' measures the detector alone")
    d.add_argument("--no-turns", action="store_true",
                   help="never look at an unsure card again in the frame turned by quarter turns")
    d.add_argument("--limit", type=int, default=None, help="at most this many synthetic val images")
    d.add_argument("--no-map", action="store_true", help="skip ultralytics' mAP computation")
    d.add_argument("--realcards", default=DEFAULT_REALCARDS, help="realcards-dev folder ('' to skip)")
    d.add_argument("--json", action="store_true")
    d.add_argument("--out", default=None, help="also write the JSON report here")
    d.set_defaults(func=run_detector)
    sc = sub.add_parser("scan", help="whole pipeline: number, PAN, expiry, name, false accepts",
                        description="Scan every image of a labelled set (labels.jsonl in realcards-dev's format, "
                                    "or 'cardlens synth scans') with one or more engines and compare.")
    sc.add_argument("--data", default=DEFAULT_REALCARDS, help="folder with labels.jsonl (default: realcards-dev)")
    sc.add_argument("--engines", default="cardlens",
                    help="comma-separated: cardlens, easyocr-fields (EasyOCR's recognizer on our field crops), "
                         "easyocr (on the rectified card), easyocr-full (whole image + Luhn regex baseline); "
                         "'' for none (with --bundle)")
    sc.add_argument("--bundle", action="append", default=[], metavar="DIR",
                    help="also scan with an exported bundle's models (cardlens export; ONNX or TFLite), "
                         "reported as the bundle's name; repeatable")
    sc.add_argument("--limit", type=int, default=None)
    sc.add_argument("--json", action="store_true")
    sc.add_argument("--out", default=None, help="write OUT.json and OUT.md")
    sc.add_argument("--no-progress", action="store_true")
    sc.add_argument("--no-whole-image", action="store_true",
                    help="never read a card-shaped image as the card itself (the detector's card only)")
    sc.add_argument("--no-cut-card", action="store_true",
                    help="never complete a card cut off by the frame's border (the detector's corners only)")
    sc.add_argument("--no-edge-extension", action="store_true",
                    help="never read a card extended past the edge its number or name runs to")
    sc.add_argument("--no-second-cut", action="store_true",
                    help="never cut and read a card again when its reading gave no accepted number or no date")
    sc.add_argument("--read-every-margin", action="store_true",
                    help="our reader reads every name and date margin, even after a sure reading (no early stop)")
    sc.set_defaults(func=run_scan)


def run_detector(args: argparse.Namespace) -> int:
    from cardlens.detector.evaluate import evaluate_realcards, evaluate_synthetic, metrics_to_dict
    from cardlens.detector.model import DEFAULT_DETECTOR, TURNS, CardDetector

    folder = Path(args.model) if args.model else DEFAULT_DETECTOR
    verifier = {"beside": True, "none": False}.get(args.verifier, args.verifier)
    det = CardDetector.load(folder, runtime=args.runtime, verifier=verifier, turns=() if args.no_turns else TURNS)
    report: dict = {"model": det.spec.name, "runtime": args.runtime, "input_size": list(det.spec.input_size),
                    "verifier": det.verifier.spec.name if det.verifier else None, "conf": det.conf,
                    "turns_degrees": [90 * k for k in det.turns]}
    if args.data:
        pt = folder / det.spec.extra.get("torch_weights", "model.pt")
        m = evaluate_synthetic(det, args.data, limit=args.limit, with_map=not args.no_map, pt_path=pt)
        report["synthetic_val"] = metrics_to_dict(m)
    if args.realcards:
        if Path(args.realcards, "labels.jsonl").is_file():
            report["realcards"] = metrics_to_dict(evaluate_realcards(det, args.realcards))
        else:
            report["realcards"] = f"skipped: {args.realcards}/labels.jsonl not found"
    text = json.dumps(report, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")
    if args.json:
        print(text)
    else:
        _print_table(report)
    return 0


def _print_table(report: dict) -> None:
    ver = f", verifier {report['verifier']}" if report.get("verifier") else ", no verifier"
    print(f"{report['model']} ({report['runtime']}, input {report['input_size']}{ver}, score ≥ {report.get('conf')})")
    syn = report.get("synthetic_val")
    if syn:
        print(f"  synthetic val: {syn['cards']} cards, {syn['negatives']} no-card scenes")
        for key in ("box_map50_95", "box_map50", "detector_box_map50_95", "detector_box_map50_95_by_confidence",
                    "detector_box_map50", "pose_map50_95", "recall_iou50", "corner_error_median",
                    "corner_error_p90", "negatives_clean"):
            if syn.get(key) is not None:
                print(f"    {key:36s} {syn[key]:.4f}")
    rc = report.get("realcards")
    if isinstance(rc, dict):
        print(f"  realcards-dev: found {rc['found_iou50']:.1%} of {rc['images_with_card']} cards, "
              f"negatives clean {rc['negatives_clean']:.1%} of {rc['negatives']}")
        for k, v in rc["by_group"].items():
            print(f"    {k:24s} {v['found']}/{v['total']}")
    elif rc:
        print(f"  realcards-dev: {rc}")


def run_scan(args: argparse.Namespace) -> int:
    from cardlens.errors import UsageError
    from cardlens.scan_eval import ENGINES, evaluate_scans, to_markdown

    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = [e for e in engines if e not in ENGINES]
    if unknown or not (engines or args.bundle):
        raise UsageError(f"unknown engine(s) {unknown}: choose from {', '.join(ENGINES)}")
    whole = not args.no_whole_image
    cut = not args.no_cut_card
    edge = not args.no_edge_extension
    reports = [evaluate_scans(args.data, e, args.limit, progress=not args.no_progress, whole_image=whole,
                              cut_card=cut, edge_extension=edge, stop_when_sure=not args.read_every_margin,
                              second_cut=not args.no_second_cut)
               for e in engines]
    if args.bundle:
        from cardlens.export.bundle import bundle_scanner

        reports += [evaluate_scans(args.data, Path(b).name, args.limit, progress=not args.no_progress,
                                   scanner=bundle_scanner(Path(b), frame_fallback=whole, complete_cut=cut,
                                                          extend_edges=edge, second_cut=not args.no_second_cut))
                    for b in args.bundle]
    md = to_markdown(reports)
    if args.out:
        Path(args.out + ".json").write_text(json.dumps(reports, indent=2) + "\n")
        Path(args.out + ".md").write_text(md)
    print(json.dumps(reports, indent=2) if args.json else md)
    return 0
