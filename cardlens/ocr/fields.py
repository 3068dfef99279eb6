"""Turning text boxes read on a rectified card into number, expiry and name (stdlib + card rules).

Engine-agnostic: any reader that returns :class:`TextBox` items in rectified-card pixels feeds it.
The number is never "corrected" into a different valid number: candidates are ranked, and the
chosen one is returned exactly as read, flagged invalid when it fails Luhn or its brand's lengths.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cardlens.cardrules import PAN_MAX_LENGTH, PAN_MIN_LENGTH, identify_brand, luhn_valid, normalize_name
from cardlens.cardrules.expiry import find_dates, parse_expiry
from cardlens.results import CardName, CardNumber

# Only within tokens that are mostly digits: letters OCR commonly reads in place of digits.
_DIGIT_LOOKALIKES = str.maketrans({"O": "0", "o": "0", "D": "0", "I": "1", "l": "1", "|": "1", "S": "5",
                                   "s": "5", "B": "8", "Z": "2", "z": "2", "G": "6", "b": "6"})
# The reverse, within tokens that are mostly letters (a name line): digits OCR reads in place of letters.
_LETTER_LOOKALIKES = str.maketrans({"0": "O", "1": "I", "5": "S", "8": "B"})
NAME_STOPWORDS = frozenset(
    "VALID THRU GOOD THROUGH EXPIRES EXPIRY END MONTH YEAR MEMBER SINCE FROM DEBIT CREDIT BANK VISA "
    "MASTERCARD MAESTRO AMERICAN EXPRESS DISCOVER UNIONPAY JCB DINERS CLUB MIR RUPAY PLATINUM GOLD "
    "CLASSIC ELECTRON BUSINESS WORLD SIGNATURE INFINITE ELITE PREMIER REWARDS CARD CARDS PREPAID "
    "AUTHORIZED SIGNATURE CUSTOMER SERVICE CALL INTERNATIONAL ELECTRONIC USE ONLY".split()
)


@dataclass(frozen=True)
class TextBox:
    """One piece of text found on the card: its quadrilateral (x, y points), text and confidence."""

    quad: tuple[tuple[float, float], ...]
    text: str
    confidence: float

    @property
    def x0(self) -> float:
        return min(p[0] for p in self.quad)

    @property
    def x1(self) -> float:
        return max(p[0] for p in self.quad)

    @property
    def y0(self) -> float:
        return min(p[1] for p in self.quad)

    @property
    def y1(self) -> float:
        return max(p[1] for p in self.quad)

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2


@dataclass(frozen=True)
class CardFields:
    number: CardNumber | None
    expiry: object | None
    name: CardName | None
    printed_expiry: object | None = None  # a PrintedExpiry (not a date), only when ``expiry`` is None


def group_lines(boxes: list[TextBox]) -> list[list[TextBox]]:
    """Cluster boxes into text lines by vertical overlap, top to bottom, each left to right."""
    lines: list[list[TextBox]] = []
    for box in sorted(boxes, key=lambda b: b.cy):
        h = max(box.y1 - box.y0, 1.0)
        for line in lines:
            ref = line[-1]
            if abs(ref.cy - box.cy) < 0.5 * max(h, ref.y1 - ref.y0):
                line.append(box)
                break
        else:
            lines.append([box])
    return [sorted(line, key=lambda b: b.x0) for line in lines]


def _token_digits(text: str) -> str | None:
    """The digits of a token that is essentially numeric, else None (dates excluded)."""
    compact = re.sub(r"[\s\-.]", "", text)
    if not compact or find_dates(text):
        return None
    digitish = sum(c.isdigit() for c in compact)
    if digitish < 0.6 * len(compact):
        return None
    mapped = compact.translate(_DIGIT_LOOKALIKES)
    return mapped if mapped.isascii() and mapped.isdigit() else None  # not ², ٣ and other digits


@dataclass(frozen=True)
class _NumberCandidate:
    digits: str
    confidence: float
    line_index: int

    @property
    def rank(self) -> tuple:
        match = identify_brand(self.digits)
        plausible = luhn_valid(self.digits) and match.length_ok
        return (plausible, match.known, self.confidence, len(self.digits) == 16)


def _number_candidates(lines: list[list[TextBox]]) -> list[_NumberCandidate]:
    per_line = []
    for line in lines:
        tokens = [(d, b.confidence) for b in line if (d := _token_digits(b.text))]
        digits = "".join(d for d, _ in tokens)
        conf = min((c for _, c in tokens), default=0.0)
        per_line.append((digits, conf))
    out = []
    for i, (digits, conf) in enumerate(per_line):
        if PAN_MIN_LENGTH <= len(digits) <= PAN_MAX_LENGTH:
            out.append(_NumberCandidate(digits, conf, i))
    # Stacked "quick read" layouts: consecutive short all-digit lines that together make a PAN.
    for i in range(len(per_line)):
        acc, conf = "", 1.0
        for digits, c in per_line[i:]:
            if not digits or len(digits) > 8:
                break
            acc, conf = acc + digits, min(conf, c)
            if PAN_MIN_LENGTH <= len(acc) <= PAN_MAX_LENGTH and acc != per_line[i][0]:
                out.append(_NumberCandidate(acc, conf, i))
    return out


def _as_name_token(text: str) -> str | None:
    """The text with look-alike digits read as letters if it is mostly letters, else None."""
    letters = sum(c.isalpha() for c in text)
    digits = sum(c.isdigit() for c in text)
    if digits and letters < 3 * digits:
        return None
    return text.translate(_LETTER_LOOKALIKES) if digits else text


def _name_like(text: str) -> bool:
    normalized = normalize_name(text)
    words = normalized.replace(".", " ").split() if normalized else []
    return bool(words) and not any(w in NAME_STOPWORDS for w in words)


def assemble_fields(boxes: list[TextBox], card_size: tuple[int, int] | None = None) -> CardFields:
    """Pick the card number, expiry and name from the text boxes of one rectified card."""
    lines = group_lines(boxes)
    candidates = _number_candidates(lines)
    number, number_line = None, None
    if candidates:
        best = max(candidates, key=lambda c: c.rank)
        number = CardNumber.from_digits(best.digits, best.confidence, (best.confidence,) * len(best.digits))
        number_line = best.line_index

    expiry = None
    for line in lines:
        text = " ".join(b.text for b in line)
        found = parse_expiry(text)
        if found and (expiry is None or (found.label and not expiry.label)):
            conf = min(b.confidence for b in line)
            expiry = type(found)(found.month, found.year, found.text, found.label, found.expired, conf,
                                 (conf,) * len(found.text))
    if expiry is None:  # label and date split across lines
        expiry = parse_expiry("\n".join(" ".join(b.text for b in line) for line in lines))

    name = None
    width = card_size[0] if card_size else max((b.x1 for b in boxes), default=1.0)
    for i, line in enumerate(lines):
        if number_line is not None and i <= number_line:
            continue
        tokens = [(b, t) for b in line if (t := _as_name_token(b.text)) and _name_like(t)]
        if not tokens or tokens[0][0].x0 > 0.6 * width:  # brand words, dates and numbers are gone
            continue
        kept = [b for b, _ in tokens]
        candidate = normalize_name(" ".join(t for _, t in tokens))
        if candidate:
            conf = min(b.confidence for b in kept)
            name = CardName(candidate, conf, (conf,) * len(candidate))  # lowest qualifying line wins
    return CardFields(number, expiry, name)
