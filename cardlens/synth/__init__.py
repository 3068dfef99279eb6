"""Synthetic card data engine: ID-1 card renderer, photo-like scenes and the three dataset writers.

Everything is deterministic from ``(seed, index)``; fonts are bundled in ``cardlens/data/fonts``.
"""

from cardlens.synth.examples import write_examples
from cardlens.synth.geometry import (
    CORNER_NAMES,
    ID1_ASPECT,
    ID1_CORNER_RADIUS_MM,
    ID1_HEIGHT_MM,
    ID1_WIDTH_MM,
)
from cardlens.synth.preview import PreviewSummary, write_preview
from cardlens.synth.render import CardSpec, CharBox, FieldBox, RenderedCard, make_card_spec, render_card
from cardlens.synth.scene import SceneSample, compose_scene, render_scene
from cardlens.synth.text import CardText, make_card_text
from cardlens.synth.writers import (
    DETECTOR_CLASSES,
    FIELD_CLASSES,
    RectifiedCard,
    WriteSummary,
    rectified_card,
    write_detector_set,
    write_field_set,
    write_line_set,
    write_scan_set,
)

__all__ = [
    "CORNER_NAMES", "DETECTOR_CLASSES", "FIELD_CLASSES", "ID1_ASPECT", "ID1_CORNER_RADIUS_MM", "ID1_HEIGHT_MM",
    "ID1_WIDTH_MM", "CardSpec", "CardText", "CharBox", "FieldBox", "PreviewSummary", "RectifiedCard",
    "RenderedCard", "SceneSample", "WriteSummary", "compose_scene", "make_card_spec", "make_card_text",
    "rectified_card", "render_card", "render_scene", "write_detector_set", "write_examples", "write_field_set",
    "write_line_set", "write_preview", "write_scan_set",
]
