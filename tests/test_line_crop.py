"""Line crops straightened along the number line's turn (cardlens.ocr.line_crop)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from cardlens.ocr.card_reader import card_tilt
from cardlens.ocr.field_locator import FieldBox
from cardlens.ocr.line_crop import MIN_TILT, crop_line, tilt_from_groups


def _turned_line(angle: float, size=(400, 640), centre=(320.0, 200.0), length=480.0, thickness=16):
    """A white card with one dark bar of text height turned by ``angle`` (radians, y down) and four
    'digit groups' (boxes around four stretches of it)."""
    card = np.full((*size, 3), 235, np.uint8)
    cx, cy = centre
    dx, dy = math.cos(angle), math.sin(angle)
    p1 = (cx - dx * length / 2, cy - dy * length / 2)
    p2 = (cx + dx * length / 2, cy + dy * length / 2)
    cv2.line(card, tuple(map(round, p1)), tuple(map(round, p2)), (20, 20, 20), thickness)
    groups = []
    for k in range(4):
        s = -length / 2 + (k + 0.1) * length / 4
        e = s + 0.8 * length / 4
        xs = [cx + dx * s, cx + dx * e]
        ys = [cy + dy * s, cy + dy * e]
        groups.append(FieldBox("number_group", (min(xs), min(ys) - thickness / 2, max(xs), max(ys) + thickness / 2), 0.9))
    xs, ys = [p1[0], p2[0]], [p1[1], p2[1]]
    line = FieldBox("number", (min(xs), min(ys) - thickness / 2, max(xs), max(ys) + thickness / 2), 0.9)
    return card, line, groups


def _dark_rows(crop: np.ndarray) -> np.ndarray:
    """Per column of the crop's middle half, the centre row of its dark pixels."""
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    w = gray.shape[1]
    cols = range(w // 4, 3 * w // 4)
    return np.array([np.mean(np.nonzero(gray[:, c] < 128)[0]) for c in cols if (gray[:, c] < 128).any()])


@pytest.mark.parametrize("degrees", [-6.0, -2.0, 3.0, 7.0])
def test_the_turn_is_measured_from_the_digit_groups(degrees):
    _, line, groups = _turned_line(math.radians(degrees))
    assert tilt_from_groups(groups) == pytest.approx(math.radians(degrees), abs=0.004)
    assert card_tilt([line, *groups]) == pytest.approx(math.radians(degrees), abs=0.004)


def test_no_turn_from_one_group_stacked_groups_or_a_level_line():
    _, _, groups = _turned_line(math.radians(5))
    assert tilt_from_groups(groups[:1]) == 0.0
    stacked = [FieldBox("number_group", (100, 100, 200, 130), 0.9), FieldBox("number_group", (104, 140, 204, 170), 0.9)]
    assert tilt_from_groups(stacked) == 0.0
    _, line, groups = _turned_line(0.5 * MIN_TILT)
    assert card_tilt([line, *groups]) == 0.0
    assert card_tilt([line]) == 0.0  # no groups: unknown, read level


@pytest.mark.parametrize("degrees", [-5.0, 4.0])
def test_a_turned_line_comes_back_level_and_whole(degrees):
    angle = math.radians(degrees)
    card, line, groups = _turned_line(angle)
    level = crop_line(card, line.box)
    straight = crop_line(card, line.box, tilt_from_groups(groups))
    # the axis-aligned crop holds the bar as a slope across its height; the straightened one holds it level
    drift_level = np.ptp(_dark_rows(level))
    drift_straight = np.ptp(_dark_rows(straight))
    assert drift_level > 10 and drift_straight <= 2
    # the text band is kept (bar of 16 px with the line set's margins), not the box's turned height
    assert straight.shape[0] < 0.6 * level.shape[0]
    gray = cv2.cvtColor(straight, cv2.COLOR_BGR2GRAY)
    assert (gray[:, gray.shape[1] // 2] < 128).sum() >= 12  # the bar is inside the crop, not clipped away


def test_a_box_that_hugs_the_text_keeps_its_height_and_a_small_turn_is_ignored():
    card, line, _ = _turned_line(math.radians(3))
    box = (200.0, 180.0, 440.0, 210.0)
    hugged = crop_line(card, box, math.radians(3), encloses=False)
    assert hugged.shape[0] == round(30 * 1.3)
    assert np.array_equal(crop_line(card, box, 0.5 * MIN_TILT), crop_line(card, box))
    assert crop_line(card, (10, 50, 200, 50.5), math.radians(3), encloses=False) is None
