"""Issuer (IIN) table: brand prefixes, allowed lengths and how each brand prints its digits.

Matching takes the longest prefix. Where two brands claim a prefix of the same length (``65`` is both
Discover and RuPay, ``62`` both UnionPay and Maestro) the brand listed first in ``BRANDS`` wins.
Brands whose lengths admit the number are preferred over those that do not.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from cardlens.cardrules.luhn import luhn_check_digit

Grouping = tuple[int, ...]

# Default display groupings by length for brands without their own print layout.
_DEFAULT_GROUPINGS: dict[int, tuple[Grouping, ...]] = {
    12: ((4, 4, 4),),
    13: ((4, 4, 5), (4, 3, 3, 3)),
    14: ((4, 6, 4), (4, 4, 4, 2)),
    15: ((4, 6, 5), (4, 4, 4, 3)),
    16: ((4, 4, 4, 4),),
    17: ((4, 4, 4, 5),),
    18: ((4, 4, 4, 4, 2), (6, 12)),
    19: ((4, 4, 4, 4, 3), (6, 13), (4, 4, 4, 7)),
}


@dataclass(frozen=True)
class PrefixRange:
    """Inclusive range of IIN prefixes with the same number of digits, e.g. 2221–2720."""

    low: int
    high: int
    width: int

    @classmethod
    def parse(cls, text: str) -> PrefixRange:
        lo, _, hi = text.partition("-")
        hi = hi or lo
        if len(lo) != len(hi) or not (lo + hi).isdigit():
            raise ValueError(f"bad prefix range {text!r}")
        return cls(int(lo), int(hi), len(lo))

    def matches(self, digits: str) -> bool:
        return len(digits) >= self.width and self.low <= int(digits[: self.width]) <= self.high

    def sample(self, rng: random.Random) -> str:
        return str(rng.randint(self.low, self.high)).zfill(self.width)


@dataclass(frozen=True)
class Brand:
    key: str
    name: str
    prefixes: tuple[PrefixRange, ...]
    lengths: tuple[int, ...]
    groupings: dict[int, tuple[Grouping, ...]] | None = None

    def __hash__(self) -> int:  # groupings is a dict; identity is the key
        return hash(self.key)

    def groupings_for(self, length: int) -> tuple[Grouping, ...]:
        """Printed layouts for a number of ``length`` digits, most common first."""
        own = (self.groupings or {}).get(length)
        return own or _DEFAULT_GROUPINGS.get(length, ((length,),))

    def prefix_match_width(self, digits: str) -> int:
        """Length of the longest of this brand's prefixes that ``digits`` starts with (0 if none)."""
        return max((p.width for p in self.prefixes if p.matches(digits)), default=0)


def _brand(key: str, name: str, prefixes: str, lengths: tuple[int, ...], groupings=None) -> Brand:
    return Brand(key, name, tuple(PrefixRange.parse(p) for p in prefixes.split(",")), lengths, groupings)


# Order matters only to break ties between prefixes of equal width (see module docstring).
BRANDS: tuple[Brand, ...] = (
    _brand("visa", "Visa", "4", (13, 16, 19), {13: ((4, 3, 3, 3), (4, 4, 5))}),
    _brand("mastercard", "Mastercard", "51-55,2221-2720", (16,)),
    _brand("amex", "American Express", "34,37", (15,), {15: ((4, 6, 5),)}),
    _brand("discover", "Discover", "6011,644-649,65,622126-622925", (16, 17, 18, 19)),
    _brand("jcb", "JCB", "3528-3589", (16, 17, 18, 19)),
    _brand("diners", "Diners Club", "36,300-305,38-39", (14, 15, 16, 17, 18, 19), {14: ((4, 6, 4),)}),
    _brand("unionpay", "UnionPay", "62", (16, 17, 18, 19)),
    _brand("mir", "Mir", "2200-2204", (16, 17, 18, 19)),
    _brand("rupay", "RuPay", "60,65,81,82,508", (16,)),
    _brand("maestro", "Maestro", "50,56-69", tuple(range(12, 20))),
)
BRANDS_BY_KEY: dict[str, Brand] = {b.key: b for b in BRANDS}

PAN_MIN_LENGTH = min(min(b.lengths) for b in BRANDS)
PAN_MAX_LENGTH = max(max(b.lengths) for b in BRANDS)


@dataclass(frozen=True)
class BrandMatch:
    """Which brand a number belongs to and whether its length is one that brand issues."""

    brand: Brand | None
    length_ok: bool

    @property
    def known(self) -> bool:
        return self.brand is not None

    @property
    def key(self) -> str:
        return self.brand.key if self.brand else "unknown"


def get_brand(key: str) -> Brand:
    try:
        return BRANDS_BY_KEY[key]
    except KeyError:
        raise ValueError(f"unknown brand {key!r}; known brands: {', '.join(BRANDS_BY_KEY)}") from None


def identify_brand(digits: str) -> BrandMatch:
    """Brand of a (possibly partial) digit string by longest prefix.

    A brand whose allowed lengths include ``len(digits)`` is preferred; otherwise the longest-prefix
    brand is returned with ``length_ok=False``. Unknown prefixes give ``BrandMatch(None, False)``.
    """
    if not isinstance(digits, str) or not digits or not digits.isascii() or not digits.isdigit():
        return BrandMatch(None, False)
    scored = [(b.prefix_match_width(digits), -i, b) for i, b in enumerate(BRANDS)]
    scored = [s for s in scored if s[0] > 0]
    if not scored:
        return BrandMatch(None, False)
    fitting = [s for s in scored if len(digits) in s[2].lengths]
    best = max(fitting or scored, key=lambda s: (s[0], s[1]))[2]
    return BrandMatch(best, len(digits) in best.lengths)


def shorter_than_its_prefix(digits: str) -> bool:
    """Whether a brand that claims ``digits``' prefix at least as specifically as the matched brand issues
    only longer numbers: ``6223`` + 8 digits is a 12-digit Maestro only because UnionPay (``62``) and
    Discover (``622126–622925``) issue 16–19 digits, which is what a number that lost its last group to a
    finger looks like."""
    match = identify_brand(digits)
    if match.brand is None:
        return False
    width = match.brand.prefix_match_width(digits)
    return any(b is not match.brand and b.prefix_match_width(digits) >= width and min(b.lengths) > len(digits)
               for b in BRANDS)


def group_digits(digits: str, grouping: Grouping | None = None, sep: str = " ") -> str:
    """Split ``digits`` the way its brand prints it (or by an explicit ``grouping``)."""
    if grouping is None:
        match = identify_brand(digits)
        groupings = match.brand.groupings_for(len(digits)) if match.brand else _DEFAULT_GROUPINGS.get(len(digits))
        grouping = groupings[0] if groupings else (len(digits),)
    if sum(grouping) != len(digits):
        raise ValueError(f"grouping {grouping} does not cover {len(digits)} digits")
    out, i = [], 0
    for g in grouping:
        out.append(digits[i : i + g])
        i += g
    return sep.join(out)


def generate_pan(brand: str | Brand, length: int | None = None, rng: random.Random | None = None,
                 luhn: bool = True) -> str:
    """A random number of ``brand`` (a Luhn-valid one unless ``luhn=False``, which forces a failing one).

    The result always maps back to ``brand`` through :func:`identify_brand`.
    """
    b = brand if isinstance(brand, Brand) else get_brand(brand)
    rng = rng or random.Random()
    if length is None:
        length = rng.choice(b.lengths)
    if length not in b.lengths:
        raise ValueError(f"{b.name} numbers have {b.lengths} digits, not {length}")
    for _ in range(1000):
        prefix = rng.choice(b.prefixes).sample(rng)
        body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
        check = luhn_check_digit(body)
        if not luhn:
            check = str((int(check) + rng.randint(1, 9)) % 10)
        pan = body + check
        if identify_brand(pan).brand is b:
            return pan
    raise RuntimeError(f"could not generate a {b.name} number of length {length}")  # pragma: no cover
