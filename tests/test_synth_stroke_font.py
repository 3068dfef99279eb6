"""The drawn Farrington-style stroke face: distinct digits, the fonts' baseline convention, fallback
characters, and the card sampler actually uses it."""

import itertools

import numpy as np
import pytest

from cardlens.synth import make_card_spec
from cardlens.synth.design import text_mask
from cardlens.synth.fonts import FACES_BY_KEY, faces_for, load_font
from cardlens.synth.render import _glyph
from cardlens.synth.stroke_font import GLYPHS, StrokeFont

STROKE_KEYS = [f.key for f in FACES_BY_KEY.values() if f.stroke]


def test_stroke_faces_are_registered_for_numbers():
    assert STROKE_KEYS
    assert set(STROKE_KEYS) <= {f.key for f in faces_for("emboss")}
    for key in STROKE_KEYS:
        assert isinstance(load_font(key, 30), StrokeFont)
        assert not FACES_BY_KEY[key].stroke or FACES_BY_KEY[FACES_BY_KEY[key].fallback].file


@pytest.mark.parametrize("key", STROKE_KEYS)
@pytest.mark.parametrize("size", [12, 40])
def test_digits_are_distinct_shapes(key, size):
    masks = {ch: _glyph(ch, key, size)[0] > 0.5 for ch in "0123456789"}
    for a, b in itertools.combinations(masks, 2):
        ma, mb = masks[a], masks[b]
        h, w = max(ma.shape[0], mb.shape[0]), max(ma.shape[1], mb.shape[1])
        pa = np.zeros((h, w), bool)
        pb = np.zeros((h, w), bool)
        pa[:ma.shape[0], :ma.shape[1]] = ma
        pb[:mb.shape[0], :mb.shape[1]] = mb
        iou = (pa & pb).sum() / max(1, (pa | pb).sum())
        assert iou < 0.85, (a, b, iou)  # Liberation Mono Bold's closest pair: 0.81


@pytest.mark.parametrize("key", STROKE_KEYS)
def test_glyphs_sit_on_the_baseline_like_the_font_faces(key):
    size = 50
    m, ox, oy = text_mask("7", key, 50)
    ys = np.nonzero(m.max(axis=1) > 0.5)[0]
    ink_top, ink_bottom = oy + ys.min(), oy + ys.max() + 1  # relative to the baseline
    ref, _, rof = text_mask("7", "ocrb", 50)
    rys = np.nonzero(ref.max(axis=1) > 0.5)[0]
    assert abs(ink_bottom - (rof + rys.max() + 1)) <= 0.06 * size
    assert abs(ink_top - (rof + rys.min())) <= 0.08 * size
    assert ox >= 0 and m.shape[1] <= load_font(key, size).getlength("7") * 1.1


@pytest.mark.parametrize("key", STROKE_KEYS)
def test_characters_without_strokes_come_from_the_fallback(key):
    fallback = FACES_BY_KEY[key].fallback
    for ch in "AJ-.":
        m, ox, oy = text_mask(ch, key, 30)
        ref, rox, roy = text_mask(ch, fallback, 30)
        assert (ox, oy) == (rox, roy) and np.array_equal(m, ref)
        assert load_font(key, 30).getlength(ch) == load_font(fallback, 30).getlength(ch)
    assert set(GLYPHS) == set("0123456789/")
    m, _, _ = text_mask("12/27 AB", key, 30)
    assert m.shape[1] > text_mask("12/27", key, 30)[0].shape[1]


def test_card_sampler_draws_the_stroke_faces():
    fonts = {make_card_spec(5, i).number_font for i in range(400)}
    assert set(STROKE_KEYS) <= fonts
