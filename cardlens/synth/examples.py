"""Regenerate the bundled example photo and the docs preview sheet (fixed seeds)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import cv2

EXAMPLE_SEED = 7
EXAMPLE_INDEX = 0
PREVIEW_SEED = 2024


@dataclass(frozen=True)
class ExamplesSummary:
    photo: str
    sheet: str
    elapsed_s: float

    def to_dict(self) -> dict:
        return {"kind": "examples", "photo": self.photo, "sheet": self.sheet, "elapsed_s": self.elapsed_s}


def example_scene():
    """The scene behind ``examples/card_photo.jpg`` (with its exact corners and text, for tests)."""
    from cardlens.synth.render import make_card_spec
    from cardlens.synth.scene import compose_scene

    spec = make_card_spec(EXAMPLE_SEED, EXAMPLE_INDEX, side="front", number_on="front", orientation="landscape",
                          print_style="embossed", foil="silver", scheme="vivid", design="gradient",
                          brand="visa", specimen=False, number_layout="line", number_font="ocrb")
    return compose_scene(EXAMPLE_SEED, EXAMPLE_INDEX, 1000, spec=spec, scale_range=(0.7, 0.75), tilt_deg=14,
                         occluders=False, inside_share=1.0, distractor_rate=0.0, effects=False,
                         rotation_deg=(-12, 12))


def write_examples(root=".") -> ExamplesSummary:
    """``examples/card_photo.jpg`` (front, readable number, table, ~1000 px) and ``docs/preview_sheet.png``."""
    from cardlens.synth.preview import write_preview

    t0 = time.perf_counter()
    root = Path(root)
    s = example_scene()
    photo = root / "examples" / "card_photo.jpg"
    photo.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(s.image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    photo.write_bytes(buf.tobytes())
    sheet = write_preview(root / "docs" / "preview_sheet.png", PREVIEW_SEED, 16, tile=300)
    return ExamplesSummary(str(photo), sheet.path, round(time.perf_counter() - t0, 3))
