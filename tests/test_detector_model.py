"""The shipped card detector: integrity, runtime parity, accuracy on known scenes, bad input."""

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import need

from cardlens.detector.model import DEFAULT_DETECTOR, CardDetector
from cardlens.errors import ImageError, ModelError
from cardlens.modelspec import ModelSpec, sha256_of

EXAMPLE_IMAGE = Path(__file__).resolve().parents[1] / "examples" / "card_photo.jpg"


@pytest.fixture(scope="module")
def onnx_det():
    return CardDetector.load(runtime="onnx")


@pytest.fixture(scope="module")
def example():
    from cardlens.imageio import read_image
    from cardlens.synth.examples import example_scene

    scene = example_scene()
    return read_image(EXAMPLE_IMAGE), np.asarray(scene.corners, np.float32)


# Unit tests check behaviour: integrity, runtime parity, design order (a card read upside-down or
# rotated a quarter turn is off by more than half its diagonal). Precision is a figure measured by
# `cardlens eval detector` and reported in the model card (target for #4: median ≤ 2 % of the diagonal).
ORDER_TOLERANCE = 0.10


def _diag(c):
    return (np.linalg.norm(c[2] - c[0]) + np.linalg.norm(c[3] - c[1])) / 2


def test_shipped_files_match_their_spec():
    spec = ModelSpec.load(DEFAULT_DETECTOR / "spec.json")
    assert spec.task == "card-pose" and spec.keypoints == ("top_left", "top_right", "bottom_right", "bottom_left")
    assert sha256_of(DEFAULT_DETECTOR / spec.weights) == spec.sha256
    assert sha256_of(DEFAULT_DETECTOR / spec.extra["torch_weights"]) == spec.extra["torch_sha256"]
    assert 256 <= spec.input_size[0] <= 384
    for name in ("MODEL_CARD.md", "model_card.json"):
        assert (DEFAULT_DETECTOR / name).is_file()


def test_spec_inside_onnx_matches_spec_json():
    from cardlens.detector.runtime import read_onnx_spec

    spec = ModelSpec.load(DEFAULT_DETECTOR / "spec.json")
    inside = read_onnx_spec(DEFAULT_DETECTOR / spec.weights)
    assert (inside.task, inside.input_size, inside.keypoints, inside.output_format, inside.thresholds) == \
        (spec.task, spec.input_size, spec.keypoints, spec.output_format, spec.thresholds)


def test_finds_example_card_corners_in_design_order(onnx_det, example):
    img, truth = example
    dets = onnx_det.detect(img)
    assert len(dets) == 1
    err = np.linalg.norm(dets[0].corners - truth, axis=1).max() / _diag(truth)
    assert err < ORDER_TOLERANCE, f"corner error {err:.3f} of the diagonal"


def test_upside_down_card_keeps_design_order(onnx_det, example):
    img, truth = example
    h, w = img.shape[:2]
    flipped = np.ascontiguousarray(img[::-1, ::-1])
    dets = onnx_det.detect(flipped)
    assert dets
    moved = np.stack([w - 1 - truth[:, 0], h - 1 - truth[:, 1]], axis=1)  # same design corners, rotated 180°
    err = np.linalg.norm(dets[0].corners - moved, axis=1).max() / _diag(truth)
    assert err < ORDER_TOLERANCE, f"corner error {err:.3f}: the detector did not follow the design's orientation"


def test_onnx_and_torch_agree(onnx_det, example):
    need("ultralytics")
    torch_det = CardDetector.load(runtime="torch")
    a, b = onnx_det.detect(example[0]), torch_det.detect(example[0])
    assert len(a) == len(b) >= 1
    np.testing.assert_allclose(a[0].corners, b[0].corners, atol=0.5)
    assert abs(a[0].confidence - b[0].confidence) < 1e-3


def test_no_card_scenes_give_no_detection(onnx_det):
    from cardlens.synth.scene import render_scene

    hits = sum(bool(onnx_det.detect(render_scene(4242, i, 640, negative=True).image, color="rgb"))
               for i in range(12))
    assert hits <= 2


def test_rectify_gives_upright_canonical_card(onnx_det, example):
    img, _ = example
    det = onnx_det.detect(img)[0]
    card = onnx_det.rectify(img, det)
    assert card.shape[:2] == (540, 856)
    # the same design as the card cut at its true corners, and not that card turned or mirrored
    from cardlens.geometry import rectify

    truth = rectify(img, example[1], (856, 540))

    def corr(a, b):
        a, b = (cv2.resize(cv2.cvtColor(x, cv2.COLOR_BGR2GRAY), (32, 20), interpolation=cv2.INTER_AREA)
                .astype(np.float64).ravel() for x in (a, b))
        return float(np.corrcoef(a, b)[0, 1])

    upright = corr(card, truth)
    assert upright > 0.7, f"rectified card is not the card: correlation {upright:.2f}"
    for turned in (truth[::-1, ::-1], truth[:, ::-1], truth[::-1]):
        assert upright > corr(card, np.ascontiguousarray(turned)) + 0.3


@pytest.mark.parametrize("bad", [None, np.zeros((1, 1, 3), np.uint8), np.zeros((0, 5), np.uint8),
                                 np.full((64, 64, 3), np.nan, np.float32)])
def test_bad_input_is_a_clear_error(onnx_det, bad):
    with pytest.raises(ImageError):
        onnx_det.detect(bad)


@pytest.mark.parametrize("img", [np.zeros((240, 320), np.uint8), np.zeros((240, 320, 4), np.uint8),
                                 np.random.default_rng(0).random((240, 320, 3)), np.zeros((5000, 3000, 3), np.uint8)])
def test_odd_but_valid_input_gives_a_result(onnx_det, img):
    assert isinstance(onnx_det.detect(img), list)


def test_tampered_or_missing_weights_are_refused(tmp_path):
    folder = tmp_path / "det"
    shutil.copytree(DEFAULT_DETECTOR, folder)
    spec = ModelSpec.load(folder / "spec.json")
    weights = folder / spec.weights
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelError) as err:
        CardDetector.load(folder)
    assert str(weights) in str(err.value) and spec.sha256 in str(err.value)
    weights.unlink()
    with pytest.raises(ModelError, match="missing"):
        CardDetector.load(folder)
    with pytest.raises(ModelError, match="not found"):
        CardDetector.load(tmp_path / "nowhere")


def test_scanner_with_learned_detector(example):
    from cardlens.scanner import CardScanner

    img, truth = example
    result = CardScanner("learned", reader=None).scan(img)
    assert result.card_found and result.engine.startswith("card-detector-t[onnx]")
    err = np.linalg.norm(np.array(result.corners) - truth, axis=1).max() / _diag(truth)
    assert err < ORDER_TOLERANCE


def test_the_zoomed_second_look_maps_its_corners_back_into_the_frame(onnx_det):
    from cardlens.synth.scene import render_scene

    s = render_scene(77, 4, 640, scale_range=(0.25, 0.3), inside_share=1.0)  # a small card
    truth = np.asarray(s.corners, np.float64)

    def err(d):
        return np.linalg.norm(d.corners - truth, axis=1).max() / _diag(truth)

    plain = onnx_det.detect(s.image, color="rgb", zoom=False, refine=False)
    zoomed = onnx_det.detect(s.image, color="rgb", refine=False)
    assert len(plain) == len(zoomed) == 1
    assert zoomed[0].method == "yolo-pose+zoom" and plain[0].method == "yolo-pose"
    # the verifier and the thresholds see the first look: same score, same card score
    assert (zoomed[0].confidence, zoomed[0].card_score) == (plain[0].confidence, plain[0].card_score)
    # corners mapped back from the cut lie on the card (a cut's offset left in would put them hundreds of px off)
    assert not np.allclose(zoomed[0].corners, plain[0].corners)
    assert err(zoomed[0]) < 0.2
    x1, y1, x2, y2 = zoomed[0].box
    assert x1 < truth[:, 0].min() + 10 and x2 > truth[:, 0].max() - 10
    assert y1 < truth[:, 1].min() + 10 and y2 > truth[:, 1].max() - 10
    # with the edges fitted from there: this card's corners (3 sides fitted either way) 7 % → 0.1 % off
    assert err(onnx_det.detect(s.image, color="rgb")[0]) < 0.02 < err(onnx_det.detect(s.image, color="rgb", zoom=False)[0])


def test_a_card_filling_the_frame_gets_no_second_look(onnx_det):
    from cardlens.detector.types import CardDetection

    img = np.full((300, 400, 3), 90, np.uint8)
    det = CardDetection(np.array([[20, 20], [380, 20], [380, 280], [20, 280]], np.float32), 0.9, "yolo-pose")
    assert onnx_det.zoomed(img, det) is det


def test_unturned_points_map_each_turned_frame_back():
    from cardlens.detector.model import unturned_points

    img = np.zeros((30, 50), np.uint8)
    img[3, 7] = 255
    for k, rot in ((1, cv2.ROTATE_90_CLOCKWISE), (2, cv2.ROTATE_180), (3, cv2.ROTATE_90_COUNTERCLOCKWISE)):
        turned = np.rot90(img, -k)
        assert np.array_equal(turned, cv2.rotate(img, rot))  # the turn the detector makes is OpenCV's clockwise one
        y, x = np.argwhere(turned == 255)[0]
        assert np.allclose(unturned_points(np.array([[x + 0.5, y + 0.5]]), k, 50, 30), [[7.5, 3.5]])


class _TurnAwareNetwork:
    """A stand-in for the network: one card, seen with ``conf[k]`` in the frame turned ``k`` quarter turns
    clockwise (told by where a marker pixel of the upright frame landed), its corners where the turn put them."""

    def __init__(self, quad, conf, h=200, w=300):
        self.quad, self.conf, self.h, self.w, self.turns = np.asarray(quad, np.float64), conf, h, w, []

    def marked(self):
        img = np.zeros((self.h, self.w, 3), np.uint8)
        img[2, 2] = 255
        return img

    def __call__(self, img, conf, iou, max_det):
        from cardlens.detector.types import CardDetection

        y, x = np.argwhere(img[:, :, 0] == 255)[0]
        top, left = y < img.shape[0] / 2, x < img.shape[1] / 2
        k = {(True, True): 0, (True, False): 1, (False, False): 2, (False, True): 3}[(bool(top), bool(left))]
        self.turns.append(k)
        qx, qy, h, w = self.quad[:, 0], self.quad[:, 1], self.h, self.w
        quad = [self.quad, np.stack([h - qy, qx], 1), np.stack([w - qx, h - qy], 1), np.stack([qy, w - qx], 1)][k]
        return [CardDetection(quad.astype(np.float32), self.conf[k], "net")] if self.conf[k] >= conf else []


class _TakesEverything:
    keep = 0.2

    def probabilities(self, img, corners):
        return np.ones(len(corners))


@pytest.mark.parametrize("conf, turns, winner", [
    ((0.3, 0.2, 0.8, 0.25), [0, 1, 2, 3], "net+turn180"),   # unsure: three more looks, the surest wins
    ((0.9, 0.2, 0.95, 0.2), [0], "net"),                     # sure: no more looks
    ((0.05, 0.8, 0.8, 0.8), [0], None),                      # nothing seen upright: the turns never make a card
])
def test_an_unsure_card_is_looked_at_again_turned(onnx_det, conf, turns, winner):
    quad = [[40, 50], [200, 60], [195, 150], [35, 140]]
    net = _TurnAwareNetwork(quad, conf)
    det = CardDetector(onnx_det.spec, onnx_det._run, "onnx", _TakesEverything())
    det._network = net
    found = det.detect(net.marked(), zoom=False, refine=False)
    assert net.turns == turns
    if winner is None:
        assert found == []
        return
    assert [d.method for d in found] == [winner]  # the same card seen in several looks is kept once
    assert found[0].confidence == max(conf) if len(turns) > 1 else conf[0]
    assert np.allclose(found[0].corners, quad, atol=1e-4)  # mapped back, still in the card's design order
    assert np.allclose(found[0].box, (35, 50, 200, 150), atol=1e-4)


def test_the_turned_looks_run_only_behind_the_verifier(onnx_det):
    net = _TurnAwareNetwork([[40, 50], [200, 60], [195, 150], [35, 140]], (0.3, 0.2, 0.8, 0.25))
    det = CardDetector(onnx_det.spec, onnx_det._run, "onnx", _TakesEverything())
    det._network = net
    assert [d.method for d in det.detect(net.marked(), conf=0.1, verify=False, zoom=False, refine=False)] == ["net"]
    assert net.turns == [0]
    assert [d.method for d in det.detect(net.marked(), turn=False, zoom=False, refine=False)] == ["net"]
    assert net.turns == [0, 0]
    without = CardDetector(onnx_det.spec, onnx_det._run, "onnx", _TakesEverything(), turns=())
    without._network = net
    assert [d.method for d in without.detect(net.marked(), zoom=False, refine=False)] == ["net"]
    assert net.turns == [0, 0, 0]


def test_eval_detector_reports_its_turns_and_finds_a_clear_card(tmp_path, capsys):
    import json

    from cardlens.cli import main
    from cardlens.synth.scene import render_scene

    s = render_scene(5, 2, 480, scale_range=(0.5, 0.6), inside_share=1.0)
    (tmp_path / "images").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "card.jpg"), cv2.cvtColor(s.image, cv2.COLOR_RGB2BGR))
    c = np.asarray(s.corners, float)
    row = {"file": "images/card.jpg", "card_box": [*c.min(0).tolist(), *c.max(0).tolist()], "image_type": "photo",
           "orientation": "horizontal", "side": "front", "difficulty": "easy"}
    (tmp_path / "labels.jsonl").write_text(json.dumps(row) + "\n")
    for flags, turns in (([], [90, 180, 270]), (["--no-turns"], [])):
        assert main(["eval", "detector", "--realcards", str(tmp_path), "--json", *flags]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["turns_degrees"] == turns
        assert report["realcards"]["found_iou50"] == 1.0 and report["realcards"]["images_with_card"] == 1
