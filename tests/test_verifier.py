"""The card verifier: its crop, how the detector uses it, the shipped weights, and its training command."""

import json
from pathlib import Path

import numpy as np
import pytest

from cardlens.detector.model import DEFAULT_DETECTOR, CardDetector, verifier_beside
from cardlens.detector.verifier import (
    CROP_MARGIN,
    CROP_SIZE,
    INPUT_SIZE,
    CardVerifier,
    centre,
    verifier_crop,
    verifier_input,
    verifier_spec,
)
from cardlens.errors import ModelError
from cardlens.modelspec import ModelSpec, sha256_of

SHIPPED = DEFAULT_DETECTOR.parent / "card-verifier"


def _scene_with_card(portrait: bool = False):
    """A grey frame with a red 'card' whose top edge (design order) is blue: (image BGR, corners).
    ``portrait``: a landscape design lying on its side (its first edge, the long one, is the card's left side)."""
    img = np.full((400, 600, 3), 90, np.uint8)
    if portrait:
        x0, y0, x1, y1 = 250, 80, 376, 280          # 126 × 200: taller than wide
    else:
        x0, y0, x1, y1 = 150, 120, 467, 320         # 317 × 200
    img[y0:y1, x0:x1] = (0, 0, 220)
    corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)
    if portrait:  # its design's top edge is the left side: corners start at the bottom-left, clockwise
        img[y0:y1, x0:x0 + 8] = (220, 0, 0)
        corners = np.array([[x0, y1], [x0, y0], [x1, y0], [x1, y1]], np.float32)
    else:
        img[y0:y0 + 8, x0:x1] = (220, 0, 0)
    return img, corners


def test_portrait_design_is_turned_so_its_long_side_runs_across():
    """A portrait design (first edge the short one): its top edge comes out on the crop's left."""
    img = np.full((400, 600, 3), 90, np.uint8)
    x0, y0, x1, y1 = 250, 80, 376, 280                     # 126 × 200
    img[y0:y1, x0:x1] = (0, 0, 220)
    img[y0:y0 + 8, x0:x1] = (220, 0, 0)                    # the design's top edge, blue
    corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)
    crop = verifier_crop(img, corners)
    h, w = CROP_SIZE
    left = int(round(w * CROP_MARGIN / (1 + 2 * CROP_MARGIN))) + 1
    assert crop[h // 2, left, 0] > 150                      # blue just inside the card's left edge
    assert crop[h // 2, w // 2, 0] < 30 and crop[h // 2, w // 2, 2] > 150
    top = int(round(h * CROP_MARGIN / (1 + 2 * CROP_MARGIN))) + 1
    assert crop[top, w // 2, 0] < 30                        # and not along the top


@pytest.mark.parametrize("portrait", [False, True])
def test_crop_is_the_card_with_its_margin_long_side_across(portrait):
    img, corners = _scene_with_card(portrait)
    crop = verifier_crop(img, corners)
    assert crop.shape == (*CROP_SIZE, 3)
    h, w = CROP_SIZE
    # the card fills the middle; the margin (CROP_MARGIN of each side, grown twice) shows the background
    inner = crop[int(h * 0.3):int(h * 0.7), int(w * 0.3):int(w * 0.7)]
    assert np.abs(inner.astype(int) - (0, 0, 220)).max() < 10
    edge = int(round(w * CROP_MARGIN / (1 + 2 * CROP_MARGIN))) - 2
    assert np.abs(crop[h // 2, :edge].astype(int) - 90).max() < 10
    # the design's top edge (blue) is at the top of the crop, whichever way the card stands
    top_row = int(round(h * CROP_MARGIN / (1 + 2 * CROP_MARGIN))) + 1
    assert crop[top_row, w // 2, 0] > 150 and crop[h // 2, w // 2, 0] < 30


def test_network_input_is_rgb_nchw_in_unit_range():
    window = np.zeros((*INPUT_SIZE, 3), np.uint8)
    window[..., 2] = 255  # red in BGR
    x = verifier_input([window, window])
    assert x.shape == (2, 3, *INPUT_SIZE) and x.dtype == np.float32
    assert x[:, 0].min() == 1.0 and x[:, 1:].max() == 0.0
    assert centre(np.zeros((*CROP_SIZE, 3), np.uint8)).shape == (*INPUT_SIZE, 3)


class _FakeRun:
    """A verifier network that gives a set logit and remembers what it was shown."""

    def __init__(self, logit: float):
        self.logit = logit
        self.seen = []

    def __call__(self, x):
        assert x.shape == (1, 3, *INPUT_SIZE) and x.dtype == np.float32
        self.seen.append(x)
        return np.array([[self.logit]], np.float32)


@pytest.fixture(scope="module")
def shipped_detector():
    return CardDetector.load(verifier=False)


def test_detector_drops_what_the_verifier_refuses_and_scores_what_it_keeps(shipped_detector):
    from cardlens.synth.examples import example_scene

    img = np.ascontiguousarray(example_scene().image[:, :, ::-1])
    plain = shipped_detector.detect(img)
    assert plain and all(d.card_score is None for d in plain)
    run = _FakeRun(3.0)
    det = CardDetector(shipped_detector.spec, shipped_detector._run, "onnx", CardVerifier(verifier_spec(), run, "fake"))
    # a verifier lowers the detector's threshold to conf_verified
    assert det.conf == shipped_detector.spec.thresholds["conf_verified"] < shipped_detector.conf
    kept = det.detect(img)
    assert kept and kept[0].card_score == pytest.approx(1 / (1 + np.exp(-3.0)))
    assert "card_score" in kept[0].to_dict()
    # the network saw each box's own crop, cut at the detector network's corners (not the edge-fitted
    # ones, so the edge fitting cannot change what the verifier lets through), through the shared
    # pre-processing
    assert len(run.seen) == len(kept)
    network = det.detect(img, refine=False)
    expected = verifier_input([centre(verifier_crop(img, network[0].corners))])
    assert np.array_equal(run.seen[0], expected)  # seen in the first (edge-fitted) call
    assert not np.array_equal(network[0].corners, kept[0].corners)  # the fitting did move them
    run.logit = -3.0  # probability 0.047 < keep
    assert det.detect(img) == []
    # verify=False: the detector alone, at its own threshold (0.25), exactly as without a verifier
    alone = det.detect(img, verify=False)
    assert alone and alone[0].card_score is None
    assert [d.to_dict() for d in alone] == [d.to_dict() for d in plain]


def test_without_a_verifier_the_threshold_stays_conf(shipped_detector, tmp_path):
    assert shipped_detector.verifier is None and shipped_detector.conf == shipped_detector.spec.thresholds["conf"] == 0.25
    # a detector folder with nothing beside it loads alone
    import shutil

    shutil.copytree(DEFAULT_DETECTOR, tmp_path / "card-detector")
    alone = CardDetector.load(tmp_path / "card-detector")
    assert alone.verifier is None and alone.conf == 0.25


def test_shipped_verifier_files_match_their_spec_and_sit_beside_the_detector():
    assert verifier_beside(DEFAULT_DETECTOR) == SHIPPED
    spec = ModelSpec.load(SHIPPED / "spec.json")
    assert spec.task == "card-verify" and tuple(spec.input_size) == INPUT_SIZE
    assert sha256_of(SHIPPED / spec.weights) == spec.sha256
    assert sha256_of(SHIPPED / spec.extra["torch_weights"]) == spec.extra["torch_sha256"]
    for name in ("MODEL_CARD.md", "model_card.json"):
        assert (SHIPPED / name).is_file()
    assert CardDetector.load().verifier is not None


def test_bundle_layout_finds_its_verifier(tmp_path):
    (tmp_path / "detector").mkdir()
    assert verifier_beside(tmp_path / "detector") is None
    (tmp_path / "verifier").mkdir()
    (tmp_path / "verifier" / "spec.json").write_text("{}")
    assert verifier_beside(tmp_path / "detector") == tmp_path / "verifier"


def test_onnx_and_torch_verifiers_agree_on_real_crops():
    from cardlens.synth.scene import render_scene

    onnx = CardVerifier.load(SHIPPED, runtime="onnx")
    torch_v = CardVerifier.load(SHIPPED, runtime="torch")
    quads = []
    images = []
    for i in range(6):
        scene = render_scene(404, i, 416, negative=False)
        images.append(np.ascontiguousarray(scene.image[:, :, ::-1]))
        quads.append(np.asarray(scene.corners, np.float32))
    a = np.concatenate([onnx.probabilities(im, [q]) for im, q in zip(images, quads, strict=True)])
    b = np.concatenate([torch_v.probabilities(im, [q]) for im, q in zip(images, quads, strict=True)])
    assert np.abs(a - b).max() < 1e-4
    # cards cut at their true corners are cards to it
    assert (a >= onnx.keep).mean() >= 5 / 6


def test_shipped_verifier_removes_the_detectors_boxes_on_no_card_scenes(shipped_detector):
    """No-card scenes on which the detector alone (at the verified threshold) boxes card-sized paper."""
    from cardlens.synth.scene import render_scene

    with_verifier = CardDetector.load()
    conf = with_verifier.conf
    boxed = cleared = 0
    for i in range(40):
        scene = render_scene(9090, i, 416, negative=True)
        img = np.ascontiguousarray(scene.image[:, :, ::-1])
        if shipped_detector.detect(img, conf=conf):
            boxed += 1
            cleared += not with_verifier.detect(img)
    assert boxed >= 5, "too few false boxes in these scenes to say anything"
    assert cleared / boxed >= 0.8


def test_verifier_folder_of_another_task_is_refused(tmp_path):
    spec = ModelSpec.load(DEFAULT_DETECTOR / "spec.json")
    spec.save(tmp_path / "spec.json")
    with pytest.raises(ModelError, match="not a card verifier"):
        CardVerifier.load(tmp_path)


def test_train_verifier_command_writes_a_loadable_model(tmp_path):
    from cardlens.cli import main
    from cardlens.synth.writers import write_detector_set

    data = tmp_path / "scenes"
    write_detector_set(data, n=40, seed=5, val_fraction=0.25, imgsz=320, negatives=0.5, workers=1, progress=False)
    out = tmp_path / "ver"
    rc = main(["train", "verifier", "--scenes", str(data), "--val", str(data), "--out", str(out), "--epochs", "1",
               "--workers", "1", "--width", "4", "--json"])
    assert rc == 0
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["crops"]["train"] > 0 and summary["crops"]["train_cards"] > 0
    assert summary["config"]["command"].startswith("cardlens train verifier --scenes")
    ver = CardVerifier.load(out, runtime="onnx")
    assert ver.spec.extra["width"] == 4 and ver.spec.name == "card-verifier-w4" and ver.keep == verifier_spec().thresholds["keep"]
    img, corners = _scene_with_card()
    p_onnx = ver.probabilities(img, [corners])
    p_torch = CardVerifier.load(out, runtime="torch").probabilities(img, [corners])
    assert p_onnx.shape == (1,) and abs(float(p_onnx[0] - p_torch[0])) < 1e-4
    assert Path(out / "model.pt").is_file()
