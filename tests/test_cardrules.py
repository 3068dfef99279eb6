import datetime as dt
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cardlens.cardrules import (
    BRANDS,
    generate_pan,
    get_brand,
    group_digits,
    identify_brand,
    luhn_check_digit,
    luhn_valid,
    normalize_name,
    parse_expiry,
)
from cardlens.cardrules.expiry import find_dates

digits = st.text(alphabet="0123456789", min_size=1, max_size=30)


# Known numbers: the classic test PANs are valid, one changed digit is not.
@pytest.mark.parametrize("pan,valid", [
    ("4111111111111111", True), ("5555555555554444", True), ("378282246310005", True),
    ("6011111111111117", True), ("3530111333300000", True), ("30569309025904", True),
    ("4111111111111112", False), ("4000123456789010", False), ("0", True), ("1", False),
])
def test_luhn_known_numbers(pan, valid):
    assert luhn_valid(pan) is valid


@pytest.mark.parametrize("bad", ["", "4111 1111", "41a1", "٤١١١", None, 4111])
def test_luhn_rejects_non_digits(bad):
    assert luhn_valid(bad) is False


@given(digits)
def test_check_digit_round_trip(payload):
    assert luhn_valid(payload + luhn_check_digit(payload))


@given(digits, st.integers(0, 29), st.integers(1, 9))
def test_single_digit_error_is_detected(payload, pos, delta):
    pan = payload + luhn_check_digit(payload)
    pos %= len(pan)
    wrong = pan[:pos] + str((int(pan[pos]) + delta) % 10) + pan[pos + 1:]
    assert not luhn_valid(wrong)


@given(st.sampled_from(BRANDS), st.data(), st.integers(0, 2**32))
def test_generated_numbers_validate_and_map_back(brand, data, seed):
    length = data.draw(st.sampled_from(brand.lengths))
    pan = generate_pan(brand, length, random.Random(seed))
    assert len(pan) == length and luhn_valid(pan)
    match = identify_brand(pan)
    assert match.brand is brand and match.length_ok
    specimen = generate_pan(brand, length, random.Random(seed), luhn=False)
    assert not luhn_valid(specimen) and identify_brand(specimen).brand is brand


@pytest.mark.parametrize("pan,brand", [
    ("4111111111111111", "visa"), ("2221000000000009", "mastercard"), ("2720999999999996", "mastercard"),
    ("5105105105105100", "mastercard"), ("371449635398431", "amex"), ("6011000990139424", "discover"),
    ("6221260000000000", "discover"), ("6229250000000000", "discover"), ("6200000000000005", "unionpay"),
    ("3528000000000007", "jcb"), ("3589000000000003", "jcb"), ("30000000000004", "diners"),
    ("36000000000008", "diners"), ("2200000000000004", "mir"), ("2204000000000000", "mir"),
    ("6000000000000000", "rupay"), ("5080000000000000", "rupay"), ("8100000000000000", "rupay"),
    ("500000000000", "maestro"), ("6700000000000000000", "maestro"),
])
def test_brand_table_longest_prefix(pan, brand):
    assert identify_brand(pan).key == brand


def test_unknown_prefix_is_flagged_not_rejected():
    match = identify_brand("9999999999999995")
    assert match.brand is None and not match.known and match.key == "unknown"


def test_length_preference_and_flag():
    assert identify_brand("620000000000").key == "maestro"  # 12 digits: UnionPay does not issue these
    m = identify_brand("41111111111111")  # 14-digit Visa does not exist
    assert m.key == "visa" and not m.length_ok


@pytest.mark.parametrize("pan,expected", [
    ("4111111111111111", "4111 1111 1111 1111"), ("378282246310005", "3782 822463 10005"),
    ("30569309025904", "3056 930902 5904"), ("4111111111111111110", "4111 1111 1111 1111 110"),
])
def test_grouping(pan, expected):
    assert group_digits(pan) == expected


def test_grouping_covers_every_length_of_every_brand():
    for brand in BRANDS:
        for length in brand.lengths:
            for grouping in brand.groupings_for(length):
                assert sum(grouping) == length, (brand.key, length, grouping)


def test_get_brand_error_names_known_brands():
    with pytest.raises(ValueError, match="visa"):
        get_brand("vissa")


TODAY = dt.date(2026, 11, 30)


@pytest.mark.parametrize("text,month,year,label", [
    ("12/29", 12, 2029, None), ("12/2029", 12, 2029, None), ("07-28", 7, 2028, None),
    ("VALID THRU 05/30", 5, 2030, "VALID THRU"), ("GOOD THRU 1/27", 1, 2027, "GOOD THRU"),
    ("EXPIRES END 11/2031", 11, 2031, "EXPIRES END"), ("MONTH/YEAR 03/33", 3, 2033, "MONTH/YEAR"),
    ("MEMBER SINCE 04/09 VALID THRU 12/27", 12, 2027, "VALID THRU"),
    ("VALID FROM 01/22 VALID THRU 01/27", 1, 2027, "VALID THRU"),
    ("01/22 09/27", 9, 2027, None),  # unlabelled: the latest date
    ("VALID\nTHRU 10/29", 10, 2029, "VALID THRU"),
])
def test_expiry_parsing(text, month, year, label):
    e = parse_expiry(text, TODAY)
    assert (e.month, e.year, e.label) == (month, year, label)
    assert str(e) == f"{month:02d}/{year % 100:02d}"


@pytest.mark.parametrize("text", ["MEMBER SINCE 04/19", "VALID FROM 01/25", "13/27", "00/27", "12/47", "12/2099",
                                  "no date here", "4111 1111 1111 1111", ""])
def test_expiry_rejects_distractors_and_implausible(text):
    assert parse_expiry(text, TODAY) is None


def test_expired_flag():
    assert parse_expiry("10/26", TODAY).expired
    assert not parse_expiry("11/26", TODAY).expired  # valid through the end of the month


def test_two_digit_years_never_lie_more_than_20_years_ahead():
    old = parse_expiry("VALID THRU 12/99", TODAY)  # printed on an old specimen card: December 1999
    assert (old.month, old.year, old.expired, str(old)) == (12, 1999, True, "12/99")
    assert parse_expiry("12/46", TODAY).year == 2046
    assert parse_expiry("12/47", TODAY) is None  # 1947: before any card expiry (MIN_YEAR)
    assert parse_expiry("12/47", dt.date(2030, 1, 1)).year == 2047


def test_distractor_roles():
    roles = {c.text: c.role for c in find_dates("MEMBER SINCE 04/19  VALID THRU 12/27  08/25", TODAY)}
    assert roles == {"04/19": "distractor", "12/27": "expiry", "08/25": "unlabelled"}


@pytest.mark.parametrize("raw,expected", [
    ("john smith", "JOHN SMITH"), ("  José  Ñúñez ", "JOSE NUNEZ"), ("O'BRIEN/MARY-ANN", "O'BRIEN/MARY-ANN"),
    ("DR. A. B. CARDHOLDER", "DR. A. B. CARDHOLDER"), ("4111 X", None), ("", None), ("§§§", None),
])
def test_name_normalisation(raw, expected):
    assert normalize_name(raw) == expected


@settings(max_examples=300)
@given(st.text())
def test_parsers_never_crash(text):
    parse_expiry(text)
    find_dates(text)
    name = normalize_name(text)
    assert name is None or set(name) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ .-'/")
    identify_brand(text)
    luhn_valid(text)


def test_shorter_than_its_prefix_names_numbers_whose_prefix_issues_only_longer_ones():
    from cardlens.cardrules import shorter_than_its_prefix

    assert shorter_than_its_prefix("622314526568")      # UnionPay / Discover 16–19, Maestro 12 by fallback
    assert shorter_than_its_prefix("601112345678")      # Discover 6011
    assert not shorter_than_its_prefix("688781477197")  # Maestro alone claims 68
    assert not shorter_than_its_prefix("4111111111111")  # Visa issues 13 digits
    assert not shorter_than_its_prefix("371449635398431")
    assert not shorter_than_its_prefix("6223145265685272")
    assert not shorter_than_its_prefix("9999")          # no brand
