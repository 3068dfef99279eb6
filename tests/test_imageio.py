import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cardlens.errors import ImageError
from cardlens.imageio import decode_image, load_image, to_bgr


@pytest.mark.parametrize("bad,match", [
    (None, "None"), (np.zeros((1, 1, 3), np.uint8), "too small"), (np.zeros((0, 0), np.uint8), "too small"),
    (np.zeros((64, 64, 2), np.uint8), "shape"), (np.zeros((4, 64, 64, 3), np.uint8), "shape"),
    (np.full((64, 64, 3), np.nan, np.float32), "NaN"), (np.full((64, 64), np.inf), "NaN"),
    ("not/a/file.png", "not found"), (b"", "no data"), (b"GIF89a-junk", "not a readable image"),
    ([[1, 2], [3, 4]], "numpy array"), (np.zeros((64, 64, 3), np.complex64), "unsupported pixel type"),
])
def test_bad_inputs_raise_clear_errors(bad, match):
    with pytest.raises(ImageError, match=match):
        load_image(bad)


def test_huge_image_is_refused_without_allocating():
    huge = np.lib.stride_tricks.as_strided(np.zeros(1, np.uint8), shape=(20000, 20000), strides=(0, 0))
    with pytest.raises(ImageError, match="MP"):
        to_bgr(huge)


@pytest.mark.parametrize("img", [
    np.zeros((40, 60), np.uint8), np.zeros((40, 60, 1), np.uint8), np.zeros((40, 60, 4), np.uint8),
    np.ones((40, 60, 3), np.float32), np.full((40, 60, 3), 200.0), np.zeros((40, 60, 3), np.uint16),
    np.zeros((40, 60), bool),
])
def test_accepted_layouts_become_uint8_bgr(img):
    out = to_bgr(img)
    assert out.shape == (40, 60, 3) and out.dtype == np.uint8 and out.flags.c_contiguous


def test_rgb_flag_swaps_channels():
    rgb = np.zeros((32, 32, 3), np.uint8)
    rgb[..., 0] = 255  # red in RGB
    assert to_bgr(rgb, color="rgb")[0, 0].tolist() == [0, 0, 255]


def test_png_round_trip_and_truncation(tmp_path):
    import cv2

    img = np.random.default_rng(0).integers(0, 255, (50, 70, 3), dtype=np.uint8)
    ok, enc = cv2.imencode(".png", img)
    assert ok
    assert np.array_equal(decode_image(enc.tobytes()), img)
    with pytest.raises(ImageError):
        decode_image(enc.tobytes()[:40])


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2048))
def test_random_bytes_never_crash(data):
    try:
        out = decode_image(data)
    except ImageError:
        return
    assert out.dtype == np.uint8 and out.ndim == 3


def test_a_thin_text_line_is_a_valid_line_crop_but_not_a_card():
    """A name line on a small rectified card can be 15 px tall: the recognizer reads it, while the
    same array given as a card is refused (it once aborted a whole scan from inside the reader)."""
    from cardlens.ocr.card_reader import crop_line
    from cardlens.ocr.line_preprocess import line_tensor

    line = np.full((15, 229, 3), 200, np.uint8)
    x, used = line_tensor(line, 32, 512)
    assert x.shape == (1, 1, 32, 512) and used == round(229 * 32 / 15)
    with pytest.raises(ImageError, match="too small to hold a card"):
        to_bgr(line)
    with pytest.raises(ImageError, match="line crop: 229x3 px is too small to read"):
        line_tensor(line[:3], 32, 512)
    card = np.zeros((200, 320, 3), np.uint8)
    assert crop_line(card, (10, 50, 200, 50.5)) is None  # under the line minimum: never passed on
