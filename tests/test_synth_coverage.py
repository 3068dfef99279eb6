"""Every option the issue lists appears in generated data (checked by sampling)."""

from collections import Counter

from cardlens.synth import make_card_spec, render_scene
from cardlens.synth.design import DESIGN_KINDS, SCHEMES
from cardlens.synth.emboss import FOILS, PRINT_STYLES
from cardlens.synth.scene import BACKGROUND_KINDS
from cardlens.synth.text import BRAND_KEYS, DISTRACTOR_DATE_LABELS, EXPIRY_LABELS


def test_card_specs_cover_every_option():
    specs = [make_card_spec(77, i) for i in range(600)]
    seen = lambda attr: {getattr(s, attr) for s in specs}  # noqa: E731
    assert seen("design") == set(DESIGN_KINDS)
    assert seen("scheme") == set(SCHEMES)
    assert seen("print_style") == set(PRINT_STYLES)
    assert seen("foil") == set(FOILS)
    assert seen("orientation") == {"landscape", "portrait"}
    assert seen("side") == {"front", "back"}
    assert seen("number_on") == {"front", "back", "none"}
    texts = [s.text for s in specs]
    assert {t.brand for t in texts} == set(BRAND_KEYS)
    assert {t.luhn_label for t in texts} == {"valid", "specimen"}
    assert {t.number_layout for t in texts} == {"line", "stacked"}
    groupings = {t.grouping for t in texts}
    for g in [(4, 4, 4, 4), (4, 6, 5), (4, 6, 4)]:
        assert g in groupings, g
    assert any(sum(g) == 19 for g in groupings)
    assert {len(t.pan) for t in texts} >= {13, 14, 15, 16, 19}
    assert {t.expiry_label for t in texts} == set(EXPIRY_LABELS)
    assert {t.distractor_date_label for t in texts} - {None} == set(DISTRACTOR_DATE_LABELS)
    share = Counter(t.luhn_label for t in texts)["specimen"] / len(texts)
    assert 0.1 < share < 0.3
    # visible number on both sides, in both orientations, in every print style
    vis = {(s.side, s.orientation, s.print_style) for s in specs if s.number_visible}
    assert {(sd, o) for sd, o, _ in vis} == {(a, b) for a in ("front", "back") for b in ("landscape", "portrait")}


def test_scenes_cover_backgrounds_occluders_distractors_and_visibility():
    samples = [render_scene(31, i, 320) for i in range(70)] + [render_scene(31, 999, 320, negative=True)]
    assert {s.background for s in samples} == set(BACKGROUND_KINDS)
    assert any(s.occluded for s in samples)
    assert {k for s in samples for k in s.distractors} == {"business_card", "receipt", "note", "text"}
    vis = Counter(v for s in samples if s.visibility for v in s.visibility)
    assert vis[2] and vis[1] and vis[0]
    assert any(s.card is None for s in samples)
    sizes = [max(s.box[2] - s.box[0], s.box[3] - s.box[1]) / 320 for s in samples if s.box]
    assert min(sizes) < 0.3 and max(sizes) > 0.95  # small to overflowing the frame
