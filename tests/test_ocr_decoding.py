import numpy as np
import pytest

from cardlens.ocr.charset import BLANK, CHARSET, NUMBER_CHARS, allowed_classes, class_of, encode
from cardlens.ocr.ctc import Reading, beam_search, greedy, softmax
from cardlens.ocr.number_decoding import decide_number

VALID = "4111111111111111"      # passes Luhn
INVALID = "4111111111111112"    # one digit off: fails Luhn


def frames(text: str, per_char: int = 3, floor: float = 1e-4) -> np.ndarray:
    """Per-frame probabilities spelling ``text`` with blanks between characters."""
    p = np.full((len(text) * per_char, len(CHARSET) + 1), floor)
    for i, ch in enumerate(text):
        p[per_char * i, class_of(ch)] = 1.0
        p[per_char * i + 1:per_char * (i + 1), BLANK] = 1.0
    return p / p.sum(axis=1, keepdims=True)


def test_charset_roundtrip_and_unknown_characters():
    assert [CHARSET[c - 1] for c in encode("04/27 J.O'NEIL-X")] == list("04/27 J.O'NEIL-X")
    with pytest.raises(ValueError, match="outside the recognizer charset"):
        encode("é")


def test_greedy_collapses_repeats_only_without_a_blank_between():
    p = frames("1122")
    assert greedy(p).text == "1122"
    q = np.zeros((4, len(CHARSET) + 1))
    q[[0, 1], class_of("7")] = 1
    q[2, BLANK] = 1
    q[3, class_of("7")] = 1
    assert greedy(q).text == "77"


def test_beam_search_ranks_alternatives_by_probability():
    p = frames(VALID)
    last = 3 * 15
    p[last, :] = 1e-4
    p[last, class_of("1")], p[last, class_of("2")] = 0.3, 0.7
    beams = beam_search(p, allowed_classes(NUMBER_CHARS))
    assert beams[0].text == INVALID and beams[1].text == VALID
    assert beams[0].probability == pytest.approx(0.7, abs=0.02)
    assert len(beams[0].char_confidences) == 16


def test_beam_search_restricted_alphabet_ignores_letters():
    p = frames("12O4")  # a letter O where a digit belongs
    p[6, class_of("0")] = 0.2
    p = p / p.sum(axis=1, keepdims=True)
    assert beam_search(p, allowed_classes(NUMBER_CHARS))[0].text == "1204"


def test_confident_valid_number_is_accepted():
    d = decide_number([beam_search(frames(VALID), allowed_classes(NUMBER_CHARS))])
    assert d.accepted and d.number.valid and d.number.brand == "visa"
    assert VALID not in repr(d) and d.number.masked == "411111******1111"


def test_luhn_failing_top_reading_is_returned_as_read_never_corrected():
    p = frames(VALID)
    p[45, :] = 1e-4
    p[45, class_of("1")], p[45, class_of("2")] = 0.45, 0.55
    d = decide_number([beam_search(p, allowed_classes(NUMBER_CHARS))])
    assert d.number.reveal() == INVALID            # as read
    assert not d.accepted and not d.number.luhn_valid and "Luhn" in d.reason
    assert d.valid_alternative == pytest.approx(0.45, abs=0.03)  # reported, never substituted


def test_valid_but_unsure_reading_is_not_accepted():
    p = frames(VALID)
    p[45, :] = 1e-4
    p[45, class_of("1")], p[45, class_of("2")] = 0.6, 0.4
    d = decide_number([beam_search(p, allowed_classes(NUMBER_CHARS))], min_confidence=0.9)
    assert d.number.reveal() == VALID and d.number.valid and not d.accepted and "confidently" in d.reason


def _unsure(digits: str, share: float, other: str) -> list[Reading]:
    """``digits`` holding ``share`` of the beam, the rest split between ``other`` and a shorter reading."""
    rest = (1 - share) / 2
    return [Reading(digits, (0.9,) * len(digits), share), Reading(other, (0.9,) * len(other), rest),
            Reading(other[:-1], (0.9,) * (len(other) - 1), rest)]


def test_only_a_valid_reading_refused_for_its_share_alone_may_be_confirmed():
    from cardlens.ocr.number_decoding import confirmable, confirmed

    unsure = decide_number([_unsure(VALID, 0.6, INVALID)])
    assert not unsure.accepted and confirmable(unsure)
    ok = confirmed(unsure)
    assert ok.accepted and "confirmed" in ok.reason and ok.number == unsure.number
    assert not confirmable(decide_number([_unsure(VALID, 0.45, INVALID)]))     # under the floor (0.5)
    assert not confirmable(decide_number([_unsure(INVALID, 0.8, VALID)]))     # fails Luhn: never
    assert not confirmable(decide_number([_unsure(VALID, 0.95, INVALID)]))    # already accepted
    shaky = decide_number([[Reading(VALID, (0.9,) * 15 + (0.3,), 0.7), Reading(INVALID, (0.9,) * 16, 0.3)]])
    assert not confirmable(shaky)                                             # a character under 0.5


def test_a_number_shorter_than_its_prefix_issues_is_not_confirmed_by_its_groups():
    from cardlens.cardrules import luhn_check_digit
    from cardlens.ocr.number_decoding import confirmable

    # 6223 1452 6568: the first 12 digits of a UnionPay/Discover number whose last group a finger hid;
    # they pass Luhn and a 12-digit Maestro length, which is how one was once accepted at 0.60
    cut = "622314526568"
    maestro = "68878147719" + luhn_check_digit("68878147719")   # a 12-digit Maestro no other brand claims
    assert not confirmable(decide_number([_unsure(cut, 0.6, cut[:-1] + "0")]))
    assert confirmable(decide_number([_unsure(maestro, 0.6, maestro[:-1] + "0")]))


def test_a_number_shorter_than_its_prefix_issues_is_never_accepted_however_sure():
    from cardlens.cardrules import luhn_check_digit

    # the same cut UnionPay number read at 0.97 of the beam, every digit sure (s54 image 0000391 with the
    # consensus edge fitting): returned as read, not accepted
    cut = "622314526568"
    decision = decide_number([_unsure(cut, 0.97, cut[:-1] + "0")])
    assert decision.number.reveal() == cut and decision.number.valid
    assert not decision.accepted and "a group may be hidden" in decision.reason
    maestro = "68878147719" + luhn_check_digit("68878147719")   # no other brand claims 6887: accepted
    assert decide_number([_unsure(maestro, 0.97, maestro[:-1] + "0")]).accepted


def test_a_number_whose_last_group_is_one_digit_is_neither_accepted_nor_confirmed():
    from cardlens.cardrules import luhn_check_digit
    from cardlens.ocr.number_decoding import confirmable

    # s56 image 0000392: 6273 7972 6834 7323 59 under glare, its group box ending after the 5; the 17 digits
    # left pass Luhn and a UnionPay length, and its groups read apart lost the 9 as well
    cut = "6273797268347323" + luhn_check_digit("6273797268347323")
    spaced = f"{cut[:4]} {cut[4:8]} {cut[8:12]} {cut[12:16]} {cut[16]}"
    for share in (0.6, 0.97):
        d = decide_number([[Reading(spaced, (0.9,) * len(spaced), share),
                            Reading(spaced[:-1] + "0", (0.9,) * len(spaced), 1 - share)]])
        assert d.number.reveal() == cut and d.number.valid and d.groups == (4, 4, 4, 4, 1)
        assert not d.accepted and "single digit" in d.reason and not confirmable(d)
    # the same digits read as one 4-4-4-5 group layout (UnionPay's 17-digit print): accepted when sure
    whole = f"{cut[:4]} {cut[4:8]} {cut[8:12]} {cut[12:]}"
    assert decide_number([[Reading(whole, (0.9,) * len(whole), 0.97),
                           Reading(whole[:-1] + "0", (0.9,) * len(whole), 0.03)]]).accepted


@pytest.mark.parametrize(("line", "groups", "accepted"), [
    ((VALID, 0.7, INVALID), ("4111", "1111", "1111", "1111"), "confirmed"),  # the groups read the same digits
    ((VALID, 0.7, INVALID), ("4111", "1111", "1111", "1117"), None),     # they disagree: refused
    ((VALID, 0.7, INVALID), ("4111", "1111", "1111"), None),             # a group missing: refused
    ((INVALID, 0.7, VALID), ("4111", "1111", "1111", "1112"), None),     # fails Luhn: as read, never accepted
    # too unsure to be confirmed; the groups, read apart and sure (share 1.0), are accepted on their own
    ((VALID, 0.45, INVALID), ("4111", "1111", "1111", "1111"), "groups"),
])
def test_an_unsure_number_line_is_accepted_only_when_its_groups_read_apart_agree(line, groups, accepted):
    from cardlens.ocr.card_reader import CardReader
    from cardlens.ocr.field_locator import FieldBox

    reader = CardReader.__new__(CardReader)  # no models: the beams are given
    reader.min_confidence, reader.min_char_confidence, reader.confirmed_min_confidence = 0.9, 0.5, 0.5
    line_box = FieldBox("number", (20.0, 100.0, 420.0, 130.0), 0.9)
    group_boxes = [FieldBox("number_group", (20.0 + 100 * i, 100.0, 110.0 + 100 * i, 130.0), 0.8)
                   for i in range(len(groups))]
    by_box = {line_box.box: _unsure(*line)}
    by_box.update({b.box: [Reading(g, (0.95,) * 4, 1.0)] for b, g in zip(group_boxes, groups, strict=True)})

    def beams(card, box, chars, *turn, **how):  # the line box comes back grown over its groups
        return by_box[line_box.box if box.kind == "number" else box.box]

    reader._beams = beams
    decision, notes = reader._number(np.zeros((540, 856, 3), np.uint8), [line_box, *group_boxes])
    assert decision.number.reveal() == line[0] and decision.accepted is (accepted is not None)
    assert ("confirmed" in decision.reason) is (accepted == "confirmed")
    assert any("line's reading was not accepted" in n for n in notes) is (accepted == "groups")


def test_stacked_groups_combine_in_reading_order():
    segs = [beam_search(frames(g), allowed_classes(NUMBER_CHARS)) for g in ("4111", "1111", "1111", "1111")]
    d = decide_number(segs)
    assert d.accepted and d.groups == (4, 4, 4, 4) and d.number.reveal() == VALID


@pytest.mark.parametrize("text", ["1234", "12345678901234567890", ""])
def test_not_a_card_number_length_gives_none(text):
    assert decide_number([[Reading(text, (1.0,) * len(text), 1.0)]]) is None


def test_softmax_rows_sum_to_one():
    s = softmax(np.random.default_rng(0).normal(size=(7, 42)) * 20)
    np.testing.assert_allclose(s.sum(axis=1), 1.0)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 60), st.just(len(CHARSET) + 1)),
              elements=st.floats(0, 30, allow_nan=False)))
def test_decoding_random_logits_never_accepts_an_invalid_number(logits):
    beams = beam_search(softmax(logits), allowed_classes(NUMBER_CHARS), beam=8)
    assert beams and all(set(b.text) <= set(NUMBER_CHARS) for b in beams)
    assert abs(sum(b.probability for b in beams) - 1.0) < 1e-6
    d = decide_number([beams])
    if d is not None:
        assert d.number.reveal().isdigit() and 12 <= len(d.number) <= 19
        assert not d.accepted or (d.number.valid and d.number.confidence >= 0.9)


@settings(max_examples=60, deadline=None)
@given(st.text("0123456789", min_size=14, max_size=14), st.booleans(), st.integers(1, 9),
       st.floats(1e-4, 0.004), st.integers(0, 2 ** 32 - 1))
def test_a_confidently_read_number_comes_back_as_read_and_is_accepted_only_when_valid(body, valid, off, noise,
                                                                                       seed):
    """Confident, noisy readings of 4-prefixed 16-digit numbers (Visa's length), half of them passing Luhn:
    every example reaches the decision, and both branches run. A number failing Luhn comes back as read
    and refused (never 'corrected' into a valid one); one passing Luhn is accepted."""
    from cardlens.cardrules.luhn import luhn_check_digit  # checked on known numbers in test_cardrules

    check = luhn_check_digit("4" + body)
    text = "4" + body + (check if valid else str((int(check) + off) % 10))
    p = frames(text)
    p = p + np.random.default_rng(seed).uniform(0, noise, p.shape)
    p /= p.sum(axis=1, keepdims=True)
    d = decide_number([beam_search(p, allowed_classes(NUMBER_CHARS), beam=8)])
    assert d is not None and d.number.reveal() == text
    assert d.accepted == valid == d.number.luhn_valid
    assert not d.accepted or d.number.confidence >= 0.9


def test_number_line_box_grows_to_cover_its_row_of_digit_groups():
    from cardlens.ocr.card_reader import _extend_to_groups
    from cardlens.ocr.field_locator import FieldBox

    line = FieldBox("number", (40.0, 200.0, 400.0, 240.0), 0.9)
    groups = [FieldBox("number_group", (40.0, 198.0, 140.0, 240.0), 0.9),
              FieldBox("number_group", (330.0, 195.0, 452.0, 242.0), 0.9),   # the line stopped short of it
              FieldBox("number_group", (40.0, 300.0, 120.0, 330.0), 0.9)]    # another row: ignored
    grown = _extend_to_groups(line, groups)
    assert grown.box == (40.0, 195.0, 452.0, 242.0) and grown.kind == "number" and grown.confidence == 0.9
    assert _extend_to_groups(line, groups[2:]) == line


def test_a_slightly_tilted_number_line_stays_one_row_and_stacked_rows_stay_two():
    from cardlens.ocr.card_reader import _rows
    from cardlens.ocr.field_locator import FieldBox

    # four groups on one line rising 9 px per group (a tilted card): one row, left to right
    tilted = [FieldBox("number_group", (43.0 + 108 * i, 646.0 - 9 * i, 128.0 + 108 * i, 674.0 - 9 * i), 0.8)
              for i in range(4)]
    rows = _rows(tilted[::-1])
    assert len(rows) == 1 and [b.box[0] for b in rows[0]] == [43.0, 151.0, 259.0, 367.0]
    # a "quick read" layout: two rows of two groups, a group height apart
    stacked = [FieldBox("number_group", (x, y, x + 90.0, y + 28.0), 0.8) for y in (600.0, 640.0) for x in (40.0, 150.0)]
    assert [[b.box[:2] for b in r] for r in _rows(stacked)] == [[(40.0, 600.0), (150.0, 600.0)],
                                                               [(40.0, 640.0), (150.0, 640.0)]]


def test_a_turned_card_must_read_clearly_better_to_overrule_the_detectors_orientation():
    from cardlens.cardrules.expiry import parse_expiry
    from cardlens.ocr.card_reader import CardReading, reading_score
    from cardlens.ocr.fields import CardFields
    from cardlens.ocr.number_decoding import NumberDecision
    from cardlens.results import CardName, CardNumber

    def reading(digits, conf, expiry, name, rotated):
        number = CardNumber.from_digits(digits, conf, (conf,) * len(digits)) if digits else None
        decision = NumberDecision(number, False, "fails Luhn (returned as read)", (len(digits),), 0.0) if digits else None
        fields = CardFields(number, parse_expiry(expiry) if expiry else None,
                            CardName(name, 0.9, (0.9,) * len(name)) if name else None)
        return CardReading(fields, decision, rotated=rotated)

    # upright: a slightly unsure number, its date and name; turned: upside-down digits read with more confidence
    upright = reading("4000123456189010", 0.19, "12/20", "CARDHOLDER NAME", rotated=False)
    turned = reading("006869518270", 0.41, None, None, rotated=True)
    assert reading_score(upright) > reading_score(turned)
    # a card that really is upside down: the upright reading finds nothing, the turned one the whole card
    assert reading_score(reading("", 0, None, None, False)) < reading_score(reading("4000123456789017", 0.6, "12/20", "A B", True))
    # a card without a number: the turned card's texture reads as digits at low confidence, no evidence
    assert reading_score(reading("", 0, "07/26", "A B", False)) > reading_score(reading("0690068601681006", 0.15, None, None, True))
    assert reading_score(reading("", 0, None, None, False)) >= reading_score(reading("0690068601681006", 0.2, None, "LLSE", True))
    # equal evidence keeps the detector's orientation
    assert reading_score(reading("4000123456789017", 0.5, None, None, False)) > reading_score(
        reading("4000123456789017", 0.5, None, None, True))


@pytest.mark.parametrize(("read", "tail"), [("510/21", "10/21"), ("7907/14", "07/14"), ("9 10/22", "10/22"),
                                            ("12/20", ""), ("12/9", ""), ("1234", "")])
def test_expiry_reading_with_a_stray_leading_mark_keeps_its_trailing_date(read, tail):
    from cardlens.ocr.card_reader import _date_tail

    assert _date_tail(read) == tail


def test_expiry_is_not_taken_from_an_improbable_reading():
    from cardlens.ocr.card_reader import CardReader
    from cardlens.ocr.field_locator import FieldBox

    reader = CardReader.__new__(CardReader)  # no models: the beams are given
    box = FieldBox("expiry", (0.0, 0.0, 50.0, 10.0), 0.9)

    def beams(*texts_and_mass):
        return lambda card, b, chars, *turn, **how: [Reading(t, (0.9,) * len(t), p) for t, p in texts_and_mass]

    reader._beams = beams(("12/9", 0.80), ("12/5", 0.16), ("12/26", 0.04))  # the only date holds 4 %
    assert reader._expiry(None, [box]) == (None, None)
    reader._beams = beams(("12/9", 0.80), ("12/26", 0.20))
    found, _ = reader._expiry(None, [box])
    assert str(found) == "12/26" and found.confidence == pytest.approx(0.2 * 0.9)


def test_a_stacked_number_whose_box_holds_a_row_more_than_was_read_is_refused():
    from cardlens.ocr.card_reader import _check_stacked_rows
    from cardlens.ocr.field_locator import FieldBox
    from cardlens.ocr.number_decoding import NumberDecision
    from cardlens.results import CardNumber

    decision = NumberDecision(CardNumber.from_digits(VALID, 0.99, (0.99,) * 16), True, "valid", (4, 4, 4, 4), 0.0)
    rows = [[FieldBox("number_group", (10, 50 + 48 * i, 150, 94 + 48 * i), 0.8)] for i in range(4)]
    box = FieldBox("number", (8, 46, 152, 242), 0.8)           # four rows and their margins
    assert _check_stacked_rows(decision, box, rows) is decision
    refused = _check_stacked_rows(decision, box, rows[1:])     # the top row not found
    assert not refused.accepted and "more rows" in refused.reason


def test_the_name_alphabet_is_what_the_name_rules_keep():
    """The reader once could not output '/', so every SURNAME/GIVEN name came back joined or with an A."""
    from cardlens.cardrules.names import NAME_CHARSET
    from cardlens.ocr.charset import CHARSET, NAME_CHARS

    assert set(NAME_CHARS) == set(NAME_CHARSET) and set(NAME_CHARS) <= set(CHARSET)
    p = frames("SMITH/JOHN")
    assert greedy(p, allowed_classes(NAME_CHARS)).text == "SMITH/JOHN"


@pytest.mark.parametrize(("box", "accepted"), [((60.0, 300.0, 780.0, 340.0), True),
                                               ((0.0, 300.0, 700.0, 340.0), False),     # cut at the left edge
                                               ((120.0, 300.0, 852.0, 340.0), False)])  # runs off the right one
def test_a_number_whose_box_touches_the_cards_edge_is_refused(box, accepted):
    from cardlens.ocr.card_reader import _check_inside_card
    from cardlens.ocr.field_locator import FieldBox
    from cardlens.ocr.number_decoding import NumberDecision
    from cardlens.results import CardNumber

    decision = NumberDecision(CardNumber.from_digits(VALID, 0.99, (0.99,) * 16), True, "valid", (4, 4, 4, 4), 0.0)
    out = _check_inside_card(decision, [FieldBox("number", box, 0.9)], 856)
    assert out.accepted is accepted and out.number == decision.number
    assert accepted or "edge" in out.reason


def test_a_date_taken_for_a_group_beside_stacked_rows_does_not_break_them():
    """s51 #25: four stacked groups in a tall number box, and the date beside the top row also located as a
    group; the top row counted two groups, the other rows one, and five groups let no one-group row in."""
    from cardlens.ocr.card_reader import _number_layout
    from cardlens.ocr.field_locator import FieldBox

    rows = [FieldBox("number_group", (58.0, 347.0 + 72 * i, 182.0, 398.0 + 72 * i), 0.85) for i in range(4)]
    line = FieldBox("number", (55.0, 364.0, 184.0, 590.0), 0.88)
    date = FieldBox("number_group", (297.0, 359.0, 397.0, 394.0), 0.64)
    got_line, groups, got_rows, stacked = _number_layout([line, *rows, date])
    assert stacked and got_line is line and date not in groups
    assert [[g.box for g in r] for r in got_rows] == [[g.box] for g in rows]
    assert _number_layout([line, *rows])[3]
    # a one-row number line with a tall box (turned) is not made stacked, and keeps all its groups
    level = [FieldBox("number_group", (60.0 + 110 * i, 300.0 + 6 * i, 160.0 + 110 * i, 330.0 + 6 * i), 0.8)
             for i in range(4)]
    turned = FieldBox("number", (58.0, 296.0, 480.0, 352.0), 0.9)
    _, groups, _, stacked = _number_layout([turned, *level])
    assert not stacked and groups == level


def test_ctc_log_likelihood_sums_every_alignment():
    """The forward algorithm against brute force: every path of 5 frames over blank, 1, 2 and space, each
    collapsed to its text, summed."""
    import itertools

    from cardlens.ocr.ctc import log_likelihoods

    allowed = allowed_classes("12 ")
    probs = softmax(np.random.default_rng(0).normal(size=(5, len(CHARSET) + 1)) * 2)
    p = probs[:, allowed] / probs[:, allowed].sum(axis=1, keepdims=True)
    exact: dict[str, float] = {}
    for path in itertools.product(range(len(allowed)), repeat=5):
        text, prev = "", None
        for k in path:
            if k and k != prev:
                text += CHARSET[allowed[k] - 1]
            prev = k
        exact[text] = exact.get(text, 0.0) + float(np.prod(p[np.arange(5), path]))
    texts = ["", "1", "11", "12", "2 1", "121", "1221", "111111"]
    got = np.exp(log_likelihoods(probs, allowed, texts))
    assert got == pytest.approx([exact.get(t, 0.0) for t in texts], rel=1e-9, abs=1e-15)
    assert got[-1] == 0.0  # six characters, three of them repeated, cannot fit in five frames


def unsure_digit(text: str, pos: int, p_right: float, wrong: str) -> np.ndarray:
    """``frames(text)`` with the character at ``pos`` read right at ``p_right`` and as ``wrong`` otherwise."""
    p = frames(text)
    p[3 * pos, :] = 1e-4
    p[3 * pos, class_of(text[pos])], p[3 * pos, class_of(wrong)] = p_right, 1 - p_right
    return p / p.sum(axis=1, keepdims=True)


def test_crops_that_agree_make_a_surer_reading_than_either_alone():
    from cardlens.ocr.ctc import combined_beams

    allowed = allowed_classes(NUMBER_CHARS)
    a, b = unsure_digit(VALID, 15, 0.8, "2"), unsure_digit(VALID, 15, 0.75, "7")
    single = [beam_search(p, allowed)[0] for p in (a, b)]
    assert all(r.text == VALID and r.probability < 0.9 for r in single)
    both = combined_beams([a, b], allowed)
    assert both[0].text == VALID and both[0].probability > 0.9
    assert sum(r.probability for r in both) == pytest.approx(1.0)
    # one crop: its own beam search, unchanged
    assert combined_beams([a], allowed) == beam_search(a, allowed)


def test_crops_that_disagree_leave_the_combined_reading_unsure():
    from cardlens.ocr.ctc import combined_beams

    allowed = allowed_classes(NUMBER_CHARS)
    a, b = unsure_digit(VALID, 15, 0.8, "2"), unsure_digit(VALID, 15, 0.2, "2")
    both = combined_beams([a, b], allowed)
    assert {both[0].text, both[1].text} == {VALID, INVALID}
    assert both[0].probability == pytest.approx(0.5, abs=0.01)
    assert not decide_number([both]).accepted
