"""A card whose reading gave no accepted number is cut again with a wider margin and read again."""

from dataclasses import replace

import numpy as np

from cardlens.cardrules.expiry import Expiry
from cardlens.detector.types import CardDetection
from cardlens.scanner import SECOND_CUT_MARGIN, CardScanner
from tests.test_cut_card import OrderedReader, quad
from tests.test_edge_extension import left_cut  # noqa: F401  (fixture)
from tests.test_frame_fallback import OTHER, VALID, reading


def dated(r, text: str = "09/31"):
    """Reading ``r`` with a date found."""
    month, year = text.split("/")
    return replace(r, fields=replace(r.fields, expiry=Expiry(int(month), 2000 + int(year), text)))


def second_cut_scan(*readings, **kw):
    img = np.full((480, 640, 3), 90, np.uint8)
    det = CardDetection(quad(100, 80, 600, 395), 0.8, "fake")
    reader = OrderedReader(*readings)
    return CardScanner(locator=lambda _: det, reader=reader, **kw).scan(img), reader.cards


def test_an_unaccepted_reading_is_cut_again_and_an_accepted_one_there_wins():
    res, cards = second_cut_scan(reading(VALID, 0.6), reading(VALID, 0.97))
    assert len(cards) == 2
    assert res.number.reveal() == VALID and res.number_accepted
    assert "cut again" in res.notes[0] and "second_cut" in res.timings_ms
    assert res.corners[0] == (100.0, 80.0)  # the detector's card: only the cut around it is wider


def test_the_second_cut_is_kept_only_when_its_number_is_accepted():
    # a confident reading that fails Luhn is not accepted: the first reading stays, as read
    res, cards = second_cut_scan(reading(VALID, 0.6), reading(OTHER[:-1] + "0", 0.99))
    assert len(cards) == 2
    assert res.number.reveal() == VALID and not res.number_accepted
    assert not any("cut again" in n for n in res.notes)
    res, cards = second_cut_scan(reading(None, 0.0), reading(VALID, 0.5))
    assert len(cards) == 2 and res.number is None


def test_an_accepted_dated_reading_or_the_switch_off_reads_once():
    res, cards = second_cut_scan(dated(reading(VALID, 0.97)), reading(OTHER, 0.99))
    assert len(cards) == 1 and res.number.reveal() == VALID and str(res.expiry) == "09/31"
    res, cards = second_cut_scan(reading(VALID, 0.6), reading(VALID, 0.97), second_cut=False)
    assert len(cards) == 1 and not res.number_accepted and "second_cut" not in res.timings_ms


def test_a_reading_without_a_date_takes_the_second_cuts_date_only_when_both_read_the_same_number():
    # same number, accepted both times: the date is taken, the first reading's number kept
    res, cards = second_cut_scan(reading(VALID, 0.97), dated(reading(VALID, 0.95)))
    assert len(cards) == 2 and str(res.expiry) == "09/31" and res.number.reveal() == VALID
    assert any("no date found" in n for n in res.notes)
    # the same specimen number failing Luhn both times: its date is taken as well
    spec = VALID[:-1] + "0"
    res, _ = second_cut_scan(reading(spec, 0.97), dated(reading(spec, 0.97)))
    assert str(res.expiry) == "09/31" and not res.number_accepted
    # the second cut read another number: its date is not this card's reading
    res, _ = second_cut_scan(reading(VALID, 0.97), dated(reading(OTHER, 0.97)))
    assert res.expiry is None and res.number.reveal() == VALID
    # accepted once, not the other time: not the same reading either
    res, _ = second_cut_scan(reading(VALID, 0.97), dated(reading(VALID, 0.6)))
    assert res.expiry is None


def test_shipped_models_read_the_number_again_with_the_wider_cut(left_cut):  # noqa: F811
    # the detection's left side falls through the number's first digit; without the edge extension the
    # 3 % card margin still cuts it, the second cut's wider margin takes it in
    img, det, pan = left_cut
    assert SECOND_CUT_MARGIN > 0.03
    off = CardScanner(locator=lambda _: det, extend_edges=False, second_cut=False).scan(img)
    assert off.number is None or off.number.reveal() != pan or not off.number_accepted
    res = CardScanner(locator=lambda _: det, extend_edges=False).scan(img)
    assert res.number is not None and res.number.reveal() == pan and res.number_accepted
    assert "cut again" in res.notes[0]
