"""Keypoints land on the rendered card corners; corner order follows the card design."""

import cv2
import numpy as np
import pytest

from cardlens.synth import compose_scene, render_scene
from cardlens.synth.geometry import cv2_matrix, design_corners, homography, polygon_clip_box
from cardlens.synth.writers import detector_label


def _bilinear(a: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    # continuous coords -> pixel-centre coords
    return cv2.remap(a, (x - 0.5).astype(np.float32), (y - 0.5).astype(np.float32), cv2.INTER_LINEAR)[:, 0]


def measured_corners(alpha: np.ndarray, corners: np.ndarray):
    """Corners re-measured from the rendered alpha: fit each straight edge at its 0.5 crossing, intersect."""
    h, w = alpha.shape
    centre = corners.mean(0)
    lines = []
    for k in range(4):
        a, b = corners[k], corners[(k + 1) % 4]
        d = (b - a) / np.linalg.norm(b - a)
        nrm = np.array([-d[1], d[0]])
        if np.dot(nrm, (a + b) / 2 - centre) < 0:
            nrm = -nrm
        pts = []
        for t in np.linspace(0.15, 0.85, 25):
            p = a + (b - a) * t
            s = np.arange(-4, 4.001, 0.02)
            q = p[None] + s[:, None] * nrm[None]
            if (q < 2).any() or (q[:, 0] > w - 2).any() or (q[:, 1] > h - 2).any():
                continue
            v = _bilinear(alpha, q[:, 0:1], q[:, 1:2])
            idx = np.nonzero((v[:-1] >= 0.5) & (v[1:] < 0.5))[0]
            if len(idx):
                i = idx[0]
                f = (v[i] - 0.5) / (v[i] - v[i + 1])
                pts.append(q[i] + f * (q[i + 1] - q[i]))
        lines.append(None if len(pts) < 10 else cv2.fitLine(np.array(pts, np.float32), cv2.DIST_L2, 0, 0.01, 0.01).ravel())
    out = {}
    for k in range(4):
        l1, l2 = lines[(k - 1) % 4], lines[k]
        if l1 is None or l2 is None:
            continue
        (vx1, vy1, x1, y1), (vx2, vy2, x2, y2) = l1, l2
        A = np.array([[vx1, -vx2], [vy1, -vy2]])
        t = np.linalg.solve(A, np.array([x2 - x1, y2 - y1]))
        out[k] = np.array([x1 + vx1 * t[0], y1 + vy1 * t[0]])
    return out


@pytest.mark.parametrize("index", range(12))
def test_keypoints_on_rendered_corners_within_a_pixel(index):
    s = compose_scene(11, index, 640, keep_masks=True, effects=False, occluders=False)
    if min(np.linalg.norm(s.corners - np.roll(s.corners, 1, 0), axis=1)) < 60:
        pytest.skip("card too small for a sub-pixel edge fit")
    got = measured_corners(s.card_alpha, s.corners)
    assert got, "no corner measurable"
    for k, p in got.items():
        assert np.linalg.norm(p - s.corners[k]) < 1.0, (k, p, s.corners[k])


def test_measurement_detects_a_half_pixel_error():
    s = compose_scene(11, 1, 640, keep_masks=True, effects=False, occluders=False)
    got = measured_corners(s.card_alpha, s.corners + 1.5)  # a deliberately wrong label
    assert any(np.linalg.norm(p - (s.corners[k] + 1.5)) > 1.0 for k, p in got.items())


@pytest.mark.parametrize("index", range(6))
def test_corner_order_is_the_designs(index):
    """Warping the scene back with the labelled order reproduces the upright design; other orders do not."""
    s = compose_scene(5, index, 640, effects=False, occluders=False, inside_share=1.0, distractor_rate=0.0,
                      scale_range=(0.6, 0.9))
    cw, ch = s.card.size
    card = cv2.cvtColor(s.card.image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    scores = []
    for shift in (0, 2):  # labelled order vs rotated by 180 degrees (same aspect)
        src = np.roll(s.corners, -shift, axis=0)
        H = homography(src, design_corners(cw, ch))
        back = cv2.warpPerspective(cv2.cvtColor(s.image, cv2.COLOR_RGB2GRAY), cv2_matrix(H), (cw, ch)).astype(np.float32)
        m = s.card.alpha > 0.99
        scores.append(np.corrcoef(back[m], card[m])[0, 1])
    assert scores[0] > 0.9 and scores[0] > scores[1] + 0.1, scores


def test_yolo_pose_label_matches_corners_and_box():
    for i in range(40):
        s = render_scene(3, i, 640)
        line = detector_label(s).split()
        assert len(line) == 5 + 12
        vals = np.array(line[1:], float)
        kp = vals[4:].reshape(4, 3)
        assert (vals[:4] >= 0).all() and (vals[:4] <= 1).all()
        assert (kp[:, :2] >= 0).all() and (kp[:, :2] <= 1).all() and set(kp[:, 2]) <= {0, 1, 2}
        box = polygon_clip_box(s.corners, 640, 640)
        assert np.allclose(vals[:4], [(box[0] + box[2]) / 1280, (box[1] + box[3]) / 1280,
                                      (box[2] - box[0]) / 640, (box[3] - box[1]) / 640], atol=1e-5)
        for k in range(4):
            x, y = s.corners[k]
            inside = 0 <= x <= 640 and 0 <= y <= 640
            assert (kp[k, 2] > 0) == inside
            if inside:
                assert np.allclose(kp[k, :2] * 640, (x, y), atol=1e-3)


def test_negative_scene_has_empty_label():
    s = render_scene(3, 0, 640, negative=True)
    assert s.card is None and detector_label(s) == ""


@pytest.mark.parametrize("poly, box", [
    ([(10, 10), (50, 10), (50, 40), (10, 40)], (10, 10, 50, 40)),          # inside: its own bounds
    ([(60, 20), (140, 20), (140, 60), (60, 60)], (60, 20, 100, 60)),       # cut by the right edge
    ([(-20, 50), (20, 10), (60, 50), (20, 90)], (0, 10, 60, 90)),          # left tip cut off at x = 0
    ([(50, -30), (130, 50), (50, 130), (-30, 50)], (0, 0, 100, 100)),      # larger than the frame, corners cut
    ([(30, -40), (70, -40), (70, -5), (30, -5)], None),                    # wholly above the frame
])
def test_polygon_clip_box_hand_worked(poly, box):
    got = polygon_clip_box(np.array(poly, float), 100, 100)
    if box is None:
        assert got is None
    else:
        assert np.allclose(got, box, atol=1e-9), got
