import cv2
import numpy as np
import pytest

from cardlens.detector.refine import refine_corners


def _card_scene(angle: float = 17.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    img = np.full((480, 640, 3), 60, np.uint8)
    img += rng.integers(0, 20, img.shape, dtype=np.uint8)
    rect = ((320, 240), (300, 189), angle)
    corners = cv2.boxPoints(rect).astype(np.float64)
    cv2.fillConvexPoly(img, corners.astype(np.int32), (210, 190, 160), lineType=cv2.LINE_AA)
    cv2.rectangle(img, (250, 220), (330, 250), (40, 40, 40), -1)  # inner print: must not attract the fit
    return img, corners


@pytest.mark.parametrize("angle", [0.0, 17.0, 63.0])
def test_refinement_pulls_noisy_corners_onto_the_edges(angle):
    img, truth = _card_scene(angle)
    diag = np.hypot(*(truth[2] - truth[0]))
    noisy = truth + np.random.default_rng(1).normal(0, 0.04 * diag, truth.shape)
    r = refine_corners(img, noisy)
    before = np.linalg.norm(noisy - truth, axis=1).mean() / diag
    after = np.linalg.norm(r.corners - truth, axis=1).mean() / diag
    assert r.sides_refined == 4
    assert after < 0.01 < before


def test_refinement_keeps_corners_without_edges():
    flat = np.full((300, 400, 3), 128, np.uint8)
    corners = np.array([[100, 80], [300, 80], [300, 206], [100, 206]], np.float64)
    r = refine_corners(flat, corners)
    assert r.sides_refined == 0
    np.testing.assert_allclose(r.corners, corners, atol=1e-4)


def test_refinement_tolerates_degenerate_input():
    img = np.zeros((50, 50, 3), np.uint8)
    for corners in (np.zeros((4, 2)), np.full((4, 2), np.nan), np.array([[0, 0], [1, 0], [1, 1], [0, 1.0]])):
        r = refine_corners(img, corners)
        assert r.corners.shape == (4, 2) and r.sides_refined == 0


def test_a_background_edge_along_part_of_a_side_does_not_take_the_fit():
    # a white strip (paper, a phone's edge) lies beside the card's top side over 45 % of its length, a
    # few pixels out: there its edges are the strongest and outermost gradients, not the card's
    img, truth = _card_scene(0.0, seed=3)
    x0, y0 = truth[:, 0].min(), truth[:, 1].min()
    cv2.rectangle(img, (int(x0 + 20), int(y0 - 16)), (int(x0 + 20 + 0.45 * 300), int(y0 - 6)), (255, 255, 255), -1)
    diag = np.hypot(*(truth[2] - truth[0]))
    shifted = truth + np.array([0.0, -0.03 * diag])  # the network's corners a little high
    r = refine_corners(img, shifted)
    after = np.linalg.norm(r.corners - truth, axis=1).mean() / diag
    assert r.sides_refined == 4
    assert after < 0.01


def test_sides_outside_the_image_are_counted_and_the_box_follows_the_fitted_corners():
    from cardlens.detector.refine import refined
    from cardlens.detector.types import CardDetection

    img, truth = _card_scene(0.0, seed=4)
    img = np.ascontiguousarray(img[:, : int(truth[:, 0].max() - 60)])  # the card's right side is cut off
    h, w = img.shape[:2]
    diag = np.hypot(*(truth[2] - truth[0]))
    noisy = truth + np.random.default_rng(2).normal(0, 0.02 * diag, truth.shape)
    det = CardDetection(noisy.astype(np.float32), 0.9, "test")
    r = refine_corners(img, noisy)
    assert r.sides_outside == 1 and r.sides_refined == 3 and r.whole
    out = refined(img, det)
    x1, y1, x2, y2 = out.box
    assert abs(x1 - truth[:, 0].min()) < 2 and abs(y1 - truth[:, 1].min()) < 2
    assert abs(y2 - truth[:, 1].max()) < 2 and x2 == pytest.approx(w)  # clipped to the image
    assert out.method.endswith("+edges3")


def test_a_detection_whose_sides_were_not_all_fitted_keeps_the_networks_box():
    from cardlens.detector.refine import refined
    from cardlens.detector.types import CardDetection

    flat = np.full((300, 400, 3), 128, np.uint8)
    corners = np.array([[100, 80], [300, 80], [300, 206], [100, 206]], np.float32)
    det = CardDetection(corners, 0.9, "test", box=(90.0, 70.0, 310.0, 216.0))
    assert refined(flat, det) is det


def test_the_box_takes_the_edges_the_fitting_pinned_and_the_networks_elsewhere():
    from cardlens.detector.refine import refined
    from cardlens.detector.types import CardDetection

    img, truth = _card_scene(0.0, seed=5)
    x_left = int(truth[:, 0].min())
    img[:, : x_left + 40] = (210, 190, 160)  # the card's colour runs on to the left: its left edge is gone
    diag = np.hypot(*(truth[2] - truth[0]))
    noisy = truth + np.random.default_rng(3).normal(0, 0.015 * diag, truth.shape)
    net_box = (float(truth[:, 0].min() - 9), float(truth[:, 1].min() - 7), float(truth[:, 0].max() + 8),
               float(truth[:, 1].max() + 6))
    det = CardDetection(noisy.astype(np.float32), 0.9, "test", box=net_box)
    r = refine_corners(img, noisy)
    left = [i for i in range(4) if abs(truth[i, 0] - truth[(i + 1) % 4, 0]) < 1 and truth[i, 0] < 320][0]
    assert not r.fine_mask[left] and sum(r.fine_mask) == 3 and not r.whole
    x1, y1, x2, y2 = refined(img, det).box
    assert x1 == net_box[0]                              # nothing fitted there: the network's edge
    assert abs(y1 - truth[:, 1].min()) < 2 and abs(x2 - truth[:, 0].max()) < 2 and abs(y2 - truth[:, 1].max()) < 2


def test_a_fitted_side_parallel_to_a_box_edge_fixes_it_alone():
    from cardlens.detector.refine import Refinement, fitted_box

    c = np.array([[100, 100], [300, 110], [295, 236], [95, 226]], np.float32)  # tilted about 3 degrees
    net = (90.0, 90.0, 310.0, 246.0)
    only_right = Refinement(c, 1, 0.0, (False, True, False, False), (False,) * 4)
    assert fitted_box(only_right, net, 640, 480) == pytest.approx((90.0, 90.0, 300.0, 246.0))
    only_top = Refinement(c, 1, 0.0, (True, False, False, False), (False,) * 4)
    assert fitted_box(only_top, net, 640, 480) == pytest.approx((90.0, 100.0, 310.0, 246.0))
    whole = Refinement(c, 4, 0.0, (True,) * 4, (False,) * 4)
    assert fitted_box(whole, net, 640, 480) == pytest.approx((95.0, 100.0, 300.0, 236.0))


def test_the_last_side_is_fitted_on_less_support_when_three_sides_were():
    img, truth = _card_scene(0.0, seed=6)
    x_left = int(round(truth[:, 0].min()))
    y_top, y_bottom = truth[:, 1].min(), truth[:, 1].max()
    # a thumb over the middle half of the left side: its edge shows on about half of its length, under
    # MIN_SUPPORT (0.6) but over LAST_SIDE_SUPPORT's 0.4, and on both halves
    y0, y1 = int(y_top + 0.3 * (y_bottom - y_top)), int(y_top + 0.7 * (y_bottom - y_top))
    img[y0:y1, x_left - 30: x_left + 25] = (210, 190, 160)
    diag = np.hypot(*(truth[2] - truth[0]))
    noisy = truth + np.random.default_rng(4).normal(0, 0.012 * diag, truth.shape)
    r = refine_corners(img, noisy)
    left = [i for i in range(4) if abs(truth[i, 0] - truth[(i + 1) % 4, 0]) < 1 and truth[i, 0] < 320][0]
    assert sum(r.fine_mask) == 3 and not r.fine_mask[left] and r.last_side == left
    assert np.linalg.norm(r.corners - truth, axis=1).max() / diag < 0.01
    # the box keeps the network's edge there: the lower support is trusted with the corners only
    assert not r.whole


def test_a_line_of_print_just_inside_a_side_does_not_take_the_fit():
    # dark glyph-like blocks along the whole top side, just inside it: their top edges line up, but
    # their side edges alternate in sign; the card's own edge is one step all along
    img, truth = _card_scene(0.0, seed=5)
    x0, y0 = truth[:, 0].min(), truth[:, 1].min()
    for k in range(14):
        x = int(x0 + 12 + k * 20)
        cv2.rectangle(img, (x, int(y0 + 10)), (x + 12, int(y0 + 24)), (30, 30, 30), -1)
    diag = np.hypot(*(truth[2] - truth[0]))
    inward = truth + np.array([[0, 12], [0, 12], [0, 0], [0, 0]], np.float64)  # top corners on the print
    r = refine_corners(img, inward)
    after = np.linalg.norm(r.corners - truth, axis=1).mean() / diag
    assert after < 0.01


@pytest.mark.parametrize("size, x0, y0, scale_tol", [((480, 640), 100, 80, 0.15), ((1200, 1600), 400, 300, 0.4)])
def test_fitted_corners_are_continuous_coordinates(size, x0, y0, scale_tol):
    # pixels x0 .. x1-1 lit: in continuous coordinates (pixel i spans [i, i+1), as labels and the network
    # have them) the card's edges lie at x0 and x1, not at the first and last pixel centres. The second
    # case is refined on an image scaled down to 640 (its edges then still fall on whole pixels).
    h, w = size
    x1, y1 = x0 + 3 * (w // 8), y0 + 3 * (w // 8) * 54 // 86
    img = np.full((h, w, 3), 40, np.uint8)
    img[y0:y1, x0:x1] = 200
    truth = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)
    r = refine_corners(img, truth + np.array([[3, -2], [-2, 3], [2, 2], [-3, -3]]) * (w / 640))
    assert r.sides_refined == 4
    assert np.abs(r.corners - truth).max() < scale_tol


def test_the_box_score_weighs_the_confidence_by_the_sides_fitted():
    from cardlens.detector.refine import refined
    from cardlens.detector.types import CardDetection

    img, truth = _card_scene(17.0, seed=2)
    diag = np.hypot(*(truth[2] - truth[0]))
    noisy = truth + np.random.default_rng(4).normal(0, 0.02 * diag, truth.shape)
    det = CardDetection(noisy.astype(np.float32), 0.8, "test")
    assert det.localization == 0.0 and det.box_score == pytest.approx(0.4)  # the network's corners alone
    out = refined(img, det)
    assert out.localization == 1.0 and out.box_score == pytest.approx(0.8)  # all four sides on the card's edges
    assert out.confidence == 0.8                                           # the keep decision's score is unchanged
    assert out.to_dict()["box_score"] == pytest.approx(0.8)
    img[:, : int(truth[:, 0].min()) + 40] = (210, 190, 160)                # one edge gone: three sides fitted
    three = refined(img, det)
    assert three.method.endswith("+edges3") and three.box_score == pytest.approx(0.8 * 1.75 / 2)
