import copy
import dataclasses
import io
import json
import logging
import pickle
import random

from hypothesis import given
from hypothesis import strategies as st

from cardlens.cardrules import BRANDS, PanDigits, generate_pan, mask_pan, redact_text
from cardlens.logs import get_logger
from cardlens.results import CardNumber, ScanResult

pans = st.builds(lambda b, seed: generate_pan(b, rng=random.Random(seed)), st.sampled_from(BRANDS),
                 st.integers(0, 2**32))


def test_mask_format():
    assert mask_pan("4111111111111111") == "411111******1111"
    assert mask_pan("378282246310005") == "378282*****0005"
    assert mask_pan("500000000000") == "500000**0000"


@given(st.text(alphabet="0123456789", min_size=0, max_size=25))
def test_mask_never_reveals_middle(digits):
    masked = mask_pan(digits)
    assert len(masked) == len(digits)
    shown = [i for i, c in enumerate(masked) if c != "*"]
    assert all(masked[i] == digits[i] for i in shown)
    n = len(digits)
    assert all(i < 6 or i >= n - 4 for i in shown)  # only leading six / trailing four ever shown
    if n >= 12:
        assert masked[6:n - 4] == "*" * (n - 10)
    else:
        assert all(i >= n - 4 for i in shown)


@given(pans)
def test_card_number_text_forms_never_contain_full_pan(pan):
    number = CardNumber.from_digits(pan, 0.9)
    result = ScanResult(True, number)
    blobs = [str(number), repr(number), f"{number}", number.formatted(), json.dumps(number.to_dict()),
             str(result), repr(result), result.to_json(), repr(dataclasses.asdict(number)),
             repr(copy.deepcopy(number)), str(number.digits), repr(number.digits), f"{number.digits:>20}"]
    for blob in blobs:
        assert pan not in blob.replace(" ", ""), blob
    assert number.reveal() == pan
    assert json.loads(result.to_json(reveal=True))["number"]["value"] == pan
    assert number.formatted(reveal=True).replace(" ", "") == pan


def test_pickle_carries_only_masked_form():
    number = CardNumber.from_digits("4111111111111111")
    blob = pickle.dumps(ScanResult(True, number))
    assert b"4111111111111111" not in blob
    back = pickle.loads(blob)
    assert back.number.masked == "411111******1111"
    assert back.number.digits.redacted and back.number.reveal() == "411111******1111"


@given(pans, st.sampled_from([" ", "-", "", "."]))
def test_redact_text_masks_any_spacing(pan, sep):
    spaced = sep.join(pan[i:i + 4] for i in range(0, len(pan), 4))
    out = redact_text(f"read {spaced} ok")
    assert pan not in out.replace(sep, "") if sep else pan not in out
    assert pan[-4:] in out.replace(sep, "")


def test_logging_is_redacted_for_child_loggers():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = get_logger("cardlens.test_child")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.info("number %s read", "4111111111111111")
        logger.info("grouped 4111 1111 1111 1111")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "4111111111111111" not in text and "4111 1111 1111 1111" not in text
    assert "411111******1111" in text


def test_pan_digits_equality_and_type():
    assert PanDigits("123456789012") == PanDigits("123456789012")
    assert PanDigits("123456789012") != PanDigits("123456789013")
    try:
        PanDigits(4111)
    except TypeError:
        pass
    else:
        raise AssertionError("PanDigits accepted a non-string")
