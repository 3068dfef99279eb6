"""Writers: determinism (also across worker counts), layout of the three sets, CLI, no PAN in logs."""

import argparse
import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from cardlens.cardrules import luhn_valid
from cardlens.synth import render_card, render_scene, write_detector_set, write_field_set, write_line_set
from cardlens.synth.cli import register


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_arrays_and_different_seed_differs():
    a, b = render_scene(9, 4), render_scene(9, 4)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.corners, b.corners)
    assert not np.array_equal(a.image, render_scene(10, 4).image)
    assert np.array_equal(render_card(123).image, render_card(123).image)


def test_detector_set_byte_identical_for_any_worker_count(tmp_path):
    s1 = write_detector_set(tmp_path / "w1", 14, seed=5, workers=1, progress=False)
    s2 = write_detector_set(tmp_path / "w2", 14, seed=5, workers=2, progress=False)
    d1, d2 = _digest(tmp_path / "w1"), _digest(tmp_path / "w2")
    assert d1 == d2 and len(d1) == 2 * 14 + 1
    assert s1.val + s1.train == 14 and s1.negatives == 1 and s2.images_per_s > 0
    labels = sorted((tmp_path / "w1" / "labels").rglob("*.txt"))
    empty = [p for p in labels if p.read_text() == ""]
    assert len(empty) == 1  # the negative scene
    for p in labels:
        for line in p.read_text().splitlines():
            assert len(line.split()) == 17
    y = (tmp_path / "w1" / "data.yaml").read_text()
    assert "kpt_shape: [4, 3]" in y and "train: images/train" in y and "path:" not in y.split("\ntrain")[1]


def test_closeup_frames_fill_the_frame_and_leave_other_scenes_alone(tmp_path):
    """``closeups``: the card fills a frame (long side imgsz, maybe not square) with its edges maybe cut
    off; labels follow the cut; scenes not chosen for a close-up are the bytes they were without it."""
    plain = write_detector_set(tmp_path / "plain", 16, seed=3, imgsz=320, negatives=0.25, progress=False)
    write_detector_set(tmp_path / "close", 16, seed=3, imgsz=320, negatives=0.25, progress=False, closeups=0.5)
    assert "# closeups: 0.5" in (tmp_path / "close" / "data.yaml").read_text()
    a, b = _digest(tmp_path / "plain"), _digest(tmp_path / "close")
    changed = {k.split("/")[-1].split(".")[0] for k in a if k.startswith("images/") and a[k] != b[k]}
    assert len(changed) == 8 and plain.negatives == 4  # half the scenes re-framed, the rest untouched
    cut_off = 0
    for stem in changed:
        img_path = next((tmp_path / "close" / "images").rglob(f"{stem}.jpg"))
        img = cv2.imread(str(img_path))
        h, w = img.shape[:2]
        assert max(h, w) == 320
        label = Path(str(img_path).replace("/images/", "/labels/")).with_suffix(".txt").read_text().split()
        if not label:
            continue
        v = np.array(label[1:], float)
        assert v[2] * v[3] > 0.6  # the card's visible box covers most of the frame
        cut_off += int((v[4:].reshape(4, 3)[:, 2] == 0).any())
    assert cut_off >= 1


def test_closeup_frame_moves_corners_and_homography_together():
    from cardlens.synth.geometry import apply_homography, design_corners
    from cardlens.synth.writers import CLOSEUP_RENDER, closeup_frame

    s = render_scene(4, 2, int(320 * CLOSEUP_RENDER), scale_range=(0.5, 0.95), inside_share=1.0)
    c = closeup_frame(s, 4, 2, 320)
    h, w = c.image.shape[:2]
    assert max(h, w) == 320
    assert c.box[2] - c.box[0] > 0.8 * w or c.box[3] - c.box[1] > 0.8 * h
    cw, ch = s.card.size
    assert np.allclose(apply_homography(c.homography, design_corners(cw, ch)), c.corners, atol=1e-6)
    inside = [(0 <= x <= w and 0 <= y <= h) for x, y in c.corners]
    assert [v > 0 for v in c.visibility] == inside
    neg = closeup_frame(render_scene(4, 3, 480, negative=True), 4, 3, 320)
    assert neg.card is None and max(neg.image.shape[:2]) == 320


def test_field_and_line_sets_deterministic_and_consistent(tmp_path):
    write_field_set(tmp_path / "f1", 4, seed=2, workers=1, progress=False)
    write_field_set(tmp_path / "f2", 4, seed=2, workers=2, progress=False)
    assert _digest(tmp_path / "f1") == _digest(tmp_path / "f2")
    for p in (tmp_path / "f1" / "labels").rglob("*.txt"):
        classes = {int(line.split()[0]) for line in p.read_text().splitlines()}
        assert {0, 1, 2, 3} <= classes | {1}  # number, expiry, name always; groups on most
    # cards cut out of a smaller, farther photo (the pipeline's camera frames): the same cards, softer
    soft = dict(scene_size=640, card_scale=(0.35, 0.5), corner_error=0.02)
    write_field_set(tmp_path / "f3", 4, seed=2, workers=1, progress=False, **soft)
    first = sorted((tmp_path / "f1" / "images").rglob("*.jpg"))[0].relative_to(tmp_path / "f1")
    sharp_img, soft_img = (cv2.imread(str(tmp_path / f / first)) for f in ("f1", "f3"))
    assert sharp_img.shape == soft_img.shape
    sharpness = [cv2.Laplacian(cv2.cvtColor(im, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var() for im in (sharp_img, soft_img)]
    assert sharpness[1] < sharpness[0]
    assert _parse(["fields", "--out", "x", "--scene-size", "640", "--card-scale", "0.35", "0.95"]).scene_size == 640
    write_line_set(tmp_path / "l1", 4, seed=2, workers=1, progress=False)
    write_line_set(tmp_path / "l2", 4, seed=2, workers=2, progress=False)
    assert _digest(tmp_path / "l1") == _digest(tmp_path / "l2")
    rows = [json.loads(x) for x in (tmp_path / "l1" / "manifest.jsonl").read_text().splitlines()]
    assert {r["kind"] for r in rows} >= {"expiry", "name"}
    for r in rows:
        assert (tmp_path / "l1" / r["image"]).is_file()
        if r["kind"] == "number":
            assert r["digits"] == r["text"].replace(" ", "")
            assert luhn_valid(r["digits"]) == (r["luhn"] == "valid")


def _parse(argv):
    p = argparse.ArgumentParser()
    register(p.add_subparsers(dest="cmd"))
    return p.parse_args(["synth", *argv])


def test_cli_json_summary_and_no_full_pan_in_output(tmp_path, capsys):
    args = _parse(["detector", "--out", str(tmp_path / "d"), "--n", "6", "--seed", "1", "--json"])
    assert args.func(args) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert summary["kind"] == "detector" and summary["n"] == 6
    for i in range(6):
        s = render_scene(1, i)
        if s.card is not None:
            assert s.card.spec.text.pan not in captured.out + captured.err
    args = _parse(["preview", "--out", str(tmp_path / "sheet.png"), "--n", "4", "--seed", "1", "--json"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "sheet.png").stat().st_size > 10_000
    from cardlens.synth import rectified_card

    pan = rectified_card(1, 10_000).sample.card.spec.text.pan
    assert pan not in out


@pytest.mark.parametrize("bad", [["detector", "--n", "3"]])
def test_cli_requires_out(bad):
    with pytest.raises(SystemExit):
        _parse(bad)


def test_located_line_set_cuts_what_the_locator_finds_and_labels_it_with_the_printed_text(tmp_path):
    from cardlens.synth.writers import rectified_card

    args = _parse(["lines", "--out", str(tmp_path / "loc"), "--n", "6", "--seed", "4", "--crops", "located", "--json"])
    assert args.func(args) == 0
    rows = [json.loads(x) for x in (tmp_path / "loc" / "manifest.jsonl").read_text().splitlines()]
    assert {r["kind"] for r in rows} >= {"number", "expiry", "name"}
    for r in rows:
        assert r["iou"] >= 0.5 and (tmp_path / "loc" / r["image"]).is_file()
        printed = {text for kind, text, _b, _f in rectified_card(4, r["index"]).fields if kind == r["kind"]}
        assert r["text"] in printed
    # the same cards cut with jitter give other crops of the same fields
    write_line_set(tmp_path / "jit", 6, seed=4, progress=False)
    jit = [json.loads(x) for x in (tmp_path / "jit" / "manifest.jsonl").read_text().splitlines()]
    assert {r["text"] for r in rows if r["kind"] == "name"} <= {r["text"] for r in jit if r["kind"] == "name"}
    with pytest.raises(ValueError, match="crops"):
        write_line_set(tmp_path / "bad", 1, crops="exact", progress=False)


def test_reader_line_crops_are_the_crops_the_reader_reads():
    from cardlens.ocr.card_reader import EXPIRY_PADS_X, NAME_PADS_X, CardReader, reader_line_crops
    from cardlens.synth.writers import rectified_card

    reader = CardReader(threads=1)
    card = np.ascontiguousarray(rectified_card(4, 1).image[:, :, ::-1])  # BGR, as the scanner passes it
    boxes = reader.locator.locate(card)
    crops = reader_line_crops(card, boxes)
    kinds = [b.kind for b, _c in crops]
    assert kinds.count("number") <= 1 and {"number", "expiry", "name"} <= set(kinds)
    assert kinds.count("expiry") <= 3 * len(EXPIRY_PADS_X) and kinds.count("name") <= 2 * len(NAME_PADS_X)
    for _box, crop in crops:
        assert crop.ndim == 3 and min(crop.shape[:2]) >= 4
    # the name crops of the surest name box are the ones the reader recognises, one per margin: the
    # reader's name is the reading of one of them (the one whose weakest character is surest)
    top = max((b for b in boxes if b.kind == "name"), key=lambda b: b.confidence)
    name_crops = [c for b, c in crops if b is top]
    assert len(name_crops) == len(NAME_PADS_X)
    from cardlens.cardrules import normalize_name
    from cardlens.ocr.charset import NAME_CHARS, allowed_classes
    from cardlens.ocr.ctc import greedy

    reading = reader.read_card(card)
    assert reading.fields.name is not None and not reading.rotated
    got = [greedy(reader.recognizer.probabilities(c), allowed_classes(NAME_CHARS)) for c in name_crops]
    surest = max(got, key=lambda r: min(r.char_confidences, default=0.0))
    assert normalize_name(surest.text) == reading.fields.name.value


def test_scan_sets_in_scene_and_fill_framing(tmp_path):
    """``synth scans --framing fill`` cuts the same cards out to card-shaped images they fill."""
    import cv2

    from cardlens.scanner import card_shaped
    from cardlens.synth import write_scan_set

    rows = {}
    for framing in ("scene", "fill"):
        out = tmp_path / framing
        write_scan_set(out, 4, seed=5, workers=1, imgsz=320, progress=False, framing=framing)
        rows[framing] = [json.loads(line) for line in (out / "labels.jsonl").read_text().splitlines()]
        for r in rows[framing]:
            h, w = cv2.imread(str(out / r["file"])).shape[:2]
            x1, y1, x2, y2 = r["card_box"]
            assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
            assert (r["number"] is None) == (r["number_visible"] is None)
            if framing == "fill":
                assert card_shaped(w, h) and max(w, h) == 320
                assert (x2 - x1) * (y2 - y1) > 0.8 * w * h and r["image_type"] == "synthetic-fill"
            else:
                assert (w, h) == (320, 320) and r["image_type"] == "synthetic"
    for key in ("number", "expiry", "name", "side", "embossed"):
        assert [r[key] for r in rows["scene"]] == [r[key] for r in rows["fill"]]
    with pytest.raises(ValueError, match="framing"):
        write_scan_set(tmp_path / "x", 1, framing="crop", progress=False)


def test_number_visible_sees_fingers_and_the_frame_edge():
    from dataclasses import replace

    from cardlens.synth.geometry import apply_homography
    from cardlens.synth.scene import compose_scene
    from cardlens.synth.writers import number_visible

    s = next(s for i in range(20) if (s := compose_scene(3, i, 320, scale_range=(0.5, 0.7), tilt_deg=10,
                                                          inside_share=1.0, keep_masks=True, occluders=False))
             .card.fields_of("number"))
    assert s.occluder_alpha is not None and number_visible(s) is True
    x1, y1, x2, y2 = s.card.fields_of("number")[0].box
    quad = apply_homography(s.homography, np.array([[x1, y1], [x2, y2]], np.float64))
    occ = np.zeros_like(s.occluder_alpha)
    (cx, cy), r = quad.mean(axis=0).astype(int), 3
    occ[cy - r:cy + r, cx - r:cx + r] = 1.0  # a fingertip on the middle digits
    assert number_visible(replace(s, occluder_alpha=occ)) is False
    shift = np.array([[1, 0, -quad[:, 0].min() - 5], [0, 1, 0], [0, 0, 1]], np.float64)  # first digits off the frame
    assert number_visible(replace(s, homography=shift @ s.homography)) is False
