from cardlens.ocr.fields import TextBox, assemble_fields, group_lines


def box(x0, y0, x1, y1, text, conf=0.9):
    return TextBox(((x0, y0), (x1, y0), (x1, y1), (x0, y1)), text, conf)


CARD = (856, 540)


def test_front_layout_reads_number_expiry_name():
    boxes = [
        box(40, 30, 300, 80, "FIRST DEMO BANK"),
        box(60, 270, 200, 320, "4111"), box(230, 270, 370, 320, "1111"),
        box(400, 270, 540, 320, "1111"), box(570, 270, 710, 320, "1111", 0.7),
        box(250, 360, 330, 380, "MEMBER SINCE"), box(340, 355, 420, 385, "04/19"),
        box(450, 360, 520, 380, "VALID THRU"), box(530, 355, 610, 385, "12/29"),
        box(60, 430, 360, 470, "JANE Q CARDHOLDER"),
        box(600, 440, 800, 500, "VISA"),
    ]
    f = assemble_fields(boxes, CARD)
    assert f.number.reveal() == "4111111111111111" and f.number.valid and f.number.brand == "visa"
    assert f.number.confidence == 0.7
    assert str(f.expiry) == "12/29" and f.expiry.label == "VALID THRU"
    assert f.name.value == "JANE Q CARDHOLDER"


def test_specimen_number_is_kept_as_read_and_flagged():
    boxes = [box(60, 270, 700, 320, "4000 1234 5678 9010")]
    f = assemble_fields(boxes, CARD)
    assert f.number.reveal() == "4000123456789010"
    assert not f.number.luhn_valid and not f.number.valid


def test_lookalike_letters_in_digit_tokens():
    f = assemble_fields([box(60, 270, 700, 320, "4111 1lll 1111 11I1")], CARD)
    assert f.number.reveal() == "4111111111111111"


def test_words_are_not_turned_into_numbers():
    f = assemble_fields([box(60, 270, 700, 320, "BOSS GOLD SILO ZOO"), box(60, 330, 700, 360, "DEBIT")], CARD)
    assert f.number is None and f.name is None


def test_stacked_quick_read_groups():
    boxes = [box(500, 100 + 60 * i, 620, 140 + 60 * i, g) for i, g in enumerate(["5555", "5555", "5555", "4444"])]
    f = assemble_fields(boxes, CARD)
    assert f.number.reveal() == "5555555555554444" and f.number.valid


def test_dates_are_not_numbers_and_short_strings_ignored():
    f = assemble_fields([box(60, 270, 300, 320, "12/29"), box(60, 330, 300, 360, "123456")], CARD)
    assert f.number is None and str(f.expiry) == "12/29"


def test_lines_grouping_order():
    lines = group_lines([box(300, 100, 400, 130, "B"), box(10, 102, 100, 128, "A"), box(10, 10, 100, 40, "T")])
    assert [[b.text for b in line] for line in lines] == [["T"], ["A", "B"]]


def test_name_with_digit_lookalikes_and_brand_on_same_line():
    boxes = [box(60, 270, 700, 320, "4426 2030 8450 8884"),
             box(51, 440, 122, 477, "MEI"), box(133, 439, 283, 475, "0' NEILL"), box(669, 441, 835, 509, "VISA")]
    f = assemble_fields(boxes, CARD)
    assert f.name.value == "MEI O' NEILL"


def test_mostly_digit_tokens_are_not_names():
    f = assemble_fields([box(60, 270, 700, 320, "4426 2030 8450 8884"), box(51, 440, 300, 477, "1800 555 0199")],
                        CARD)
    assert f.name is None
