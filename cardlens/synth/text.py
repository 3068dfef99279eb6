"""Field content for a card, driven by the card rules: PAN, grouping, expiry, name and distractor text."""

from __future__ import annotations

import random
from dataclasses import dataclass

from cardlens.cardrules import BRANDS, generate_pan, get_brand, group_digits, luhn_valid, normalize_name

BRAND_KEYS = tuple(b.key for b in BRANDS)
# Rough share of brands on cards people scan; every brand still appears.
BRAND_WEIGHTS = {"visa": 0.30, "mastercard": 0.25, "amex": 0.08, "discover": 0.06, "jcb": 0.05,
                 "diners": 0.04, "unionpay": 0.07, "mir": 0.05, "rupay": 0.04, "maestro": 0.06}

EXPIRY_LABELS = ("VALID THRU", "GOOD THRU", "EXPIRES END", "MONTH/YEAR", "VALID\nTHRU", "GOOD\nTHRU",
                 "EXPIRES\nEND", "EXP", "")
DISTRACTOR_DATE_LABELS = ("MEMBER SINCE", "VALID FROM", "MEMBER\nSINCE", "VALID\nFROM")
TIER_WORDS = ("DEBIT", "CREDIT", "PLATINUM", "GOLD", "SIGNATURE", "WORLD", "WORLD ELITE", "INFINITE",
              "CLASSIC", "BUSINESS", "PREPAID", "REWARDS", "TITANIUM", "CORPORATE", "ELECTRONIC USE ONLY")
BANK_WORDS_A = ("NORTHWIND", "CASCADE", "MERIDIAN", "HARBOR", "SUMMIT", "PIONEER", "FIRSTLINE", "BLUE RIVER",
                "ORCHARD", "KESTREL", "AURORA", "LANTERN", "GRANITE", "SILVERLEAF", "EVERGREEN", "MAPLE",
                "COPPERFIELD", "HALCYON", "TIDEWATER", "REDWOOD")
BANK_WORDS_B = ("BANK", "CREDIT UNION", "SAVINGS", "FINANCIAL", "TRUST", "BANK PLC", "BANCORP", "CARD SERVICES")
FIRST_NAMES = ("JAMES", "MARY", "ROBERT", "PATRICIA", "JOHN", "JENNIFER", "MICHAEL", "LINDA", "DAVID", "ELENA",
               "WEI", "YUKI", "AHMED", "FATIMA", "OLGA", "IVAN", "PRIYA", "RAHUL", "CARLOS", "SOFIA", "JOSE",
               "ANNA", "LUCAS", "CHLOE", "KWAME", "AMARA", "HIROSHI", "MEI", "NOAH", "EMMA", "O'BRIEN", "ZOE")
LAST_NAMES = ("SMITH", "JOHNSON", "WILLIAMS", "BROWN", "GARCIA", "MILLER", "DAVIS", "MARTINEZ", "NGUYEN",
              "KIM", "WANG", "TANAKA", "IVANOVA", "PETROV", "SHARMA", "PATEL", "SILVA", "MUELLER", "ROSSI",
              "DUBOIS", "OKAFOR", "MENSAH", "HASSAN", "COHEN", "LEE", "O'NEILL", "SMITH-JONES", "VAN DER BERG",
              "STEPHENS", "XIANG")
PLACEHOLDER_NAMES = ("CARDHOLDER NAME", "VALUED CARDMEMBER", "YOUR NAME HERE", "CARD HOLDER", "MEMBER NAME")
TITLES = ("MR", "MRS", "MS", "DR")

NUMBER_LAYOUTS = ("line", "stacked")  # stacked = 4 rows of 4 digits ("quick read")


@dataclass(frozen=True)
class CardText:
    """What is printed on a card (the transcriptions live here)."""

    brand: str
    pan: str
    luhn_label: str  # "valid" (passes Luhn) or "specimen" (a printed sample number that fails Luhn)
    grouping: tuple[int, ...]
    number_layout: str  # "line" | "stacked"
    expiry: str  # "MM/YY"
    expiry_label: str
    distractor_date: str | None  # e.g. "05/19" printed with a MEMBER SINCE / VALID FROM label
    distractor_date_label: str | None
    name: str
    bank: str
    tier: str

    @property
    def luhn_ok(self) -> bool:
        return luhn_valid(self.pan)

    @property
    def number_groups(self) -> tuple[str, ...]:
        return tuple(group_digits(self.pan, self.grouping).split(" "))

    @property
    def number_text(self) -> str:
        """The number as printed on one line (groups separated by a single space)."""
        return " ".join(self.number_groups)


def _specimen_pan(brand: str, length: int, rng: random.Random) -> str:
    """A number as marketing/specimen cards print it: brand prefix, a run pattern, failing Luhn."""
    b = get_brand(brand)
    style = rng.random()
    if style < 0.5:
        return generate_pan(b, length, rng, luhn=False)
    base = generate_pan(b, length, rng, luhn=True)
    pattern = rng.choice(("1234567890", "0000000000", "8888888888", "1111222233334444", "9876543210"))
    keep = max(len(p.sample(rng)) for p in b.prefixes) if b.prefixes else 1
    body = list(base[:keep] + (pattern * 4)[: length - keep])
    pan = "".join(body)
    if luhn_valid(pan):
        pan = pan[:-1] + str((int(pan[-1]) + 1 + rng.randrange(9)) % 10)
    from cardlens.cardrules import identify_brand

    if identify_brand(pan).brand is not b or luhn_valid(pan):
        return generate_pan(b, length, rng, luhn=False)
    return pan


def make_name(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.10:
        name = rng.choice(PLACEHOLDER_NAMES)
    else:
        parts = [rng.choice(FIRST_NAMES)]
        if rng.random() < 0.25:
            parts.append(rng.choice("ABCDEFGHJKLMNPRSTW") + ("." if rng.random() < 0.5 else ""))
        parts.append(rng.choice(LAST_NAMES))
        if rng.random() < 0.08:
            parts.insert(0, rng.choice(TITLES))
        if rng.random() < 0.08:  # surname-first style
            parts = [parts[-1] + "/", *parts[:-1]]
            name = "".join(parts[:1]) + " ".join(parts[1:])
        else:
            name = " ".join(parts)
    out = normalize_name(name) or "CARD HOLDER"
    return out


def make_card_text(rng: random.Random, *, brand: str | None = None, length: int | None = None,
                   specimen: bool | None = None, specimen_share: float = 0.2,
                   number_layout: str | None = None) -> CardText:
    if brand is None:
        brand = rng.choices(list(BRAND_WEIGHTS), weights=list(BRAND_WEIGHTS.values()))[0]
    b = get_brand(brand)
    if length is None:
        # the brand's most common length most of the time, others sometimes (12-19 overall)
        length = b.lengths[0] if (len(b.lengths) == 1 or rng.random() < 0.6) else rng.choice(b.lengths)
        if brand in ("visa", "discover", "jcb", "unionpay", "mir", "diners") and rng.random() < 0.6:
            length = 16 if 16 in b.lengths else length
    if specimen is None:
        specimen = rng.random() < specimen_share
    pan = _specimen_pan(brand, length, rng) if specimen else generate_pan(b, length, rng, luhn=True)
    grouping = rng.choice(b.groupings_for(length)) if rng.random() < 0.35 else b.groupings_for(length)[0]
    if number_layout is None:
        number_layout = "stacked" if grouping == (4, 4, 4, 4) and rng.random() < 0.12 else "line"
    if number_layout == "stacked" and grouping != (4, 4, 4, 4):
        number_layout = "line"
    month = rng.randint(1, 12)
    year = rng.randint(18, 38)
    expiry = f"{month:02d}/{year:02d}"
    ddate = None
    dlabel = None
    if rng.random() < 0.3:
        dlabel = rng.choice(DISTRACTOR_DATE_LABELS)
        dy = max(0, year - rng.randint(2, 10))
        ddate = f"{rng.randint(1, 12):02d}/{dy:02d}"
        if rng.random() < 0.3 and "MEMBER" in dlabel:
            ddate = f"{rng.randint(1970, 2024)}" if rng.random() < 0.5 else ddate
    bank = f"{rng.choice(BANK_WORDS_A)} {rng.choice(BANK_WORDS_B)}"
    return CardText(
        brand=brand, pan=pan, luhn_label="specimen" if specimen else "valid", grouping=tuple(grouping),
        number_layout=number_layout, expiry=expiry, expiry_label=rng.choice(EXPIRY_LABELS),
        distractor_date=ddate, distractor_date_label=dlabel, name=make_name(rng), bank=bank,
        tier=rng.choice(TIER_WORDS),
    )


def random_digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def phone_number(rng: random.Random) -> str:
    return rng.choice(("1-800-", "+44 ", "0800 ", "+1 ", "+61 ", "+86 ")) + f"{rng.randint(100, 999)} " \
        f"{rng.randint(100, 999)} {rng.randint(1000, 9999)}"


SMALL_PRINT_WORDS = ("this", "card", "is", "property", "of", "the", "issuer", "and", "must", "be", "returned",
                     "upon", "request", "use", "subject", "to", "cardholder", "agreement", "if", "found",
                     "please", "call", "customer", "service", "authorized", "signature", "not", "valid",
                     "unless", "signed", "issued", "by", "pursuant", "license", "international")


def small_print(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(SMALL_PRINT_WORDS) for _ in range(words)).capitalize() + "."
