"""A card partly outside the frame: its hidden corners completed to ID-1 proportions, and read both ways."""

import numpy as np
import pytest

from cardlens.detector.types import CardDetection
from cardlens.geometry import ID1_ASPECT, complete_cut_quad, edge_contrast
from cardlens.scanner import CUT_CARD_NOTE, CardScanner
from tests.test_frame_fallback import OTHER, VALID, one_image_set, reading

BG, CARD = 30, 200


def scene(card_x: tuple[int, int], y: tuple[int, int] = (80, 395), size=(640, 480)) -> np.ndarray:
    """A bright card spanning ``card_x`` (clipped to the image) on a dark background."""
    w, h = size
    img = np.full((h, w, 3), BG, np.uint8)
    img[y[0]:y[1], max(card_x[0], 0):min(card_x[1], w)] = CARD
    return img


def quad(x1, y1, x2, y2):
    return np.float32([[x1, y1], [x2, y1], [x2, y2], [x1, y2]])


def test_card_running_out_of_the_left_border_is_completed_to_its_true_corners():
    # a 500 × 315 card whose left 150 px lie outside the image; the detector boxed the visible part
    img = scene((-150, 350))
    whole = complete_cut_quad(quad(0, 80, 350, 395), img)
    assert whole is not None
    np.testing.assert_allclose(whole, quad(-150, 80, 350, 395), atol=1.0)
    w, h = whole[1, 0] - whole[0, 0], whole[3, 1] - whole[0, 1]
    assert w / h == pytest.approx(ID1_ASPECT, rel=0.01)


def test_short_sides_cut_by_the_bottom_border_grow_to_a_landscape_card():
    # a 500 × 315 card whose lower 135 px are below the image: the long edges are whole
    img = scene((60, 560), y=(300, 615))
    whole = complete_cut_quad(quad(60, 300, 560, 479), img)
    assert whole is not None
    np.testing.assert_allclose(whole, quad(60, 300, 560, 300 + 500 / ID1_ASPECT), atol=1.0)


def test_a_card_shaped_quad_is_left_alone_even_at_the_border():
    img = scene((0, 500))
    assert complete_cut_quad(quad(0, 80, 500, 80 + 500 / ID1_ASPECT), img) is None


def test_a_squarish_quad_inside_the_frame_is_left_alone():
    # the completed corners would land inside the frame: that part of the card would be visible
    img = scene((200, 420), y=(150, 350))
    assert complete_cut_quad(quad(200, 150, 420, 350), img) is None


def test_a_real_card_edge_near_the_border_is_not_taken_for_the_cut():
    # the card's own left edge lies just inside the border band; the quad's right edge runs through the card
    img = scene((20, 600))
    assert complete_cut_quad(quad(20, 80, 350, 395), img) is None
    # the same quad on a card that does run out of the frame there is completed
    assert complete_cut_quad(quad(20, 80, 350, 395), scene((-150, 350))) is not None


def test_edge_contrast_sees_a_card_edge_and_not_the_card_inside():
    img = scene((100, 400))[:, :, 0]
    inward = np.array([1.0, 0.0])
    assert edge_contrast(img, np.array([100.0, 100]), np.array([100.0, 380]), inward, 5) == CARD - BG
    assert edge_contrast(img, np.array([250.0, 100]), np.array([250.0, 380]), inward, 5) == 0
    # at the image's border the outer samples leave the image: no contrast to be seen
    assert edge_contrast(img, np.array([2.0, 100]), np.array([2.0, 380]), inward, 5) == 0


def test_degenerate_quads_are_left_alone():
    img = scene((0, 350))
    assert complete_cut_quad(np.zeros((4, 2), np.float32), img) is None
    assert complete_cut_quad(quad(0, 80, 2, 395), img) is None


class OrderedReader:
    """Returns its readings in call order and records the rectified cards' widths."""

    name = "ordered"

    def __init__(self, *readings):
        self.readings, self.cards = list(readings), []

    def read_card(self, card):
        self.cards.append(card.shape[:2])
        return self.readings[len(self.cards) - 1]


def cut_scan(first, second, **kw):
    img = scene((-150, 350))
    cut = CardDetection(quad(0, 80, 350, 395), 0.8, "fake")
    reader = OrderedReader(first, second)
    kw.setdefault("second_cut", False)  # a reading left unaccepted is not cut again here (test_second_cut.py)
    return CardScanner(locator=lambda _: cut, reader=reader, **kw).scan(img), reader.cards


def test_completed_card_is_read_and_wins_a_tie():
    res, cards = cut_scan(reading(VALID, 0.97), reading(VALID, 0.97))
    assert len(cards) == 2
    assert res.corners[0] == pytest.approx((-150.0, 80.0), abs=1.0)
    assert CUT_CARD_NOTE in res.notes[0] and "cut_card" in res.timings_ms
    assert res.card_confidence == pytest.approx(0.8)


def test_completed_card_loses_when_it_reads_worse():
    res, cards = cut_scan(reading(VALID, 0.97), reading(None, 0.0))
    assert len(cards) == 2
    assert res.number.reveal() == VALID and res.corners[0] == (0.0, 80.0)
    assert not any(CUT_CARD_NOTE in n for n in res.notes)


def test_completed_card_wins_with_the_better_number():
    res, _ = cut_scan(reading(OTHER[:12], 0.4), reading(VALID, 0.97))
    assert res.number.reveal() == VALID and res.number_accepted


def test_switched_off_reads_the_detector_quad_only():
    res, cards = cut_scan(reading(OTHER[:12], 0.4), reading(VALID, 0.97), complete_cut=False)
    assert len(cards) == 1 and res.number.reveal() == OTHER[:12]
    assert "cut_card" not in res.timings_ms


@pytest.fixture(scope="module")
def top_cut():
    """The example card (BGR) with its top 150 px above the image, the detection of its visible part, and
    its number."""
    import cv2

    from cardlens.synth.examples import example_scene

    s = example_scene()
    w, h = 856, 540
    card = cv2.warpPerspective(s.image, cv2.getPerspectiveTransform(np.float32(s.corners), quad(0, 0, w - 1, h - 1)),
                               (w, h))
    img = np.full((600, 1000, 3), 60, np.uint8)
    img[0:390, 70:70 + w] = cv2.cvtColor(card, cv2.COLOR_RGB2BGR)[150:]
    return img, CardDetection(quad(70, 0, 70 + w - 1, 389), 0.9, "fake"), s.card.spec.text.pan


def test_shipped_models_read_a_card_whose_top_runs_out_of_the_frame(top_cut):
    img, visible, pan = top_cut
    res = CardScanner(locator=lambda _: visible).scan(img)
    assert CUT_CARD_NOTE in res.notes[0]
    assert res.corners[0] == pytest.approx((70.0, -150.0), abs=3.0)
    assert res.number is not None and res.number.reveal() == pan


@pytest.mark.parametrize("command", [["scan", "--json"], ["eval", "scan", "--json", "--no-progress"]])
def test_cli_cut_card_switch(top_cut, tmp_path, monkeypatch, capsys, command):
    import json

    from cardlens import scanner
    from cardlens.cli import main

    img, visible, pan = top_cut
    one_image_set(tmp_path, "cut.png", img, pan, "photo")
    monkeypatch.setattr(scanner, "make_locator", lambda name="default": (lambda _: visible))
    completed = []
    monkeypatch.setattr(scanner, "complete_cut_quad",
                        lambda *a, **k: completed.append(1) or complete_cut_quad(*a, **k))
    target = ["--data", str(tmp_path)] if "eval" in command else [str(tmp_path / "images" / "cut.png")]
    for off in (False, True):
        completed.clear()
        assert main([*command, *(["--no-cut-card"] if off else []), *target]) == 0
        out = capsys.readouterr().out
        assert pan not in out
        assert bool(completed) is not off
        if "eval" in command:
            assert json.loads(out)[0]["overall"]["number_exact"] == 1.0
        else:
            assert (CUT_CARD_NOTE in json.loads(out)["notes"][0]) is not off
