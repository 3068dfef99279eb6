"""The card number from CTC probabilities, under card rules, without ever "correcting" it.

The beam search ranks digit sequences by probability. The most probable one is the number *as read*,
and it is what comes back — flagged invalid when it fails Luhn or its brand's lengths. It is
*accepted* (good for a multi-frame vote to settle on) only when it is valid and confidently the best
reading: its share of the beam's probability is at least ``min_confidence`` and no character is below
``min_char_confidence``. A valid reading that is merely close to an invalid top reading is never
substituted for it: on a specimen card that prints a Luhn-failing number, that substitution would be
a false accept, the worst error a card scanner can make.

A valid reading holding between ``CONFIRMED_MIN_CONFIDENCE`` and ``min_confidence`` of the beam may be
accepted on a second look: the same digits read again from other crops of the same card (the reader
reads the number line's digit groups apart, :func:`confirmed`). Measured on synthetic scans (s52, 391
numbers): it accepts 16 more correct numbers, and of the 16 misreads in that confidence band 3 are read
the same way twice — each of those would still have to pass Luhn by chance to be accepted.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

from cardlens.cardrules import (
    PAN_MAX_LENGTH,
    PAN_MIN_LENGTH,
    identify_brand,
    luhn_valid,
    shorter_than_its_prefix,
)
from cardlens.ocr.ctc import Reading
from cardlens.results import CardNumber


@dataclass(frozen=True, repr=False)
class NumberDecision:
    number: CardNumber          # as read (masked in every text form)
    accepted: bool
    reason: str
    groups: tuple[int, ...]     # digits per printed group, as read
    valid_alternative: float    # probability of the best valid reading that is not the top one (0 if none)

    def __repr__(self) -> str:
        return (f"NumberDecision({self.number!r}, accepted={self.accepted}, reason={self.reason!r}, "
                f"groups={self.groups})")


CONFIRMED_MIN_CONFIDENCE = 0.5


def _valid(digits: str) -> bool:
    return luhn_valid(digits) and identify_brand(digits).length_ok


def _candidates(segments: list[list[Reading]], max_combos: int = 512):
    """(text, probability, char confidences) over combinations of each segment's readings, best first."""
    per = max(1, int(max_combos ** (1 / max(len(segments), 1))))
    combos = []
    for parts in itertools.product(*(seg[:per] for seg in segments)):
        prob = 1.0
        for p in parts:
            prob *= p.probability
        text = " ".join(p.text.strip() for p in parts)
        confs = tuple(c for p in parts for ch, c in zip(p.text.strip(), _strip_confs(p), strict=True) if ch != " ")
        combos.append((text, prob, confs))
    combos.sort(key=lambda c: -c[1])
    return combos


def _strip_confs(reading: Reading) -> tuple[float, ...]:
    text = reading.text
    start = len(text) - len(text.lstrip())
    end = start + len(text.strip())
    return reading.char_confidences[start:end]


def decide_number(segments: list[list[Reading]], min_confidence: float = 0.9,
                  min_char_confidence: float = 0.5) -> NumberDecision | None:
    """Decide on one card number from the beam readings of its line (or of its stacked groups, in
    reading order). None when the best reading is not a card number's length."""
    if not segments or any(not s for s in segments):
        return None
    combos = _candidates(segments)
    total = sum(c[1] for c in combos) or 1.0
    text, prob, confs = combos[0]
    digits = text.replace(" ", "")
    if not digits.isdigit() or not PAN_MIN_LENGTH <= len(digits) <= PAN_MAX_LENGTH:
        return None
    share = prob / total
    number = CardNumber.from_digits(digits, share, confs)
    alt = next((c[1] / total for c in combos[1:] if _valid(c[0].replace(" ", ""))), 0.0)
    groups = tuple(len(g) for g in text.split())
    if not number.luhn_valid:
        reason = "fails Luhn (returned as read)"
    elif not number.length_ok:
        reason = f"{len(digits)} digits is not a length {number.brand} issues"
    elif shorter_than_its_prefix(digits):
        # a brand that claims this prefix as specifically issues only longer numbers: the shape of a
        # number whose last group a finger or the frame hides, however sure the digits that are left
        reason = f"{len(digits)} digits under a prefix whose own brand issues longer numbers (a group may be hidden)"
    elif lone_last_digit(groups):
        reason = "its last group is a single digit (the rest of that group may be hidden)"
    elif share < min_confidence:
        reason = f"not confidently the best reading ({share:.2f} < {min_confidence})"
    elif confs and min(confs) < min_char_confidence:
        reason = f"a character is uncertain ({min(confs):.2f} < {min_char_confidence})"
    else:
        return NumberDecision(number, True, "valid and confidently read", groups, alt)
    return NumberDecision(number, False, reason, groups, alt)


def confirmable(decision: NumberDecision, floor: float = CONFIRMED_MIN_CONFIDENCE,
                min_char_confidence: float = 0.5) -> bool:
    """A valid reading refused only for holding under ``min_confidence`` of the beam, but at least ``floor``
    of it, and no character under ``min_char_confidence``: one a second reading may confirm."""
    n = decision.number
    return (not decision.accepted and n.valid and n.confidence >= floor
            and min(n.char_confidences, default=0.0) >= min_char_confidence
            # a prefix whose own brand issues only longer numbers: likely a number missing its last group
            and not shorter_than_its_prefix(n.reveal()) and not lone_last_digit(decision.groups))


def lone_last_digit(groups: tuple[int, ...]) -> bool:
    """A reading whose last printed group holds one digit: no brand prints a number so (every grouping in
    :mod:`cardlens.cardrules.brands` ends in 2 digits or more), but a number whose last group glare, a finger
    or a tight crop cut after its first digit reads so (``6273 7972 6834 7323 5`` for ``… 7323 59``)."""
    return len(groups) > 1 and groups[-1] == 1


def confirmed(decision: NumberDecision) -> NumberDecision:
    """``decision`` accepted: a second, independent reading gave the same digits."""
    return replace(decision, accepted=True, reason="valid; confirmed by reading its digit groups apart")


def refused(decision: NumberDecision, reason: str) -> NumberDecision:
    """``decision`` not accepted, for ``reason`` (the number itself stays as read)."""
    return replace(decision, accepted=False, reason=reason)
