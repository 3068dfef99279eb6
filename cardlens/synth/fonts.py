"""Registry of the freely licensed fonts bundled in ``cardlens/data/fonts`` (see FONTS.md there)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

FONT_DIR = Path(__file__).resolve().parent.parent / "data" / "fonts"


@dataclass(frozen=True)
class FontFace:
    key: str
    file: str
    family: str
    mono: bool
    roles: tuple[str, ...]  # "emboss", "flat", "label", "brand", "print"
    stroke: float = 0.0     # > 0: a drawn stroke face (``stroke_font``), this stroke width per cap height
    fallback: str = ""      # the face a stroke face borrows the characters it lacks from

    @property
    def path(self) -> Path:
        return FONT_DIR / self.file


FACES: tuple[FontFace, ...] = (
    FontFace("ocra", "OCRA.ttf", "OCR-A", True, ("emboss", "flat")),
    FontFace("ocrb", "OCRB.otf", "OCR-B", True, ("emboss", "flat")),
    FontFace("liberation_mono_bold", "LiberationMono-Bold.ttf", "Liberation Mono", True, ("emboss", "flat")),
    FontFace("b612_mono_bold", "B612Mono-Bold.otf", "B612 Mono", True, ("flat",)),
    FontFace("jetbrains_mono_bold", "JetBrainsMono-Bold.ttf", "JetBrains Mono", True, ("flat",)),
    FontFace("inconsolata", "Inconsolata.otf", "Inconsolata", True, ("flat", "print")),
    FontFace("liberation_sans_bold", "LiberationSans-Bold.ttf", "Liberation Sans", False, ("flat", "label", "brand")),
    FontFace("liberation_sans", "LiberationSans-Regular.ttf", "Liberation Sans", False, ("flat", "label", "print")),
    FontFace("b612_bold", "B612-Bold.otf", "B612", False, ("flat", "label", "brand")),
    FontFace("stroke_emboss", "", "cardlens stroke (Farrington 7B style)", True, ("emboss", "flat"),
             stroke=0.13, fallback="ocrb"),
    FontFace("stroke_emboss_bold", "", "cardlens stroke (Farrington 7B style)", True, ("emboss",),
             stroke=0.17, fallback="ocrb"),
)
FACES_BY_KEY = {f.key: f for f in FACES}


def faces_for(role: str) -> tuple[FontFace, ...]:
    return tuple(f for f in FACES if role in f.roles)


@lru_cache(maxsize=512)
def load_font(key: str, size_px: int):
    """A PIL font at ``size_px`` (cached per process; fonts load from the package, never the network),
    or a :class:`~cardlens.synth.stroke_font.StrokeFont` for a drawn stroke face."""
    face = FACES_BY_KEY[key]
    if face.stroke:
        from cardlens.synth.stroke_font import StrokeFont

        return StrokeFont(size_px, face.stroke, load_font(face.fallback, size_px))
    return ImageFont.truetype(str(face.path), max(4, int(size_px)))
