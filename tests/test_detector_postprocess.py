import numpy as np
import pytest

from cardlens.detector.postprocess import box_iou, decode_pose, nms
from cardlens.detector.preprocess import letterbox, to_input_tensor


def test_letterbox_maps_points_back():
    img = np.zeros((480, 800, 3), np.uint8)
    padded, lb = letterbox(img, (320, 320))
    assert padded.shape == (320, 320, 3) and lb.scale == pytest.approx(0.4)
    assert (lb.pad_x, lb.pad_y) == (0.0, 64.0)
    pts = np.array([[0.0, 0.0], [800.0, 480.0], [123.0, 45.0]])
    fwd = pts * lb.scale + [lb.pad_x, lb.pad_y]
    np.testing.assert_allclose(lb.to_image(fwd), pts, atol=1e-4)
    assert padded[0, 0].tolist() == [114, 114, 114] and padded[100, 100].tolist() == [0, 0, 0]


def test_input_tensor_layout_and_colour():
    img = np.zeros((4, 6, 3), np.uint8)
    img[..., 2] = 255  # red in BGR
    x = to_input_tensor(img)
    assert x.shape == (1, 3, 4, 6) and x.dtype == np.float32
    assert x[0, 0].max() == 1.0 and x[0, 2].max() == 0.0  # channel 0 is R


def test_nms_and_iou():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], float)
    assert box_iou(boxes[0], boxes).round(3).tolist() == [1.0, 0.681, 0.0]
    assert nms(boxes, np.array([0.9, 0.8, 0.7]), 0.5).tolist() == [0, 2]
    assert nms(boxes, np.array([0.5, 0.8, 0.7]), 0.5).tolist() == [1, 2]


def _raw(anchors):
    """Build a (1, 17, N) raw tensor from (cx, cy, w, h, score, corners[4x2]) tuples."""
    cols = []
    for cx, cy, w, h, s, corners in anchors:
        kp = []
        for x, y in corners:
            kp += [x, y, 0.9]
        cols.append([cx, cy, w, h, s, *kp])
    return np.array(cols, np.float32).T[None]


def test_decode_pose_maps_to_image_keeps_corner_order_and_suppresses():
    _, lb = letterbox(np.zeros((480, 800, 3), np.uint8), (320, 320))
    corners = [(100, 120), (200, 110), (210, 180), (95, 190)]  # input px, design order
    raw = _raw([(150, 150, 120, 80, 0.9, corners), (152, 151, 118, 82, 0.6, corners),
                (40, 40, 10, 10, 0.1, corners)])
    dets = decode_pose(raw, lb, conf_threshold=0.25, iou_threshold=0.5)
    assert len(dets) == 1 and dets[0].confidence == pytest.approx(0.9)
    expected = (np.array(corners, float) - [0, 64]) / 0.4
    np.testing.assert_allclose(dets[0].corners, expected, atol=1e-3)
    np.testing.assert_allclose(dets[0].box, [(90 - 0) / 0.4, (110 - 64) / 0.4, 210 / 0.4, (190 - 64) / 0.4], atol=1e-3)
    assert decode_pose(raw, lb, conf_threshold=0.95) == []


def test_decode_pose_rejects_wrong_shape_and_ignores_nan():
    _, lb = letterbox(np.zeros((100, 100, 3), np.uint8), (320, 320))
    with pytest.raises(ValueError, match="channels"):
        decode_pose(np.zeros((1, 9, 10), np.float32), lb)
    raw = np.full((1, 17, 5), np.nan, np.float32)
    assert decode_pose(raw, lb) == []
