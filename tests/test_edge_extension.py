"""Text running to the rectified card's left or right edge: the card is read again extended past it."""

import numpy as np
import pytest

from cardlens.detector.types import CardDetection
from cardlens.geometry import grow_quad, grow_sides
from cardlens.ocr.card_reader import EDGE_TOUCH, CardReading, text_at_edges
from cardlens.ocr.field_locator import FieldBox
from cardlens.scanner import EDGE_EXTENSION, CardScanner
from tests.test_cut_card import OrderedReader, quad
from tests.test_frame_fallback import OTHER, VALID, one_image_set, reading

CARD_W = 856


def with_boxes(base: CardReading, *boxes: tuple[str, float, float]) -> CardReading:
    """``base`` with field boxes ``(kind, x1, x2)`` on a card ``CARD_W`` wide."""
    found = tuple(FieldBox(kind, (x1, 250.0, x2, 290.0), 0.8) for kind, x1, x2 in boxes)
    return CardReading(base.fields, base.decision, found, base.rotated)


def test_grow_sides_moves_only_the_sides_asked_for():
    card = quad(100, 50, 600, 365)
    np.testing.assert_allclose(grow_sides(card, 0.1, 0, 0, 0), quad(50, 50, 600, 365), atol=1e-3)
    np.testing.assert_allclose(grow_sides(card, 0, 0.2, 0.1, 0), quad(100, -13, 650, 365), atol=1e-3)
    np.testing.assert_allclose(grow_sides(card, 0, 0, 0, 0), card)
    np.testing.assert_allclose(grow_quad(card, 0.03), grow_sides(card, 0.03, 0.03, 0.03, 0.03))


def test_grow_sides_keeps_the_perspective():
    # a trapezoid (the card's right side nearer the camera): its top and bottom edges keep their lines
    card = np.float32([[100, 100], [500, 60], [500, 400], [100, 360]])
    grown = grow_sides(card, 0.25, 0, 0, 0)
    for a, b in ((0, 1), (3, 2)):
        slope = (card[b, 1] - card[a, 1]) / (card[b, 0] - card[a, 0])
        assert grown[a, 1] - card[a, 1] == pytest.approx(slope * (grown[a, 0] - card[a, 0]), abs=1e-3)
    # in the card's plane the far side grows by less than a quarter of the image width
    assert 0 < card[0, 0] - grown[0, 0] < 100


def test_text_at_edges():
    base = reading(VALID, 0.97)
    near = EDGE_TOUCH * CARD_W
    assert text_at_edges(with_boxes(base, ("number", 60, 700), ("name", 60, 300)), CARD_W) == (False, False)
    assert text_at_edges(with_boxes(base, ("number", near / 2, 700)), CARD_W) == (True, False)
    assert text_at_edges(with_boxes(base, ("name", 60, CARD_W - near / 2)), CARD_W) == (False, True)
    assert text_at_edges(with_boxes(base, ("number_group", 0, 90), ("number", 0, CARD_W)), CARD_W) == (True, True)
    # an expiry date or a logo at the edge says nothing about the number
    assert text_at_edges(with_boxes(base, ("expiry", 0, 90)), CARD_W) == (False, False)
    # a card read turned by 180°: its left edge is the rectified image's right
    turned = reading(VALID, 0.97, rotated=True)
    assert text_at_edges(with_boxes(turned, ("number", 60, CARD_W - 1)), CARD_W) == (True, False)


def edge_scan(first, second, **kw):
    img = np.full((480, 640, 3), 90, np.uint8)
    det = CardDetection(quad(100, 80, 600, 395), 0.8, "fake")
    reader = OrderedReader(first, second)
    kw.setdefault("second_cut", False)  # a reading left unaccepted is not cut again here (test_second_cut.py)
    return CardScanner(locator=lambda _: det, reader=reader, **kw).scan(img), reader.cards


def test_text_at_the_left_edge_is_read_again_past_it_and_the_better_reading_wins():
    cut = with_boxes(reading(VALID[1:], 0.6), ("number", 2, 700))
    res, cards = edge_scan(cut, reading(VALID, 0.97))
    assert len(cards) == 2
    assert res.number.reveal() == VALID and res.number_accepted
    assert "left edge" in res.notes[0] and "edge_extension" in res.timings_ms
    # the card's corners are the extended ones: its left side moved out by EDGE_EXTENSION of its width
    assert res.corners[0] == pytest.approx((100 - EDGE_EXTENSION * 500, 80.0), abs=1.0)
    assert res.corners[1] == pytest.approx((600.0, 80.0), abs=1.0)


def test_extended_reading_is_dropped_when_it_reads_worse():
    first = with_boxes(reading(VALID, 0.97), ("number", 2, 700))
    res, cards = edge_scan(first, reading(OTHER[:12], 0.3))
    assert len(cards) == 2
    assert res.number.reveal() == VALID and res.corners[0] == (100.0, 80.0)
    assert not any("edge" in n for n in res.notes)


def test_a_valid_number_is_not_given_up_for_an_invalid_one_read_past_the_edge():
    first = with_boxes(reading(VALID, 0.3), ("number", 2, 700))      # valid, not confidently read
    stray = "9" + VALID[:-1]                                           # a digit of background in front
    res, cards = edge_scan(first, reading(stray, 0.99))
    assert len(cards) == 2 and res.number.reveal() == VALID and not res.number_accepted
    assert not any("edge" in n for n in res.notes)


def test_text_inside_the_card_or_switched_off_reads_once():
    inside = with_boxes(reading(VALID, 0.97), ("number", 60, 700))
    _, cards = edge_scan(inside, reading(OTHER, 0.99))
    assert len(cards) == 1
    at_edge = with_boxes(reading(VALID[1:], 0.6), ("number", 2, 700))
    res, cards = edge_scan(at_edge, reading(VALID, 0.97), extend_edges=False)
    assert len(cards) == 1 and res.number.reveal() == VALID[1:]
    assert "edge_extension" not in res.timings_ms


@pytest.fixture(scope="module")
def left_cut():
    """The example card (BGR) inside a larger image, a detection whose left side falls 100 px inside the
    card (through the number's first digit and the name's first letter), and the card's number."""
    import cv2

    from cardlens.synth.examples import example_scene

    s = example_scene()
    w, h = CARD_W, 540
    card = cv2.warpPerspective(s.image, cv2.getPerspectiveTransform(np.float32(s.corners), quad(0, 0, w - 1, h - 1)),
                               (w, h))
    img = np.full((820, 1100, 3), 60, np.uint8)  # a camera frame's shape: never read whole
    img[80:80 + h, 120:120 + w] = cv2.cvtColor(card, cv2.COLOR_RGB2BGR)
    return img, CardDetection(quad(220, 80, 120 + w - 1, 80 + h - 1), 0.9, "fake"), s.card.spec.text.pan


def test_shipped_models_read_the_digits_the_detector_cut_off(left_cut):
    img, det, pan = left_cut
    off = CardScanner(locator=lambda _: det, extend_edges=False, second_cut=False).scan(img)
    assert off.number is None or off.number.reveal() != pan
    res = CardScanner(locator=lambda _: det).scan(img)
    assert "left edge" in res.notes[0]
    assert res.number is not None and res.number.reveal() == pan and res.number_accepted


@pytest.mark.parametrize("command", [["scan", "--json"], ["eval", "scan", "--json", "--no-progress"]])
def test_cli_edge_extension_switch(left_cut, tmp_path, monkeypatch, capsys, command):
    import json

    from cardlens import scanner
    from cardlens.cli import main

    img, det, pan = left_cut
    one_image_set(tmp_path, "left.png", img, pan, "photo")
    monkeypatch.setattr(scanner, "make_locator", lambda name="default": (lambda _: det))
    target = ["--data", str(tmp_path)] if "eval" in command else [str(tmp_path / "images" / "left.png")]
    for off in (False, True):
        assert main([*command, *(["--no-edge-extension", "--no-second-cut"] if off else []), *target]) == 0
        out = json.loads(capsys.readouterr().out)
        assert pan not in json.dumps(out)
        if "eval" in command:
            assert out[0]["overall"]["number_exact"] == (0.0 if off else 1.0)
        else:
            assert ("left edge" in out["notes"][0]) is not off
