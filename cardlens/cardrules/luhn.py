"""Luhn (mod 10) checksum used by every payment card number."""

from __future__ import annotations


def _digits(number: str) -> list[int]:
    if not isinstance(number, str) or not number or not number.isascii() or not number.isdigit():
        raise ValueError("expected a non-empty string of ASCII digits")
    return [ord(c) - 48 for c in number]


def luhn_sum(number: str) -> int:
    """Luhn sum of ``number`` (check digit included) modulo 10."""
    total = 0
    for i, d in enumerate(reversed(_digits(number))):
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10


def luhn_valid(number: str) -> bool:
    """True when ``number`` (digits only) passes the Luhn check. Non-digit input is never valid."""
    try:
        return luhn_sum(number) == 0
    except ValueError:
        return False


def luhn_check_digit(payload: str) -> str:
    """The digit that, appended to ``payload``, makes a Luhn-valid number."""
    return str((10 - luhn_sum(payload + "0")) % 10)
