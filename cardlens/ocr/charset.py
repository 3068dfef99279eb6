"""The recognizer's alphabet: what card numbers, dates and embossed names use. Index 0 is the CTC blank."""

from __future__ import annotations

CHARSET = " '-./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
BLANK = 0
DIGITS = "0123456789"
NUMBER_CHARS = DIGITS + " "
EXPIRY_CHARS = DIGITS + "/-. "
NAME_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ '-./"  # as cardlens.cardrules.names keeps them (SURNAME/GIVEN)


def class_of(char: str) -> int:
    """Network class of a character (1-based: 0 is the CTC blank)."""
    return CHARSET.index(char) + 1


def encode(text: str) -> list[int]:
    unknown = sorted(set(text) - set(CHARSET))
    if unknown:
        raise ValueError(f"characters outside the recognizer charset: {unknown}")
    return [class_of(ch) for ch in text]


def allowed_classes(chars: str) -> list[int]:
    return [BLANK] + [class_of(ch) for ch in chars]
