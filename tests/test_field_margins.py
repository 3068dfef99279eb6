"""Fields read at several crop margins: the surest name and date kept (and no further margin read once
one is sure), an unaccepted number tried again at the next margin and then at every margin combined."""

import numpy as np

from cardlens.ocr.card_reader import (
    DATE_SURE_SHARE,
    EXPIRY_PADS_X,
    MIN_NAME_CHAR_CONFIDENCE,
    NAME_PADS_X,
    NAME_SURE_CHAR_CONFIDENCE,
    NUMBER_PADS_X,
    CardReader,
)
from cardlens.ocr.charset import CHARSET
from cardlens.ocr.field_locator import FieldBox
from tests.test_frame_fallback import VALID


def probs_for(text: str, weakest: float, alphabet: str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
              rest: float = 0.95) -> np.ndarray:
    """Per-frame probabilities that read ``text``, every character at ``rest`` but the first at ``weakest``
    (the rest spread over the other characters of ``alphabet``, which the field's alphabet allows too);
    each character is followed by a blank frame."""
    rows = []
    for i, ch in enumerate(text):
        p = weakest if i == 0 else rest
        others = [CHARSET.index(c) + 1 for c in alphabet if c != ch]
        row = np.zeros(len(CHARSET) + 1)
        row[others] = (1 - p) / len(others)
        row[CHARSET.index(ch) + 1] = p
        rows.append(row)
        blank = np.full(len(CHARSET) + 1, 1e-4)
        blank[0] = 1.0
        rows.append(blank / blank.sum())
    return np.array(rows)


class MarginRecognizer:
    """Reads the i-th crop it is given as ``readings[i]`` (text, first character's and, optionally, the
    other characters' probability), recording the crops' widths."""

    def __init__(self, readings, alphabet: str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"):
        self.readings, self.widths, self.alphabet = list(readings), [], alphabet

    def probabilities(self, crop):
        self.widths.append(crop.shape[1])
        text, weakest, *rest = self.readings[len(self.widths) - 1]
        return probs_for(text, weakest, self.alphabet, *rest)


def read_name(readings):
    reader = CardReader.__new__(CardReader)
    reader.recognizer = MarginRecognizer(readings)
    card = np.full((540, 856, 3), 200, np.uint8)
    name = reader._name(card, [FieldBox("name", (100.0, 400.0, 400.0, 430.0), 0.8)])
    return name, reader.recognizer.widths


def test_the_margin_whose_weakest_character_is_surest_wins():
    assert len(NAME_PADS_X) == 4
    # readings in the order of NAME_PADS_X (0.5, 0.3, 0.7, 0.15 box heights): the widest crop took in a
    # mark before the name, the tightest clipped its first letter
    name, widths = read_name([("JOHN SMITH", 0.8), ("JOHN SMITH", 0.9), ("IJOHN SMITH", 0.5), ("OHN SMITH", 0.6)])
    assert name.value == "JOHN SMITH" and abs(name.confidence - 0.9) < 1e-6
    # one crop per margin, each as wide as its margin (the margins are box heights either side)
    assert len(widths) == 4 and list(np.argsort(widths)) == list(np.argsort(NAME_PADS_X))
    assert max(widths) - min(widths) > 30


def test_a_name_read_alike_at_two_margins_beats_a_surer_one_read_once():
    # the tight crop clipped the first letter and is surest; the two wider crops agree on the whole name
    name, _ = read_name([("JAMES PETROV", 0.5), ("AMES PETROV", 0.8), ("JAMES PETROV", 0.45), ("AMES PETROW", 0.6)])
    assert name.value == "JAMES PETROV" and abs(name.confidence - 0.5) < 1e-6
    # agreement counts only among readings sure enough to be names at all
    low = MIN_NAME_CHAR_CONFIDENCE - 0.05
    name, _ = read_name([("JAMES PETROV", low), ("AMES PETROV", 0.8), ("JAMES PETROV", low), ("X", 0.4)])
    assert name.value == "AMES PETROV"
    # with no two alike, the surest weakest character decides as before
    name, _ = read_name([("JAMES PETROV", 0.5), ("AMES PETROV", 0.8), ("JAMES PETRO", 0.45), ("X", 0.4)])
    assert name.value == "AMES PETROV"


def test_a_sure_name_ends_the_margin_loop():
    sure = NAME_SURE_CHAR_CONFIDENCE + 0.01
    name, widths = read_name([("JOHN SMITH", sure, sure), ("JOHN SMITHS", 0.999, 0.999)] * 2)
    assert name.value == "JOHN SMITH" and len(widths) == 1
    # sure only at the second margin: two crops read
    name, widths = read_name([("JOHN SMITH", 0.9), ("JOHN SMITH", sure, sure), ("X", 0.999, 0.999), ("Y", 1, 1)])
    assert name.value == "JOHN SMITH" and name.confidence >= NAME_SURE_CHAR_CONFIDENCE and len(widths) == 2


def test_no_margin_sure_enough_gives_no_name():
    low = MIN_NAME_CHAR_CONFIDENCE - 0.05
    name, widths = read_name([("JOHN SMITH", low)] * 4)
    assert name is None and len(widths) == 4


def read_expiry_field(readings):
    """(date, non-date as printed, crop widths) when the expiry box's crops, one per margin of
    ``EXPIRY_PADS_X`` in order, read ``readings``."""
    reader = CardReader.__new__(CardReader)
    reader.recognizer, reader.beam = MarginRecognizer(readings, "0123456789"), 16
    card = np.full((540, 856, 3), 200, np.uint8)
    date, printed = reader._expiry(card, [FieldBox("expiry", (500.0, 350.0, 600.0, 380.0), 0.8)])
    assert date is None or printed is None
    return date, printed, reader.recognizer.widths


def read_expiry(readings):
    date, _, widths = read_expiry_field(readings)
    return date, widths


def test_the_expiry_margin_whose_date_holds_most_of_its_beams_wins():
    assert len(EXPIRY_PADS_X) == 3
    # the tight crop lost the leading 1; the middle one reads 12/39 unsurely, the wide one 12/38 surely
    date, widths = read_expiry([("2/38", 0.9), ("12/39", 0.5), ("12/38", 0.95)])
    assert date is not None and date.text == "12/38" and (date.month, date.year) == (12, 2038)
    assert len(widths) == 3 and widths == sorted(widths)
    # no crop holds a date: none
    date, _ = read_expiry([("13/38", 0.9), ("00/38", 0.9), ("99/99", 0.9)])
    assert date is None


def test_a_sure_date_ends_the_margin_loop():
    date, widths = read_expiry([("12/38", 0.9999, 0.9999), ("12/39", 0.9999, 0.9999), ("12/37", 0.9999, 0.9999)])
    assert date.text == "12/38" and date.confidence >= DATE_SURE_SHARE * 0.8 and len(widths) == 1
    # unsure at the first margin: the next ones are read and the surest kept
    date, widths = read_expiry([("12/38", 0.5), ("12/39", 0.9999, 0.9999), ("12/37", 0.6)])
    assert date.text == "12/39" and len(widths) == 2


def test_crops_unsure_of_their_dates_are_read_together():
    # s56 #128: the middle crop lost the leading 1 and reads 2/25 (February) surest of the three; the crops
    # read together (each candidate scored by the product of its CTC probabilities) agree on 12/25
    date, widths = read_expiry([("12/25", 0.6), ("2/25", 0.9), ("12/25", 0.55)])
    assert date is not None and date.text == "12/25" and len(widths) == 3
    # the crops read together give a date only when their most probable reading is one: no date is made up
    # from three crops that read none ("03/38" halfway between 13/38 and 00/38)
    date, _ = read_expiry([("13/38", 0.9), ("00/38", 0.9), ("99/99", 0.9)])
    assert date is None


def test_a_box_read_surely_as_a_non_date_reports_it_as_printed_never_as_the_expiry():
    # a specimen card's 88/88, read alike by every crop: no expiry, and the printed text flagged as no date
    date, printed, widths = read_expiry_field([("88/88", 0.99, 0.99)] * 3)
    assert date is None and len(widths) == 3
    assert printed is not None and printed.text == "88/88" and printed.confidence > 0.9 * 0.8
    assert printed.to_dict()["is_date"] is False
    # read unsurely, or read as no MM/YY at all: nothing is reported
    assert read_expiry_field([("88/88", 0.99, 0.4)] * 3)[:2] == (None, None)
    assert read_expiry_field([("8888", 0.99, 0.99)] * 3)[:2] == (None, None)
    # the crops disagree (88/88, 88/38, 38/88): read together they are sure of none
    assert read_expiry_field([("88/88", 0.6, 0.99), ("88/38", 0.6, 0.99), ("38/88", 0.6, 0.99)])[:2] == (None, None)
    # a date on any crop wins: the non-date is not reported beside it
    date, printed, _ = read_expiry_field([("88/88", 0.99, 0.99), ("08/28", 0.9), ("88/88", 0.99, 0.99)])
    assert date is not None and date.text == "08/28" and printed is None


def read_number_line(readings):
    """The reader's number when its number line's crops, one per margin of ``NUMBER_PADS_X`` in order,
    read ``readings`` (text, first digit's probability), the notes, and the widths of the crops it cut."""
    reader = CardReader.__new__(CardReader)
    reader.beam, reader.min_confidence, reader.min_char_confidence = 16, 0.9, 0.5
    reader.confirmed_min_confidence = 0.5
    reader.recognizer = MarginRecognizer(readings, "0123456789")
    card = np.full((540, 856, 3), 200, np.uint8)
    decision, notes = reader._number(card, [FieldBox("number", (60.0, 250.0, 700.0, 290.0), 0.8)])
    return decision, notes, reader.recognizer.widths


def test_an_unaccepted_number_is_read_again_at_the_next_margin():
    _, second = NUMBER_PADS_X
    # accepted at once: one crop read
    decision, _, widths = read_number_line([(VALID, 0.97), (VALID[:-1] + "8", 0.4)])
    assert decision.accepted and len(widths) == 1
    # not accepted: the accepted reading at the next margin takes its place, and says so
    decision, notes, widths = read_number_line([(VALID, 0.4), (VALID, 0.97)])
    assert decision.accepted and decision.number.reveal() == VALID and len(widths) == 2 and widths[0] < widths[1]
    assert f"{second:g} box heights wide" in notes[-1]
    # no number field: nothing read
    reader = CardReader.__new__(CardReader)
    reader.recognizer = MarginRecognizer([])
    assert reader._number(np.zeros((540, 856, 3), np.uint8), [])[0] is None and not reader.recognizer.widths


def test_a_number_no_margin_accepts_alone_may_be_accepted_from_its_crops_combined():
    assert len(NUMBER_PADS_X) == 2
    # each look holds 0.8 of its beams for the same digits, too little alone: together they are sure,
    # and no crop is recognized twice
    decision, notes, widths = read_number_line([(VALID, 0.8), (VALID, 0.8)])
    assert decision.accepted and decision.number.reveal() == VALID and decision.number.confidence > 0.95
    assert len(widths) == 2 and "combined" in notes[-1]
    # the other look reads something else: the first reading stands as read, not accepted
    decision, _, _ = read_number_line([(VALID, 0.8), ("5" + VALID[1:], 0.8)])
    assert not decision.accepted and decision.number.reveal() == VALID and decision.number.confidence < 0.9
    # a Luhn-failing reading is never accepted, however surely both looks agree on it
    spec = VALID[:-1] + "8"
    decision, _, _ = read_number_line([(spec, 0.8), (spec, 0.8)])
    assert not decision.accepted and decision.number.reveal() == spec


def test_reading_every_margin_is_a_switch():
    sure = NAME_SURE_CHAR_CONFIDENCE + 0.01
    reader = CardReader.__new__(CardReader)
    assert reader.stop_when_sure  # the default, also for readers built without __init__
    reader.stop_when_sure = False
    reader.recognizer = MarginRecognizer([("JOHN SMITH", sure, sure)] + [("JOHN SMITH", 0.9)] * 3)
    card = np.full((540, 856, 3), 200, np.uint8)
    name = reader._name(card, [FieldBox("name", (100.0, 400.0, 400.0, 430.0), 0.8)])
    assert name.value == "JOHN SMITH" and abs(name.confidence - sure) < 1e-6
    assert len(reader.recognizer.widths) == len(NAME_PADS_X)
    reader.recognizer, reader.beam = MarginRecognizer([("12/38", 0.9999, 0.9999)] * 3, "0123456789"), 16
    date, _ = reader._expiry(card, [FieldBox("expiry", (500.0, 350.0, 600.0, 380.0), 0.8)])
    assert date.text == "12/38" and len(reader.recognizer.widths) == len(EXPIRY_PADS_X)


def test_cli_read_every_margin_reaches_the_reader(tmp_path, monkeypatch, capsys):
    import cv2

    from cardlens import scan_eval
    from cardlens.cli import main
    from tests.conftest import EXAMPLE_IMAGE
    from tests.test_frame_fallback import one_image_set

    one_image_set(tmp_path, "card.jpg", cv2.imread(str(EXAMPLE_IMAGE)), VALID, "photo")
    built, make = [], scan_eval.make_engine

    def spy(*args):
        scanner = make(*args)
        built.append(scanner.reader.stop_when_sure)
        return scanner

    monkeypatch.setattr(scan_eval, "make_engine", spy)
    for every in (False, True):
        assert main(["eval", "scan", "--json", "--no-progress", "--data", str(tmp_path),
                     *(["--read-every-margin"] if every else [])]) == 0
        capsys.readouterr()
    assert built == [True, False]


def read_line_then_groups(line_text, group_texts, group_share=0.9999, line_share=0.6):
    """The reader's number when, at every margin, the number line reads ``line_text`` (its first digit at
    ``line_share``, the rest surely) and its four digit groups, read apart, read ``group_texts`` (each
    character at ``group_share``)."""
    reader = CardReader.__new__(CardReader)
    reader.beam, reader.min_confidence, reader.min_char_confidence = 16, 0.9, 0.5
    reader.confirmed_min_confidence = 0.5
    readings = ([(line_text, line_share, 0.9999)] + [(t, group_share, group_share) for t in group_texts]) * len(NUMBER_PADS_X)
    reader.recognizer = MarginRecognizer(readings, "0123456789")
    line = FieldBox("number", (60.0, 250.0, 700.0, 290.0), 0.9)
    groups = [FieldBox("number_group", (70.0 + 160 * i, 252.0, 210.0 + 160 * i, 288.0), 0.8) for i in range(4)]
    card = np.full((540, 856, 3), 200, np.uint8)
    decision, notes = reader._number(card, [line, *groups])
    return decision, notes, len(reader.recognizer.widths)


def test_a_line_reading_not_accepted_gives_way_to_its_groups_read_apart_when_they_are_accepted():
    wrong = VALID[:5] + VALID[6:] + "7"  # the line lost a digit and gained one at the end: fails Luhn
    quads = [VALID[i:i + 4] for i in range(0, 16, 4)]
    decision, notes, crops = read_line_then_groups(wrong, quads)
    assert decision.accepted and decision.number.reveal() == VALID and crops == 5
    assert any("line's reading was not accepted" in n for n in notes)
    # groups that do not make an accepted number leave the line's reading as read (never corrected)
    spec = VALID[:-1] + "8"
    decision, notes, _ = read_line_then_groups(spec, [spec[i:i + 4] for i in range(0, 16, 4)])
    assert decision.number.reveal() == spec and not decision.accepted
    decision, _, _ = read_line_then_groups(wrong, quads, group_share=0.45)
    assert decision.number.reveal() == wrong and not decision.accepted
    # a line read surely that fails Luhn is what is printed (a specimen): its groups do not replace it
    decision, _, _ = read_line_then_groups(wrong, quads, line_share=0.9999)
    assert decision.number.reveal() == wrong and not decision.accepted
    # an accepted line is not read again by its groups
    decision, _, crops = read_line_then_groups(VALID, quads, line_share=0.9999)
    assert decision.accepted and crops == 1


def test_reading_every_margin_keeps_a_sure_date_over_the_crops_together():
    # --read-every-margin (no early stop) reads all three crops, but a margin sure of its date still stands:
    # the crops are read together only when none is sure, as with the early stop
    reader = CardReader.__new__(CardReader)
    readings = [("12/38", 0.999, 0.999), ("12/39", 0.6, 0.999), ("12/39", 0.6, 0.999)]
    reader.recognizer, reader.beam = MarginRecognizer(readings, "0123456789"), 16
    reader.stop_when_sure = False
    card = np.full((540, 856, 3), 200, np.uint8)
    date, _ = reader._expiry(card, [FieldBox("expiry", (500.0, 350.0, 600.0, 380.0), 0.8)])
    assert date.text == "12/38" and len(reader.recognizer.widths) == 3
