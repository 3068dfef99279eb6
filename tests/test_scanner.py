import numpy as np
import pytest

from cardlens import CardScanner, ImageError, ScanResult
from cardlens.detector.contour import locate_card
from cardlens.geometry import order_corners_clockwise, rectified_size, rectify
from cardlens.ocr.fields import TextBox


def scene_with_card(angle=15.0, size=(1000, 750)):
    import cv2

    w, h = size
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = (40, 90, 60)
    center = (w * 0.5, h * 0.52)
    rect = (center, (500, 500 / 1.586), angle)
    corners = cv2.boxPoints(rect).astype(np.float32)
    cv2.fillConvexPoly(img, corners.astype(np.int32), (235, 235, 235))
    return img, order_corners_clockwise(corners)


@pytest.mark.parametrize("angle", [0.0, 12.0, -20.0])
def test_contour_locator_finds_corners(angle):
    img, truth = scene_with_card(angle)
    det = locate_card(img)
    assert det is not None and det.method == "contour"
    err = np.linalg.norm(det.corners - truth, axis=1).max()
    assert err < 0.02 * np.hypot(500, 500 / 1.586)


def test_rectify_upright_landscape():
    img, truth = scene_with_card(10)
    card = rectify(img, truth)
    assert card.shape[:2] == (540, 856)
    assert card[270, 428].tolist() == [235, 235, 235]
    assert rectified_size(truth[[1, 2, 3, 0]]) == (540, 856)  # starting on a short edge: portrait


class FakeReader:
    name = "fake"

    def __init__(self):
        self.calls = 0

    def read(self, image):
        self.calls += 1
        assert image.shape[:2] == (540, 856)
        q = ((50.0, 270.0), (700.0, 270.0), (700.0, 320.0), (50.0, 320.0))
        return [TextBox(q, "5555 5555 5555 4444", 0.95),
                TextBox(tuple((x, y + 80) for x, y in q), "VALID THRU 08/30", 0.9)]


def test_scanner_pipeline_with_injected_reader():
    img, _ = scene_with_card(5)
    reader = FakeReader()
    result = CardScanner(locator=locate_card, reader=reader).scan(img)
    assert isinstance(result, ScanResult) and result.card_found and reader.calls == 1
    assert result.number.masked == "555555******4444" and result.number.brand == "mastercard"
    assert str(result.expiry) == "08/30"
    assert set(result.timings_ms) == {"load", "locate", "rectify", "ocr", "decode", "total"}
    assert "5555555555554444" not in repr(result) + result.to_json()


def test_scanner_no_card_and_bad_input():
    scanner = CardScanner(locator=locate_card, reader=None)
    result = scanner.scan(np.full((480, 640, 3), 90, np.uint8))
    assert not result.card_found and result.number is None
    with pytest.raises(ImageError):
        scanner.scan(np.zeros((1, 1, 3), np.uint8))


def test_scanner_without_ocr_still_locates():
    img, _ = scene_with_card(0)
    result = CardScanner(locator=locate_card, reader=None).scan(img)
    assert result.card_found and result.number is None and any("OCR off" in n for n in result.notes)
