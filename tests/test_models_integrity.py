"""Corrupt models (issue #9): a missing, truncated or tampered weight or bundle file fails with a
:class:`ModelError` naming the file and the sha256 it should have; a bundle from another cardlens release
or with metadata that disagrees is refused with a message that says so. Works on temporary copies; the
shipped files are never touched (their sha256 is checked before and after)."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from cardlens.cli import main
from cardlens.errors import ModelError
from cardlens.modelspec import ModelSpec, sha256_of

MODELS = Path(__file__).resolve().parents[1] / "cardlens" / "models"
FOLDERS = {"detector": "card-detector", "fields": "field-locator", "recognizer": "text-recognizer"}


def _loader(role: str):
    if role == "detector":
        from cardlens.detector.model import CardDetector

        return CardDetector.load
    if role == "fields":
        from cardlens.ocr.field_locator import FieldLocator

        return FieldLocator.load
    from cardlens.ocr.recognizer import TextRecognizer

    return TextRecognizer.load


def _shipped() -> dict:
    return {p: sha256_of(p) for p in sorted(MODELS.rglob("*")) if p.suffix in (".onnx", ".pt") or p.name == "spec.json"}


@pytest.fixture(scope="module")
def shipped_hashes():
    hashes = _shipped()
    yield hashes
    assert _shipped() == hashes, "a shipped weight or spec file changed"


@pytest.fixture
def models(tmp_path, shipped_hashes):
    """A private copy of cardlens/models."""
    copy = tmp_path / "models"
    shutil.copytree(MODELS, copy)
    return copy


def _weights(folder: Path, runtime: str) -> tuple[Path, str]:
    spec = ModelSpec.load(folder / "spec.json")
    if runtime == "torch":
        return folder / spec.extra["torch_weights"], spec.extra["torch_sha256"]
    return folder / spec.weights, spec.sha256


def _truncate(p: Path) -> None:
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _tamper(p: Path) -> None:  # same size, one byte changed in the middle
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0x5A
    p.write_bytes(bytes(data))


@pytest.mark.parametrize("runtime", ["onnx", "torch"])
@pytest.mark.parametrize("role", list(FOLDERS))
@pytest.mark.parametrize("damage", ["missing", "truncated", "tampered"])
def test_damaged_weights_name_the_file_and_expected_sha256(models, role, runtime, damage):
    folder = models / FOLDERS[role]
    path, expected = _weights(folder, runtime)
    assert len(expected) == 64
    {"missing": Path.unlink, "truncated": _truncate, "tampered": _tamper}[damage](path)
    with pytest.raises(ModelError) as err:
        _loader(role)(folder, runtime=runtime)
    message = str(err.value)
    assert str(path) in message and expected in message, message
    assert ("missing" in message) if damage == "missing" else ("truncated, corrupt or was replaced" in message)


@pytest.mark.parametrize("role", list(FOLDERS))
def test_unverified_truncated_onnx_still_fails_typed_naming_the_file(models, role):
    folder = models / FOLDERS[role]
    path, _ = _weights(folder, "onnx")
    _truncate(path)
    with pytest.raises(ModelError, match="cannot load ONNX model") as err:
        _loader(role)(folder, runtime="onnx", verify=False)
    assert str(path) in str(err.value)


def test_intact_copy_loads(models):
    for role, name in FOLDERS.items():
        assert _loader(role)(models / name).spec.task


@pytest.mark.parametrize("edit, match", [
    (lambda d: None, "missing"),                                 # spec.json removed (see below)
    (lambda d: "{ not json", "not valid JSON"),
    (lambda d: {**d, "spec_format": 2}, "format 2 is not supported"),
    (lambda d: {**d, "added_by_a_newer_cardlens": True}, "unknown keys"),
    (lambda d: {**d, "task": "line-ctc"}, "holds a 'line-ctc' model, not a card detector"),
    (lambda d: {**d, "sha256": "0" * 64}, "0" * 64),
    (lambda d: {**d, "input_size": [256, 256]}, "does not match"),  # disagrees with the spec inside the ONNX
])
def test_damaged_or_foreign_spec_is_refused(models, edit, match):
    from cardlens.detector.model import CardDetector

    folder = models / "card-detector"
    spec_path = folder / "spec.json"
    data = json.loads(spec_path.read_text())
    new = edit(data)
    if new is None:
        spec_path.unlink()
    else:
        spec_path.write_text(new if isinstance(new, str) else json.dumps(new))
    with pytest.raises(ModelError, match=match) as err:
        CardDetector.load(folder)
    assert str(folder) in str(err.value)


def test_cli_names_the_damaged_model_and_its_sha256(models, monkeypatch, capsys):
    """Through ``cardlens scan``: one line, exit 2, the file and the full sha256 (not redacted as a PAN)."""
    import cardlens.detector.model as det_model

    folder = models / "card-detector"
    path, expected = _weights(folder, "onnx")
    _tamper(path)
    monkeypatch.setattr(det_model, "DEFAULT_DETECTOR", folder)
    assert main(["scan", "examples/card_photo.jpg"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cardlens: error: model file") and str(path) in err and expected in err, err


# ---------------------------------------------------------------------------------------------- bundles


@pytest.fixture(scope="module")
def bundle_template(tmp_path_factory, shipped_hashes):
    """An onnx-fp32 bundle written by the library's own writers around the shipped fp32 ONNX files (the
    real export is exercised in test_export.py; this keeps the integrity tests torch-free and fast)."""
    from cardlens.export.bundle import BundleResult, ModelReport, write_manifest, write_report
    from cardlens.export.sources import pipeline_sources

    folder = tmp_path_factory.mktemp("bundles") / "onnx-fp32"
    reports = []
    sources = pipeline_sources()
    for source in sources:
        rdir = folder / source.role
        rdir.mkdir(parents=True)
        shutil.copyfile(source.folder / source.spec.weights, rdir / "model.onnx")
        spec = replace(source.spec, weights="model.onnx", sha256=sha256_of(rdir / "model.onnx"),
                       extra={**source.spec.extra, "format": "onnx", "precision": "fp32"})
        spec.save(rdir / "spec.json")
        reports.append(ModelReport(source.role, f"{source.role}/model.onnx", (rdir / "model.onnx").stat().st_size,
                                   spec.sha256, 0.0, None, ("copied from the shipped fp32 ONNX",)))
    result = BundleResult(folder.name, str(folder), tuple(reports))
    write_manifest(result, "onnx", "fp32", sources)
    write_report(result, "onnx", "fp32")
    return folder


@pytest.fixture
def bundle(bundle_template, tmp_path):
    copy = tmp_path / "onnx-fp32"
    shutil.copytree(bundle_template, copy)
    return copy


def _manifest(folder: Path, edit) -> None:
    path = folder / "manifest.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_intact_bundle_loads_and_reads_the_example(bundle):
    from cardlens.export.bundle import bundle_scanner
    from cardlens.synth.examples import example_scene

    scanner = bundle_scanner(bundle)
    assert scanner.locator.verifier is not None  # bundle/verifier beside bundle/detector
    result = scanner.scan("examples/card_photo.jpg")
    assert result.number is not None and result.number_accepted
    assert result.number.reveal() == example_scene().card.spec.text.pan


@pytest.mark.parametrize("role", ["detector", "fields", "recognizer", "verifier"])
@pytest.mark.parametrize("damage", ["missing", "truncated", "tampered"])
def test_damaged_bundle_file_names_it_and_its_sha256(bundle, role, damage):
    from cardlens.export.bundle import ROLES, bundle_scanner

    path = bundle / role / "model.onnx"
    expected = json.loads((bundle / "manifest.json").read_text())["files"][ROLES.index(role)]["sha256"]
    {"missing": Path.unlink, "truncated": _truncate, "tampered": _tamper}[damage](path)
    with pytest.raises(ModelError) as err:
        bundle_scanner(bundle)
    assert str(path) in str(err.value) and expected in str(err.value), str(err.value)


@pytest.mark.parametrize("version, refused", [
    ("0.2.0", True), ("1.1.0", True), ("0.0.9", True), (None, True), (7, True), ("", True),
    ("0.1.0", False), ("0.1.99", False),
])
def test_bundle_from_another_release_is_refused(bundle, version, refused):
    from cardlens import __version__
    from cardlens.export.bundle import bundle_scanner

    _manifest(bundle, lambda m: m.update(cardlens_version=version))
    if not refused:
        assert bundle_scanner(bundle).engine
        return
    with pytest.raises(ModelError) as err:
        bundle_scanner(bundle)
    message = str(err.value)
    assert f"exported by cardlens {version}" in message and __version__ in message and "re-export" in message


@pytest.mark.parametrize("edit, match", [
    (lambda m: m.update(format="tflite"), "format is 'onnx', the bundle's 'tflite'"),
    (lambda m: m.update(precision="int8"), "precision is 'fp32', the bundle's 'int8'"),
    (lambda m: m["files"][0].update(sha256="ab" * 32), "manifest expects detector/model.onnx with sha256 " + "ab" * 32),
    (lambda m: m["files"].pop(), "lists models"),
    (lambda m: m["specs"]["fields"]["thresholds"].update(conf=0.01), "spec differs from the one in the manifest"),
])
def test_bundle_metadata_that_disagrees_is_refused(bundle, edit, match):
    from cardlens.export.bundle import bundle_scanner

    _manifest(bundle, edit)
    with pytest.raises(ModelError, match=match) as err:
        bundle_scanner(bundle)
    assert "re-export" in str(err.value)


def test_bundle_spec_edited_beside_its_file_is_refused(bundle):
    """Someone swaps in other weights and rewrites spec.json to match: the manifest still disagrees."""
    from cardlens.export.bundle import bundle_scanner

    det = bundle / "detector"
    _tamper(det / "model.onnx")
    spec = ModelSpec.load(det / "spec.json")
    replace(spec, sha256=sha256_of(det / "model.onnx")).save(det / "spec.json")
    with pytest.raises(ModelError, match="does not match .*manifest.json"):
        bundle_scanner(bundle)


@pytest.mark.parametrize("make", ["no-manifest", "bad-json", "list", "empty-folder", "not-a-folder"])
def test_not_a_bundle_is_refused_clearly(bundle, tmp_path, make):
    from cardlens.export.bundle import bundle_scanner

    target = bundle
    if make == "no-manifest":
        (bundle / "manifest.json").unlink()
    elif make == "bad-json":
        (bundle / "manifest.json").write_text("{")
    elif make == "list":
        (bundle / "manifest.json").write_text("[]")
    elif make == "empty-folder":
        target = tmp_path / "empty"
        target.mkdir()
    else:
        target = tmp_path / "nothing-here"
    with pytest.raises(ModelError, match="bundle") as err:
        bundle_scanner(target)
    assert str(target) in str(err.value)


def test_scan_and_demo_cli_refuse_a_foreign_bundle_in_one_line(bundle, capsys):
    _manifest(bundle, lambda m: m.update(cardlens_version="9.0.0"))
    assert main(["scan", "--bundle", str(bundle), "examples/card_photo.jpg"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "exported by cardlens 9.0.0" in err
    assert main(["demo", "examples", "--headless", "--out", str(bundle.parent / "o"), "--bundle", str(bundle),
                 "--backend", f"bundle:{bundle.name}"]) == 1
    assert "exported by cardlens 9.0.0" in capsys.readouterr().err


SHIPPED_BUNDLE = Path(__file__).resolve().parent.parent / "cardlens" / "models" / "bundles" / "onnx-int8"


def test_shipped_bundle_was_built_from_the_committed_weights():
    """`make scan` runs the shipped bundle: it must be the export of the weights in cardlens/models
    (retraining a model without `make shipped-bundle` fails here)."""
    from cardlens.export.bundle import check_bundle
    from cardlens.export.sources import pipeline_sources

    manifest = check_bundle(SHIPPED_BUNDLE)
    assert manifest["format"] == "onnx" and manifest["precision"] == "int8"
    for source in pipeline_sources():
        spec = ModelSpec.load(SHIPPED_BUNDLE / source.role / "spec.json")
        assert spec.extra["source_onnx_sha256"] == source.spec.sha256 == sha256_of(source.folder / source.spec.weights)
        assert sha256_of(SHIPPED_BUNDLE / source.role / spec.weights) == spec.sha256


def test_make_scan_reads_the_example_through_the_shipped_bundle_without_torch():
    import subprocess
    import sys

    code = ("import sys; from cardlens.cli import main; rc = main(['scan', '--json', '--bundle', sys.argv[1], "
            "sys.argv[2]]); bad = [m for m in ('torch', 'ultralytics') if m in sys.modules]; "
            "sys.exit(9 if bad else rc)")
    example = Path(__file__).resolve().parent.parent / "examples" / "card_photo.jpg"
    done = subprocess.run([sys.executable, "-c", code, str(SHIPPED_BUNDLE), str(example)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["card_found"] and result["number_accepted"] and result["number"]["masked"] is True
    assert result["number"]["value"] == "442620******8884"  # the example card, masked


def test_shipped_int8_bundle_fits_the_size_budget():
    """#6: the whole int8 pipeline (detector + card verifier + field locator + recognizer) in at most 1.5 MB."""
    manifest = json.loads((SHIPPED_BUNDLE / "manifest.json").read_text())
    sizes = [(SHIPPED_BUNDLE / f["file"]).stat().st_size for f in manifest["files"]]
    assert [f["role"] for f in manifest["files"]] == ["detector", "fields", "recognizer", "verifier"]
    assert sum(sizes) <= 1_500_000, sizes
