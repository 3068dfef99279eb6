"""The scanner cuts the card with a margin, grown in the card's own plane."""

import cv2
import numpy as np
import pytest

from cardlens.detector.types import CardDetection
from cardlens.geometry import grow_quad
from cardlens.scanner import CARD_MARGIN, CardScanner


def test_grow_quad_on_an_upright_rectangle():
    rect = np.array([[10, 20], [110, 20], [110, 80], [10, 80]], np.float32)
    grown = grow_quad(rect, 0.05)
    np.testing.assert_allclose(grown, [[5, 17], [115, 17], [115, 83], [5, 83]], atol=1e-3)
    np.testing.assert_array_equal(grow_quad(rect, 0.0), rect)


def test_grow_quad_keeps_the_perspective():
    quad = np.array([[100, 50], [400, 80], [380, 260], [90, 300]], np.float32)
    m = 0.04
    grown = grow_quad(quad, m)
    # seen from the grown card, the original corners sit m / (1 + 2m) in from every side
    unit = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32)
    back = cv2.perspectiveTransform(quad[None], cv2.getPerspectiveTransform(grown, unit))[0]
    inset = m / (1 + 2 * m)
    np.testing.assert_allclose(back, [[inset, inset], [1 - inset, inset], [1 - inset, 1 - inset],
                                      [inset, 1 - inset]], atol=1e-4)
    # the nearer (longer) edges grow by more pixels than the far ones
    grow_left = np.linalg.norm(grown[3] - grown[0]) - np.linalg.norm(quad[3] - quad[0])
    grow_right = np.linalg.norm(grown[2] - grown[1]) - np.linalg.norm(quad[2] - quad[1])
    assert grow_left > grow_right > 0


class _Recorder:
    name = "recorder"

    def __init__(self):
        self.cards = []

    def read(self, image_bgr):
        self.cards.append(image_bgr)
        return []


@pytest.mark.parametrize("margin", [0.0, CARD_MARGIN, 0.08])
def test_scanner_reads_the_card_with_its_margin(margin):
    frame = np.full((480, 640, 3), 60, np.uint8)
    card = np.array([[100, 100], [500, 100], [500, 352], [100, 352]], np.float32)  # 1.587:1
    cv2.fillPoly(frame, [card.astype(np.int32)], (255, 255, 255))
    reader = _Recorder()
    scanner = CardScanner(locator=lambda img: CardDetection(card, 0.9, "stub"), reader=reader, card_margin=margin)
    result = scanner.scan(frame)
    assert result.card_found and np.allclose(result.corners, card)  # the reported corners are the card's
    seen = reader.cards[0]
    h, w = seen.shape[:2]
    border = int(round(w * margin / (1 + 2 * margin)))
    row = seen[h // 2, :, 0].astype(int)
    if border > 2:
        assert (row[:border - 2] < 100).all() and (row[-(border - 2):] < 100).all()
    assert (row[border + 2:w - border - 2] > 200).all()
