"""The whole image read as the card when it is card-shaped and the detector's card reads no number."""

import numpy as np
import pytest

from cardlens.detector.types import CardDetection
from cardlens.ocr.card_reader import CardReading
from cardlens.ocr.ctc import Reading
from cardlens.ocr.fields import CardFields
from cardlens.ocr.number_decoding import decide_number
from cardlens.scanner import CardScanner, card_shaped, frame_quad, frame_wins

VALID = "4000123456789017"
OTHER = "5555555555554444"


@pytest.mark.parametrize(("size", "shaped"), [
    ((856, 540), True), ((540, 856), True), ((1000, 650), True), ((583, 368), True),
    ((640, 480), False), ((1920, 1080), False), ((640, 640), False), ((1400, 520), False), ((0, 10), False),
])
def test_card_shaped(size, shaped):
    assert card_shaped(*size) is shaped


def test_frame_quad_is_the_image_in_design_order():
    assert frame_quad(300, 200).tolist() == [[0, 0], [299, 0], [299, 199], [0, 199]]


def reading(digits: str | None, share: float, rotated: bool = False) -> CardReading:
    decision = None
    if digits:
        # the reading holds ``share`` of the beam; nine one-digit variants share the rest
        others = [digits[:-1] + d for d in "0123456789" if d != digits[-1]]
        decision = decide_number([[Reading(digits, (0.99,) * len(digits), share),
                                   *(Reading(o, (0.5,) * len(o), (1 - share) / 9) for o in others)]])
    return CardReading(CardFields(decision.number if decision else None, None, None), decision, rotated=rotated)


class FakeReader:
    """Reads ``part`` from the image's dark top-left quarter (where :func:`part_of_card` points), ``whole``
    from a card that is mostly the bright rest of the image."""

    name = "fake"

    def __init__(self, part, whole):
        self.part, self.whole, self.calls = part, whole, []

    def read_card(self, card):
        is_whole = card.mean() > 150
        self.calls.append("whole" if is_whole else "part")
        return self.whole if is_whole else self.part


def part_of_card(img):
    h, w = img.shape[:2]
    return CardDetection(np.float32([[0.1 * w, 0.1 * h], [0.4 * w, 0.1 * h], [0.4 * w, 0.4 * h], [0.1 * w, 0.4 * h]]),
                         0.6, "fake")


def scan(size, part, whole, locator=part_of_card, **kw):
    w, h = size
    img = np.full((h, w, 3), 200, np.uint8)
    img[: h // 2, : w // 2] = 100
    reader = FakeReader(part, whole)
    kw.setdefault("second_cut", False)  # a reading left unaccepted is not cut again here (test_second_cut.py)
    return CardScanner(locator=locator, reader=reader, **kw).scan(img), reader.calls


def test_frame_reading_wins_when_it_reads_a_confident_number():
    res, calls = scan((856, 540), reading(OTHER[:12], 0.4), reading(VALID, 0.97))
    assert calls == ["part", "whole"]
    assert res.number.reveal() == VALID and res.number_accepted
    assert res.corners == ((0.0, 0.0), (855.0, 0.0), (855.0, 539.0), (0.0, 539.0))
    assert "whole image" in res.notes[0] and "whole_image" in res.timings_ms


def test_detector_card_kept_when_frame_reads_no_confident_number():
    res, calls = scan((856, 540), reading(OTHER[:12], 0.4), reading(VALID, 0.3))
    assert calls == ["part", "whole"] and res.number.reveal() == OTHER[:12]
    assert res.notes[0].startswith("card located by fake")
    res, _ = scan((856, 540), reading(None, 0), reading(None, 0))
    assert res.card_found and res.number is None


def test_accepted_detector_number_is_not_read_again():
    res, calls = scan((856, 540), reading(VALID, 0.99), reading(OTHER, 0.99))
    assert calls == ["part"] and res.number.reveal() == VALID


@pytest.mark.parametrize("size", [(640, 480), (1280, 720), (640, 640)])
def test_camera_frames_are_never_read_whole(size):
    res, calls = scan(size, reading(None, 0), reading(VALID, 0.99))
    assert calls == ["part"] and res.number is None


def test_no_detection_in_a_card_shaped_image():
    res, calls = scan((540, 856), None, reading(VALID, 0.95), locator=lambda img: None)
    assert calls == ["whole"] and res.card_found and res.number.reveal() == VALID
    assert "no card detected" in res.notes[0]
    res, calls = scan((540, 856), None, reading(None, 0), locator=lambda img: None)
    assert calls == ["whole"] and not res.card_found and res.notes == ("no card found",)
    res, calls = scan((540, 856), None, reading(VALID, 0.95), locator=lambda img: None, frame_fallback=False)
    assert calls == [] and not res.card_found


def test_frame_wins_needs_a_better_reading():
    assert frame_wins(reading(VALID, 0.9), None)
    assert not frame_wins(reading(VALID, 0.4), None)
    assert not frame_wins(reading(None, 0), None)
    assert frame_wins(reading(VALID, 0.9), reading(OTHER, 0.6))
    assert not frame_wins(reading(VALID, 0.6), reading(OTHER, 0.9))


@pytest.fixture(scope="module")
def artwork():
    """The example card cut out to an image it fills (BGR) and its number."""
    import cv2

    from cardlens.geometry import grow_quad
    from cardlens.synth.examples import example_scene

    s = example_scene()
    w, h = 856, 540
    m = cv2.getPerspectiveTransform(grow_quad(np.float32(s.corners), 0.02), frame_quad(w, h))
    art = cv2.warpPerspective(s.image, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
    return cv2.cvtColor(art, cv2.COLOR_RGB2BGR), s.card.spec.text.pan


def test_card_artwork_the_detector_misses_is_read_whole(artwork):
    """With a detector that finds nothing, the shipped reader reads it only through the whole image."""
    art, pan = artwork
    res = CardScanner(locator=lambda img: None).scan(art)
    assert res.card_found and res.number is not None and res.number.reveal() == pan
    assert not CardScanner(locator=lambda img: None, frame_fallback=False).scan(art).card_found


def test_scan_cli_whole_image_and_its_off_switch(artwork, tmp_path, monkeypatch, capsys):
    import json

    import cv2

    from cardlens import scanner
    from cardlens.cli import main

    art, pan = artwork
    path = tmp_path / "artwork.png"
    cv2.imwrite(str(path), art)
    monkeypatch.setattr(scanner, "make_locator", lambda name="default": (lambda img: None))
    assert main(["scan", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    row = json.loads(out)
    assert pan not in out and row["number"]["value"] == pan[:6] + "*" * (len(pan) - 10) + pan[-4:]
    assert any("whole image" in n for n in row["notes"])
    assert main(["scan", "--json", "--no-whole-image", str(path)]) == 1


def one_image_set(folder, name: str, image, number: str, image_type: str) -> None:
    """A labelled set in realcards-dev's layout holding one image (BGR) with a number and nothing else."""
    import json

    import cv2

    (folder / "images").mkdir()
    cv2.imwrite(str(folder / "images" / name), image)
    label = {"file": f"images/{name}", "number": number, "expiry": None, "name": None, "image_type": image_type,
             "difficulty": "easy", "embossed": False, "orientation": "horizontal", "side": "front"}
    (folder / "labels.jsonl").write_text(json.dumps(label) + "\n")


def test_eval_scan_whole_image_switch(artwork, tmp_path, monkeypatch, capsys):
    import json

    from cardlens import scanner
    from cardlens.cli import main

    art, pan = artwork
    one_image_set(tmp_path, "art.png", art, pan, "render")
    monkeypatch.setattr(scanner, "make_locator", lambda name="default": (lambda img: None))
    found = {}
    for flags in ([], ["--no-whole-image"]):
        assert main(["eval", "scan", "--data", str(tmp_path), "--json", "--no-progress", *flags]) == 0
        out = capsys.readouterr().out
        assert pan not in out
        found[bool(flags)] = json.loads(out)[0]["overall"]
    assert found[False]["card_found"] == 1.0 and found[False]["number_exact"] == 1.0
    assert found[True]["card_found"] == 0.0 and found[True]["number_exact"] == 0.0


def test_the_second_cuts_date_replaces_a_non_date_read_as_printed():
    from dataclasses import replace

    from cardlens.cardrules import PrintedExpiry, parse_expiry
    from cardlens.scanner import _Candidate, after_second_cut

    def cut(expiry=None, printed=None):
        r = reading(VALID, 0.5)
        r = replace(r, fields=replace(r.fields, expiry=expiry, printed_expiry=printed))
        return _Candidate(r, np.zeros((4, 2)), 0.9, np.zeros((4, 2)), (540, 856), "card")

    kept = after_second_cut(cut(printed=PrintedExpiry("88/88")), cut(expiry=parse_expiry("12/30")))
    assert str(kept.reading.fields.expiry) == "12/30" and kept.reading.fields.printed_expiry is None
    # the second cut with no date leaves the first cut's non-date as printed
    kept = after_second_cut(cut(printed=PrintedExpiry("88/88")), cut())
    assert kept.reading.fields.printed_expiry.text == "88/88" and kept.reading.fields.expiry is None
