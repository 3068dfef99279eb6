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
