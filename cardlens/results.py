"""Result types. Frozen, and masked by default in every text, JSON and pickled form."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from cardlens.cardrules import PanDigits, identify_brand, luhn_valid
from cardlens.cardrules.brands import group_digits
from cardlens.cardrules.expiry import Expiry, PrintedExpiry

Point = tuple[float, float]


def _round_all(values, ndigits: int = 4) -> list[float]:
    return [round(float(v), ndigits) for v in values]


@dataclass(frozen=True, repr=False)
class CardNumber:
    """A card number as read. ``digits`` is a :class:`PanDigits` secret; use :meth:`reveal` for it.

    ``valid`` means the number passes Luhn and its brand issues numbers of its length. A number that
    fails (specimen and marketing cards print many) is still returned as read, flagged invalid.
    """

    digits: PanDigits
    brand: str = "unknown"
    luhn_valid: bool = False
    length_ok: bool = False
    confidence: float = 0.0
    char_confidences: tuple[float, ...] = ()

    @classmethod
    def from_digits(cls, digits: str, confidence: float = 1.0,
                    char_confidences: tuple[float, ...] = ()) -> CardNumber:
        if not digits.isascii() or not digits.isdigit():
            raise ValueError("a card number is made of digits only")
        match = identify_brand(digits)
        return cls(PanDigits(digits), match.key, luhn_valid(digits), match.length_ok,
                   float(confidence), tuple(float(c) for c in char_confidences))

    @property
    def valid(self) -> bool:
        return self.luhn_valid and self.length_ok

    @property
    def masked(self) -> str:
        return self.digits.masked

    def reveal(self) -> str:
        """The full number. Only for callers acting on an explicit user request (``--reveal``)."""
        return self.digits.reveal()

    def formatted(self, reveal: bool = False) -> str:
        """Grouped the way the brand prints it (masked unless ``reveal``)."""
        if self.digits.redacted:
            return self.masked
        text = group_digits(self.reveal())
        if reveal:
            return text
        masked, out, i = self.masked, [], 0
        for ch in text:
            out.append(ch if ch == " " else masked[i])
            i += ch != " "
        return "".join(out)

    def __len__(self) -> int:
        return len(self.digits)

    def __str__(self) -> str:
        return self.masked

    def __repr__(self) -> str:
        return (f"CardNumber({self.masked!r}, brand={self.brand!r}, luhn_valid={self.luhn_valid}, "
                f"length_ok={self.length_ok}, confidence={self.confidence:.3f})")

    def to_dict(self, reveal: bool = False) -> dict:
        return {
            "value": self.reveal() if reveal else self.masked,
            "masked": not reveal,
            "length": len(self.digits),
            "brand": self.brand,
            "luhn_valid": self.luhn_valid,
            "length_ok": self.length_ok,
            "valid": self.valid,
            "confidence": round(self.confidence, 4),
            "char_confidences": _round_all(self.char_confidences),
        }


@dataclass(frozen=True)
class CardName:
    value: str
    confidence: float = 0.0
    char_confidences: tuple[float, ...] = ()

    def __str__(self) -> str:
        return self.value

    def to_dict(self) -> dict:
        return {"value": self.value, "confidence": round(self.confidence, 4),
                "char_confidences": _round_all(self.char_confidences)}


@dataclass(frozen=True)
class StageTiming:
    stage: str
    ms: float


@dataclass(frozen=True, repr=False)
class ScanResult:
    """What one scan of one image found. ``card_found`` is False when no card was located."""

    card_found: bool
    number: CardNumber | None = None
    expiry: Expiry | None = None
    name: CardName | None = None
    corners: tuple[Point, Point, Point, Point] | None = None
    card_confidence: float = 0.0
    image_size: tuple[int, int] | None = None  # (width, height)
    engine: str = ""
    timings: tuple[StageTiming, ...] = field(default_factory=tuple)
    notes: tuple[str, ...] = ()
    number_accepted: bool = False  # valid and confidently read: what a multi-frame vote may settle on
    fields: tuple = ()             # (kind, 4 image points, confidence) per located field, for overlays
    # the expiry field read surely as MM/YY that is no date (a specimen's 88/88); only when ``expiry`` is None
    printed_expiry: PrintedExpiry | None = None

    @property
    def timings_ms(self) -> dict[str, float]:
        return {t.stage: t.ms for t in self.timings}

    def __repr__(self) -> str:
        return (f"ScanResult(card_found={self.card_found}, number={self.number!r}, "
                f"expiry={str(self.expiry) if self.expiry else None!r}, "
                f"name={self.name.value if self.name else None!r}, engine={self.engine!r})")

    __str__ = __repr__

    def to_dict(self, reveal: bool = False) -> dict:
        return {
            "card_found": self.card_found,
            "number": self.number.to_dict(reveal) if self.number else None,
            "number_accepted": self.number_accepted,
            "expiry": self.expiry.to_dict() if self.expiry else None,
            "printed_expiry": self.printed_expiry.to_dict() if self.printed_expiry else None,
            "name": self.name.to_dict() if self.name else None,
            "corners": [list(map(float, p)) for p in self.corners] if self.corners else None,
            "card_confidence": round(self.card_confidence, 4),
            "image_size": list(self.image_size) if self.image_size else None,
            "engine": self.engine,
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
            "notes": list(self.notes),
            "fields": [{"kind": k, "quad": [[round(x, 1), round(y, 1)] for x, y in q], "confidence": round(c, 4)}
                       for k, q, c in self.fields],
        }

    def to_json(self, reveal: bool = False, **kwargs) -> str:
        return json.dumps(self.to_dict(reveal), **kwargs)
