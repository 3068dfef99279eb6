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


def test_the_detectors_map_ranks_boxes_by_box_score_and_reports_the_confidence_ranking_beside_it(tmp_path):
    import cv2

    from cardlens.detector.evaluate import evaluate_synthetic
    from cardlens.detector.types import CardDetection

    # two scenes: a tight box with a lower network score (its sides fitted) and a loose box with a higher one
    (tmp_path / "images/val").mkdir(parents=True)
    (tmp_path / "labels/val").mkdir(parents=True)
    for name in ("a", "b"):
        cv2.imwrite(str(tmp_path / f"images/val/{name}.jpg"), np.zeros((100, 100, 3), np.uint8))
        (tmp_path / f"labels/val/{name}.txt").write_text("0 0.5 0.5 0.6 0.6 " + "0.5 0.5 2 " * 4)
    (tmp_path / "data.yaml").write_text("val: images/val\n")
    tight, loose = (20.0, 20.0, 80.0, 80.0), (20.0, 20.0, 80.0, 95.0)  # IoU 1.0 and 0.8 with the label
    corners = np.zeros((4, 2), np.float32)

    class Fake:
        calls = 0

        def detect(self, img, conf=None, verify=True):
            Fake.calls += 1
            first = Fake.calls <= 2   # scene a: its two calls (ranked, then kept)
            return [CardDetection(corners, 0.6, "t", box=tight, localization=1.0) if first
                    else CardDetection(corners, 0.9, "t", box=loose, localization=0.0)]

    m = evaluate_synthetic(Fake(), tmp_path / "data.yaml")
    # by box score (0.6 vs 0.45) the tight box leads, by confidence (0.6 vs 0.9) the loose one
    assert m.detector_box_map50_95 > m.detector_box_map50_95_by_confidence
    assert m.detector_box_map50 == pytest.approx(0.995)
