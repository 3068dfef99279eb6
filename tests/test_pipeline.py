"""The whole shipped pipeline (detector → rectify → field locator → recognizer → card rules)."""

import json

import numpy as np
import pytest

from cardlens.cli import main
from cardlens.synth.examples import example_scene

EXAMPLE = "examples/card_photo.jpg"


@pytest.fixture(scope="module")
def scanner():
    from cardlens.scanner import CardScanner

    return CardScanner()


@pytest.fixture(scope="module")
def truth():
    s = example_scene()
    fields = {f.kind: f.text for f in s.card.fields}
    return s.card.spec.text.pan, fields["expiry"], fields["name"]


def test_example_card_is_read_exactly(scanner, truth):
    pan, expiry, name = truth
    r = scanner.scan(EXAMPLE)
    assert r.card_found and r.number is not None
    assert r.number.reveal() == pan and r.number.valid and r.number_accepted
    assert str(r.expiry) == expiry
    assert r.name is not None and r.name.value == name
    assert set(r.timings_ms) >= {"load", "locate", "rectify", "ocr"}
    assert len(r.number.char_confidences) == len(pan) and min(r.number.char_confidences) > 0.5


def test_scan_cli_masks_by_default_and_exits_0(capsys, truth):
    pan = truth[0]
    assert main(["scan", "--json", EXAMPLE]) == 0
    out = capsys.readouterr().out
    row = json.loads(out)
    assert pan not in out and row["number"]["value"] == pan[:6] + "*" * (len(pan) - 10) + pan[-4:]
    assert main(["scan", "--json", "--reveal", EXAMPLE]) == 0
    assert json.loads(capsys.readouterr().out)["number"]["value"] == pan


def test_upside_down_frame_is_still_read(scanner, truth):
    import cv2

    img = cv2.rotate(cv2.imread(EXAMPLE), cv2.ROTATE_180)
    r = scanner.scan(img)
    assert r.number is not None and r.number.reveal() == truth[0]


def test_blank_frame_reads_nothing(scanner):
    r = scanner.scan(np.full((480, 640, 3), 200, np.uint8))
    assert r.number is None and not r.number_accepted


def test_session_over_frames_of_the_example(scanner, truth):
    import cv2

    from cardlens.session import ScanSession, SessionConfig

    img = cv2.imread(EXAMPLE)
    session = ScanSession(scanner, SessionConfig(agree=2))
    ups = [session.update(img, now=i * 0.1) for i in range(3)]
    assert ups[1].status == "done" and ups[1].final.number.reveal() == truth[0]
    assert ups[1].time_to_scan_s == pytest.approx(0.1)


def test_easyocr_on_our_field_crops_reads_the_example(truth):
    from conftest import need

    from cardlens.scanner import CardScanner

    need("easyocr")
    r = CardScanner(reader="easyocr-fields").scan(EXAMPLE)
    assert r.engine.endswith("+easyocr-fields")
    assert r.number is not None and r.number.reveal() == truth[0] and str(r.expiry) == truth[1]
