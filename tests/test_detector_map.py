import numpy as np
import pytest

from cardlens.detector.evaluate import average_precision, box_map


def test_perfect_boxes_score_as_in_ultralytics():
    ranked = [(np.array([10, 10, 110, 70.0]), np.array([[10, 10, 110, 70.0]]), np.array([0.9])),
              (None, np.zeros((0, 4)), np.zeros(0))]
    assert box_map(ranked) == pytest.approx((0.995, 0.995))  # the validator's sentinel at recall 1


def test_a_box_at_iou_0_7_counts_at_five_of_the_ten_thresholds():
    label = np.array([0, 0, 100, 100.0])
    found = np.array([[0, 0, 100, 70.0]])  # IoU 0.70: a hit at 0.50 … 0.70, a miss from 0.75 up
    m50, m50_95 = box_map([(label, found, np.array([0.8]))])
    assert m50 == pytest.approx(0.995)
    assert m50_95 == pytest.approx(0.995 / 2)


def test_a_confident_false_box_costs_precision_and_a_missed_card_costs_recall():
    card = (np.array([0, 0, 100, 100.0]), np.array([[0, 0, 100, 100.0]]), np.array([0.5]))
    false_box = (None, np.array([[5, 5, 50, 50.0]]), np.array([0.9]))
    missed = (np.array([0, 0, 100, 100.0]), np.zeros((0, 4)), np.zeros(0))
    assert box_map([card, false_box])[0] < 1.0
    # recall stops at one card of two; the envelope then falls linearly to the sentinel (1, 0)
    assert box_map([card, missed])[0] == pytest.approx(0.75, abs=0.01)


def test_average_precision_without_labels_is_undefined():
    assert np.isnan(average_precision(np.zeros(2), np.array([0.3, 0.2]), 0))
