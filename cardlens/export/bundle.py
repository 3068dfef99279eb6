"""One bundle per target: ``DIR/<format>-<precision>/`` with every model of the pipeline, each
validated against the torch reference, plus ``manifest.json`` and ``REPORT.md``.

Layout::

    onnx-int8/
      detector/model.onnx   detector/spec.json
      fields/model.onnx     fields/spec.json
      recognizer/model.onnx recognizer/spec.json
      verifier/model.onnx   verifier/spec.json
      manifest.json  REPORT.md

Each ``spec.json`` names its artifact and that artifact's sha256 (checked at load); the same spec,
without the self-referential sha256, is written *inside* the artifact and read back here (a spec
that does not round-trip is an error).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from cardlens._version import __version__
from cardlens.detector.model import TURN_BELOW, TURNS, ZOOM_CONTEXT
from cardlens.detector.verifier import CROP_MARGIN, CROP_SIZE, INPUT_SIZE
from cardlens.export import calibration as calib
from cardlens.export.sources import Source, pipeline_sources, torch_module
from cardlens.export.validate import ExportValidationError, ShapeMismatchError, compare
from cardlens.geometry import CARD_MARGIN, CUT_ASPECT_TOLERANCE, CUT_BORDER_SHARE, CUT_CONTRAST_SHARE
from cardlens.modelspec import sha256_of
from cardlens.ocr.card_reader import (
    DATE_SURE_SHARE,
    EDGE_TOUCH,
    EXPIRY_PADS_X,
    NAME_PADS_X,
    NAME_SURE_CHAR_CONFIDENCE,
    NUMBER_PADS_X,
    PRINTED_MIN_CHAR,
    PRINTED_MIN_SHARE,
)
from cardlens.scanner import EDGE_EXTENSION, FRAME_ASPECT_TOLERANCE, GROWN_CARD_SLACK

CONTRACT = {
    "detector": {
        "input": "RGB, letterbox to the spec's input size keeping aspect (pad value 114, centred), x/255, NCHW float32",
        "output": "raw (1, 17, N): cx, cy, w, h in input px, card score (sigmoid), 4 corners × (x, y, visibility)",
        "post": "score ≥ thresholds.conf, or thresholds.conf_verified with the card verifier (every bundle "
                "carries one), greedy NMS at thresholds.iou, undo the letterbox; corners in the card "
                "design's order (top-left of the design first, clockwise); the card verifier (below) keeps or "
                "drops each detection; each kept card is looked at again in a square cut of the frame "
                f"{ZOOM_CONTEXT:g} × its box's longer side around it (not when the cut would hold the whole "
                "frame), the box over it (IoU ≥ 0.5) giving its corners and box (cardlens.detector.model."
                "CardDetector.zoomed); when the surest kept card scores under "
                f"{TURN_BELOW:g}, the frame turned by {', '.join(str(90 * k) for k in TURNS)}° clockwise is "
                "looked at the same way (network, verifier, zoomed look), its cards mapped back and pooled with the first "
                "look's, greedy NMS at thresholds.iou keeping the most confident (CardDetector.turned); "
                "optional edge-fit refinement (cardlens.detector.refine)",
        "warp": f"the 4 corners grown by {CARD_MARGIN * 100:g} % of the card's width and height on every side in the card's plane "
                "(cardlens.geometry.grow_quad), then a perspective warp to 856×540 (landscape) or 540×856 "
                "(portrait, first edge shorter)",
        "whole_image": f"a still image whose long/short side ratio is within {FRAME_ASPECT_TOLERANCE * 100:g} % of "
                       "1.586 (landscape or portrait) is also read as the card itself (its 4 corners, same margin "
                       "and warp) when the detector's card gives no accepted number or no card was detected; that "
                       "reading wins when its number holds ≥ 0.5 of the beam and it scores higher as a card "
                       "(number: 1 + its share, on a card read turned by 180° only from a share of 0.3; + 0.5 with an expiry; "
                       "+ 0.25 with a name; + 0.25 read unturned: "
                       "cardlens.scanner.frame_wins)",
        "cut_card": f"a detected card whose side ratio is off 1.586 by more than {CUT_ASPECT_TOLERANCE * 100:g} % is "
                    "taken as cut off by the frame when one edge has both corners within "
                    f"{CUT_BORDER_SHARE * 100:g} % of the image's shorter side from its border and a median grey "
                    f"difference across it under {CUT_CONTRAST_SHARE:g} × the opposite edge's (no card edge under "
                    "it); the two sides meeting it are lengthened by one factor to the nearest ID-1 proportion, "
                    "only when a moved corner lands outside the image and neither stays inside the border band. "
                    "That card is read too (same margin and warp); its reading is kept unless it scores lower as a "
                    f"card by more than {GROWN_CARD_SLACK:g} (cardlens.geometry.complete_cut_quad, "
                    "cardlens.scanner.grown_card_loses)",
        "edge_extension": f"when a number, digit-group or name box comes within {EDGE_TOUCH * 100:g} % of the card's "
                          "width of the rectified card's left or right edge (sides swapped on a card read turned by "
                          f"180°), the card is read again with that side moved out by {EDGE_EXTENSION * 100:g} % of "
                          "its width in the card's plane (then the same margin and warp); that reading is kept "
                          f"unless it scores lower as a card by more than {GROWN_CARD_SLACK:g} "
                          "(cardlens.ocr.card_reader.text_at_edges, cardlens.scanner.grown_card_loses)",
    },
    "verifier": {
        "input": "per detection, the network's own corners (before the zoomed look and the refinement): its 4 "
                 "corners, turned by one place when the first edge is the shorter (portrait) so the long side runs across, grown by "
                 f"{CROP_MARGIN * 100:g} % of the card's width and height on every side in the card's plane "
                 "(cardlens.geometry.grow_quad), perspective warp to "
                 f"{CROP_SIZE[1]}×{CROP_SIZE[0]} (INTER_AREA, black outside the frame), the centre "
                 f"{INPUT_SIZE[1]}×{INPUT_SIZE[0]}, RGB, x/255, NCHW float32, one crop per call "
                 "(cardlens.detector.verifier.verifier_crop, centre, verifier_input)",
        "output": "(1, 1) logit that the crop is a payment card",
        "post": "sigmoid(logit) ≥ thresholds.keep keeps the detection (its card_score), below it is dropped; with "
                "the verifier the detector's score threshold is its thresholds.conf_verified",
    },
    "fields": {
        "input": "the rectified card, same letterbox as the detector",
        "output": "raw (1, 8, N): cx, cy, w, h in input px, 4 class scores (number, number_group, expiry, name)",
        "post": "score ≥ thresholds.conf, NMS per class; crop each field with margins 0.3 × box height left/right "
                f"(a number not accepted is read again at {NUMBER_PADS_X[1]:g}, and an accepted reading there is taken; "
                "failing that, the crops at both margins read together are taken when accepted: every crop's beam "
                "readings are candidates, each scored by the product over the crops of its CTC probability (the "
                "forward algorithm), its share among them its confidence, cardlens.ocr.ctc.combined_beams; "
                f"the expiry is read at {', '.join(f'{p:g}' for p in EXPIRY_PADS_X)} and the date holding the largest share "
                f"of its beams kept, no later margin read once a date holds ≥ {DATE_SURE_SHARE:g} of them; when none "
                "does, the crops read together (combined_beams) give the date when their most probable reading is "
                "one; the name at "
                f"{', '.join(f'{p:g}' for p in NAME_PADS_X)} in that order and the reading whose weakest character is "
                f"surest kept, no later margin read once every character is ≥ {NAME_SURE_CHAR_CONFIDENCE:g}) "
                "and 0.15 × box height above/below; when the number line's digit groups show the card still "
                "turned (least-squares slope of the group centres, 0.008–0.35 rad), crop every line along that "
                "slope and level (the number line's box, grown over its groups, narrowed to the text band: "
                "cardlens.ocr.line_crop)",
    },
    "recognizer": {
        "input": "line crop → grey, resize to height 32 keeping aspect (width ≤ 512), right-pad with the crop's "
                 "median grey to 512, x/255, (1, 1, 32, 512) float32",
        "output": "CTC logits (1, 128, 42): class 0 blank, class i = charset[i-1]",
        "post": "softmax; number lines: CTC prefix beam search (beam 16) over digits and space; the top reading is "
                "the number as read; it is accepted only if it passes Luhn, matches a brand's length and prefix, "
                "holds ≥ 0.9 of the beam's probability and no character is below 0.5 (or ≥ 0.5 of it when its "
                "digit groups, read apart, give the same digits), and never when it is under 16 digits and its boxes "
                "touch the card's left or right edge (1 % of its width) or a stacked number's box holds more rows than were "
                "read — never replaced by a different valid reading; expiry: the most probable reading that parses as MM/YY with month "
                "01–12; with none, a box whose crops read together give exactly MM/YY that is no date (a specimen's "
                f"88/88) holding ≥ {PRINTED_MIN_SHARE:g} of the beams, no character below {PRINTED_MIN_CHAR:g}, is "
                "returned as printed_expiry (flagged, never as the expiry); name: greedy over A–Z space ' - . /",
    },
}


@dataclass(frozen=True)
class ModelReport:
    role: str
    file: str
    bytes: int
    sha256: str
    seconds: float
    parity: dict | None          # None where the runtime cannot run on this host (CoreML off macOS)
    checks: tuple[str, ...]


@dataclass(frozen=True)
class BundleResult:
    name: str
    folder: str
    models: tuple[ModelReport, ...]
    accuracy: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def sha256_tree(path: Path) -> str:
    """sha256 of a file, or of a directory's files (relative names and contents, in sorted order)."""
    path = Path(path)
    if path.is_file():
        return sha256_of(path)
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(path)).encode())
        h.update(bytes.fromhex(sha256_of(f)))
    return h.hexdigest()


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _reference_outputs(source: Source, inputs: list[np.ndarray]) -> list[np.ndarray]:
    import torch

    module = torch_module(source)
    with torch.no_grad():
        return [module(torch.from_numpy(x)).numpy() for x in inputs]


def export_model(module, fmt: str, precision: str, source: Source, folder: Path, inputs: dict) -> ModelReport:
    t0 = time.perf_counter()
    rdir = folder / source.role
    rdir.mkdir(parents=True, exist_ok=True)
    path = rdir / ("model" + module.SUFFIX)
    module.export(source, precision, path, inputs["calibration"])
    inner = replace(source.spec, weights=path.name, sha256="",
                    extra={**source.spec.extra, "format": fmt, "precision": precision,
                           "source_onnx": source.spec.weights, "source_onnx_sha256": source.spec.sha256})
    module.embed_spec(path, inner)
    checks = []
    if module.read_spec(path) != inner:
        raise ExportValidationError(f"{path}: the spec read back from the artifact differs from the one written")
    checks.append("spec round-trips through the artifact's metadata")
    run, names = module.runner(path)
    expected = source.spec.output_names
    if fmt == "tflite":  # LiteRT names outputs after its graph; cardlens reads them by position
        expected = names if len(names) == len(expected) else expected
    parity = None
    if run is not None:
        pairs = [(ref, run(x)) for ref, x in zip(inputs["reference"], inputs["validation"], strict=True)]
        parity = compare(source.role, precision, expected, names, pairs, str(path),
                         source.spec.thresholds, tuple(source.spec.labels or ())).to_dict()
        checks.append(f"numeric parity with torch on {len(pairs)} synthetic inputs")
    else:
        from cardlens.export.coreml_format import interface, op_types

        ins, outs = interface(path)
        shape = tuple(inputs["validation"][0].shape)
        if list(outs) != list(source.spec.output_names):
            from cardlens.export.validate import OutputNameError

            raise OutputNameError(f"{path}: outputs {list(outs)}, expected {list(source.spec.output_names)}")
        if ins.get(source.spec.input_name) != shape:
            raise ShapeMismatchError(f"{path}: input {ins}, expected {source.spec.input_name} {shape}")
        checks.append("input/output names and input shape checked (CoreML cannot predict off macOS: "
                      "numeric parity not measured here; tests/test_export.py runs it on macOS)")
        checks.append("the compacted program proven equal to coremltools' conversion, op by op, every "
                      "constant dequantized and compared exactly")
        checks.append("ops: " + " ".join(op_types(path)))
    sha = sha256_tree(path)
    replace(inner, sha256=sha).save(rdir / "spec.json")
    return ModelReport(source.role, str(path.relative_to(folder)), _size(path), sha,
                       round(time.perf_counter() - t0, 2), parity, tuple(checks))


def write_manifest(result: BundleResult, fmt: str, precision: str, sources: list[Source]) -> Path:
    folder = Path(result.folder)
    specs = {m.role: json.loads((folder / m.role / "spec.json").read_text()) for m in result.models}
    manifest = {
        "bundle": result.name, "format": fmt, "precision": precision, "cardlens_version": __version__,
        "files": [{"role": m.role, "file": m.file, "bytes": m.bytes, "sha256": m.sha256} for m in result.models],
        "specs": specs,
        "source_weights": {s.role: {"onnx_sha256": s.spec.sha256, "torch_sha256": s.spec.extra.get("torch_sha256")}
                           for s in sources},
        "contract": CONTRACT,
        "validation": {m.role: {"parity": m.parity, "checks": list(m.checks)} for m in result.models},
        "accuracy": result.accuracy,
    }
    path = folder / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return path


def write_report(result: BundleResult, fmt: str, precision: str) -> Path:
    folder = Path(result.folder)
    lines = [f"# cardlens bundle `{result.name}`", "",
             f"Format {fmt}, precision {precision}, cardlens {__version__}. Every model was validated against "
             "the torch reference (see `manifest.json` for specs, checks and the post-processing contract).", "",
             "| model | file | size | max abs error (tolerance) | checks |", "|---|---|---|---|---|"]
    for m in result.models:
        if m.parity:
            tol = m.parity["tolerance"]
            err = ", ".join(f"{k} {v:.3g} ({tol[k]:g})" if k in tol else f"{k} {v:.3g} (reported, not gated)"
                            for k, v in m.parity["max_abs"].items())
        else:
            err = "not measured on this host"
        lines.append(f"| {m.role} | `{m.file}` | {m.bytes / 1e6:.2f} MB | {err} | {'; '.join(m.checks)} |")
    lines += ["", "`coords`/`scores`: raw outputs on every anchor the reference scores ≥ 0.05; `kept_*`: the detections "
              "left after the shared threshold + NMS, matched to the reference's; `flipped`: detections that "
              "appear or vanish (verifier: decisions that change side of thresholds.keep) although the reference "
              "score is 0.1 or more from the threshold; `probs`: recognizer character probabilities; "
              "`lines_changed`: share of lines whose best-path reading differs; `logit`, `card_prob`: the card "
              "verifier's logit and probability. int8 is gated on the kept detections (see "
              "`cardlens/export/validate.py`)."]
    if result.accuracy:
        lines += ["", "## Task accuracy of this bundle (whole pipeline through the exported models)", ""]
        lines += ["| data | " + " | ".join(ACCURACY_KEYS) + " | delta vs torch fp32 |",
                  "|---|" + "---|" * (len(ACCURACY_KEYS) + 1)]
        for data, figures in result.accuracy.items():
            delta = ", ".join(f"{k} {v:+g}" for k, v in figures.get("delta_vs_torch_fp32", {}).items() if v is not None)
            lines.append(f"| {data} | " + " | ".join(str(figures.get(k)) for k in ACCURACY_KEYS) + f" | {delta} |")
    path = folder / "REPORT.md"
    path.write_text("\n".join(lines) + "\n")
    return path


ROLES = ("detector", "fields", "recognizer", "verifier")


def same_release(version: object, current: str = __version__) -> bool:
    """Bundles load in the cardlens release that exported them: same major.minor (patch releases keep the
    pre/post-processing contract; anything else may change it)."""
    return isinstance(version, str) and version.split(".")[:2] == current.split(".")[:2]


def check_bundle(folder: Path) -> dict:
    """The bundle's manifest, after refusing (:class:`ModelError`) a folder that is not a bundle, one made by
    another cardlens release, or one whose manifest, specs and files disagree. Each model file's own sha256
    is checked when it loads (the error names the file and the sha256 expected)."""
    from cardlens.errors import ModelError
    from cardlens.modelspec import ModelSpec

    folder = Path(folder)
    path = folder / "manifest.json"
    if not path.is_file():
        raise ModelError(f"{folder} is not a cardlens bundle: {path} is missing (make bundles with 'cardlens export')")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelError(f"{path} is not valid JSON ({exc}); re-export the bundle") from None
    if not isinstance(manifest, dict):
        raise ModelError(f"{path} is not a cardlens bundle manifest; re-export the bundle")
    made_by = manifest.get("cardlens_version")
    if not same_release(made_by):
        raise ModelError(f"{folder} was exported by cardlens {made_by}; this is cardlens {__version__} and bundles "
                         "only load in the release (major.minor) that made them: re-export it with 'cardlens export'")
    files = {f.get("role"): f for f in manifest.get("files") or [] if isinstance(f, dict)}
    specs = manifest.get("specs") if isinstance(manifest.get("specs"), dict) else {}
    if sorted(files) != sorted(ROLES) or sorted(specs) != sorted(ROLES):
        raise ModelError(f"{path} lists models {sorted(map(str, files))}, expected {list(ROLES)}; re-export the bundle")
    for role in ROLES:
        spec_path = folder / role / "spec.json"
        spec = ModelSpec.load(spec_path)
        entry = files[role]
        problems = []
        if specs[role] != json.loads(spec_path.read_text()):
            problems.append("its spec differs from the one in the manifest")
        if entry.get("file") != f"{role}/{spec.weights}" or entry.get("sha256") != spec.sha256:
            problems.append(f"the manifest expects {entry.get('file')} with sha256 {entry.get('sha256')}, "
                            f"the spec {role}/{spec.weights} with sha256 {spec.sha256}")
        for key in ("format", "precision"):
            if spec.extra.get(key) != manifest.get(key):
                problems.append(f"its {key} is {spec.extra.get(key)!r}, the bundle's {manifest.get(key)!r}")
        if problems:
            raise ModelError(f"{spec_path} does not match {path}: {'; '.join(problems)}. The bundle was edited or "
                             "mixed with another one: re-export it")
    return manifest


def bundle_scanner(folder: Path, check: bool = True, frame_fallback: bool = True, complete_cut: bool = True,
                   extend_edges: bool = True, second_cut: bool = True):
    """A :class:`CardScanner` running a bundle's ONNX or TFLite models (after :func:`check_bundle`;
    ``check=False`` only while the bundle is being written; ``frame_fallback``, ``complete_cut``,
    ``extend_edges`` and ``second_cut`` as in the scanner)."""
    from cardlens.detector.model import CardDetector
    from cardlens.ocr.card_reader import CardReader
    from cardlens.ocr.field_locator import FieldLocator
    from cardlens.ocr.recognizer import TextRecognizer
    from cardlens.scanner import CardScanner

    folder = Path(folder)
    if check:
        check_bundle(folder)
    reader = CardReader(FieldLocator.load(folder / "fields", runtime="auto"),
                        TextRecognizer.load(folder / "recognizer", runtime="auto"))
    # the verifier named, not looked up beside the detector: a bundle without one fails here, also unchecked
    detector = CardDetector.load(folder / "detector", runtime="auto", verifier=folder / "verifier")
    return CardScanner(locator=detector, reader=reader,
                       frame_fallback=frame_fallback, complete_cut=complete_cut,
                       extend_edges=extend_edges, second_cut=second_cut)


ACCURACY_KEYS = ("images", "card_found", "number_exact", "pan_exact", "expiry_exact", "name_exact", "false_accepts")


def reference_accuracy(datasets: dict[str, Path], cache: dict) -> dict:
    """The shipped models on torch (the reference every bundle is compared with), once per run."""
    if "torch-reference" not in cache:
        from cardlens.demo.app import make_backends
        from cardlens.scan_eval import evaluate_scans

        scanner = make_backends()["torch"]()
        cache["torch-reference"] = {name: {k: evaluate_scans(path, "torch", scanner=scanner)["overall"][k]
                                           for k in ACCURACY_KEYS} for name, path in datasets.items()}
    return cache["torch-reference"]


def export_bundle(fmt: str, precision: str, out: str | Path, datasets: dict[str, Path] | None = None,
                  n_calibration: int = 32, n_validation: int = 48, cache: dict | None = None,
                  log=print, models_dir: Path | None = None) -> BundleResult:
    from cardlens.export import FORMATS

    module = FORMATS[fmt]
    folder = Path(out) / f"{fmt}-{precision}"
    folder.mkdir(parents=True, exist_ok=True)
    sources = pipeline_sources(models_dir)
    cache = {} if cache is None else cache
    reports = []
    for source in sources:
        if source.role not in cache:
            val = calib.network_inputs(source, n_validation, calib.VALIDATION_SEED)
            cache[source.role] = {"calibration": calib.network_inputs(source, n_calibration, calib.CALIBRATION_SEED),
                                  "validation": val, "reference": _reference_outputs(source, val)}
        report = export_model(module, fmt, precision, source, folder, cache[source.role])
        log(f"  {folder.name}/{report.file}: {report.bytes / 1e6:.2f} MB, "
            + (", ".join(f"{k} err {v:.3g}" for k, v in report.parity["max_abs"].items()) if report.parity
               else "structure checked"))
        reports.append(report)
    result = BundleResult(folder.name, str(folder), tuple(reports))
    if datasets and fmt in ("onnx", "tflite"):
        from cardlens.scan_eval import evaluate_scans

        scanner = bundle_scanner(folder, check=False)  # the manifest is written below
        reference = reference_accuracy(datasets, cache)
        accuracy = {}
        for name, path in datasets.items():
            overall = evaluate_scans(path, engine=folder.name, scanner=scanner)["overall"]
            accuracy[name] = {k: overall[k] for k in ACCURACY_KEYS}
            accuracy[name]["delta_vs_torch_fp32"] = {
                k: (None if overall[k] is None or reference[name][k] is None else round(overall[k] - reference[name][k], 4))
                for k in ("card_found", "number_exact", "pan_exact", "expiry_exact", "false_accepts")}
            log(f"  accuracy on {name}: " + ", ".join(f"{k} {accuracy[name][k]}" for k in ACCURACY_KEYS))
        result = replace(result, accuracy=accuracy)
    write_manifest(result, fmt, precision, sources)
    write_report(result, fmt, precision)
    return result
