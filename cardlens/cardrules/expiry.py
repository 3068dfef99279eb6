"""Expiry dates as printed on cards: ``MM/YY``, ``MM/YYYY``, ``MM-YY`` with or without a label.

A card can print several dates. Labels decide which one is the expiry: VALID THRU, GOOD THRU,
EXPIRES END and friends mark it, MEMBER SINCE and VALID FROM mark dates that are not. Without
labels the latest plausible date wins (the expiry is the last date a card prints).
"""

from __future__ import annotations

import datetime as _dt
import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

MAX_YEARS_AHEAD = 20
MIN_YEAR = 1970

EXPIRY_LABELS = (
    "VALID THRU", "VALID THROUGH", "GOOD THRU", "GOOD THROUGH", "EXPIRES END", "EXPIRES", "EXPIRY",
    "EXPIRY DATE", "EXP DATE", "EXP", "VALID TO", "VALID UNTIL", "VALID DATES", "MONTH/YEAR", "THRU",
    "END",
)
DISTRACTOR_LABELS = ("MEMBER SINCE", "CUSTOMER SINCE", "MEMBER", "SINCE", "VALID FROM", "FROM", "ISSUED")

_DATE = re.compile(r"(?<![0-9])(?P<m>[0-9]{1,2})\s?[/\-.]\s?(?P<y>[0-9]{4}|[0-9]{2})(?![0-9])")


def _label_pattern(labels: tuple[str, ...]) -> re.Pattern[str]:
    alts = sorted((re.escape(lbl).replace(r"\ ", r"\s*") for lbl in labels), key=len, reverse=True)
    return re.compile(r"(?<![A-Z])(?:" + "|".join(alts) + r")(?![A-Z])")


_EXPIRY_RE = _label_pattern(EXPIRY_LABELS)
_DISTRACTOR_RE = _label_pattern(DISTRACTOR_LABELS)
_LABEL_REACH = 24  # characters between a label and the date it names


@dataclass(frozen=True)
class DateCandidate:
    month: int
    year: int
    text: str
    start: int
    role: str  # "expiry" (labelled), "distractor" (MEMBER SINCE…), "unlabelled"
    label: str | None


@dataclass(frozen=True)
class Expiry:
    """A card's expiry. Cards are valid through the last day of ``month``."""

    month: int
    year: int
    text: str
    label: str | None = None
    expired: bool = False
    confidence: float = 1.0
    char_confidences: tuple[float, ...] = ()

    def __str__(self) -> str:
        return f"{self.month:02d}/{self.year % 100:02d}"

    @property
    def iso(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def to_dict(self) -> dict:
        return {"value": str(self), "month": self.month, "year": self.year, "label": self.label,
                "expired": self.expired, "confidence": round(self.confidence, 4),
                "char_confidences": [round(c, 4) for c in self.char_confidences]}


@dataclass(frozen=True)
class PrintedExpiry:
    """An expiry field read surely as ``MM/YY`` that is no date: a month outside 01–12 or a year no card
    prints (specimen cards print ``88/88``). Returned as read and flagged, as a number failing Luhn is,
    and never as the card's :class:`Expiry`."""

    text: str
    confidence: float = 1.0
    char_confidences: tuple[float, ...] = ()

    def __str__(self) -> str:
        return self.text

    def to_dict(self) -> dict:
        return {"value": self.text, "is_date": False, "confidence": round(self.confidence, 4),
                "char_confidences": [round(c, 4) for c in self.char_confidences]}


_PRINTED = re.compile(r"\s*([0-9]{2})/([0-9]{2})\s*")


def printed_non_date(text: str, today: _dt.date | None = None) -> str | None:
    """``text`` when it is exactly ``MM/YY`` and not a date the expiry rules return (``88/88``), else None."""
    m = _PRINTED.fullmatch(text or "")
    if m is None or is_plausible(int(m.group(1)), _full_year(m.group(2), today), today):
        return None
    return f"{m.group(1)}/{m.group(2)}"


def _full_year(two_or_four: str, today: _dt.date | None = None) -> int:
    """A printed year in full: two digits mean the century that puts it at most ``MAX_YEARS_AHEAD`` years
    ahead of ``today`` (``12/99`` is December 1999, an expired card, not 2099)."""
    y = int(two_or_four)
    if len(two_or_four) != 2:
        return y
    today = today or _dt.date.today()
    return 2000 + y if 2000 + y <= today.year + MAX_YEARS_AHEAD else 1900 + y


def is_plausible(month: int, year: int, today: _dt.date | None = None) -> bool:
    today = today or _dt.date.today()
    return 1 <= month <= 12 and MIN_YEAR <= year <= today.year + MAX_YEARS_AHEAD


def is_expired(month: int, year: int, today: _dt.date | None = None) -> bool:
    today = today or _dt.date.today()
    return (year, month) < (today.year, today.month)


def find_dates(text: str, today: _dt.date | None = None) -> list[DateCandidate]:
    """Every plausible MM/YY-style date in ``text`` with the role its nearest preceding label gives it."""
    if not isinstance(text, str):
        return []
    upper = text.upper()
    labels = [(m.end(), m.group(0), "expiry") for m in _EXPIRY_RE.finditer(upper)]
    labels += [(m.end(), m.group(0), "distractor") for m in _DISTRACTOR_RE.finditer(upper)]
    labels.sort(key=lambda lb: lb[0])
    label_ends = [lb[0] for lb in labels]
    dates = list(_DATE.finditer(upper))
    date_starts = [d.start() for d in dates]
    # A longer distractor ("VALID FROM") beats an expiry label ending at the same place ("FROM" vs none).
    out = []
    for m in dates:  # bisection keeps long texts linear (a label or date per character is still fast)
        month, year = int(m.group("m")), _full_year(m.group("y"), today)
        if not is_plausible(month, year, today):
            continue
        preceding = labels[bisect_left(label_ends, m.start() - _LABEL_REACH):bisect_right(label_ends, m.start())]
        role, label = "unlabelled", None
        if preceding:
            end, label_text, role = max(preceding, key=lambda lb: (lb[0], len(lb[1])))
            label = " ".join(label_text.split())
            # Another date between the label and this one means the label belonged to that date.
            i = bisect_left(date_starts, end)
            if i < len(date_starts) and date_starts[i] < m.start():
                role, label = "unlabelled", None
        out.append(DateCandidate(month, year, m.group(0), m.start(), role, label))
    return out


def parse_expiry(text: str, today: _dt.date | None = None) -> Expiry | None:
    """The expiry date in ``text`` (a field or a whole card's text), or ``None``.

    Dates labelled as distractors (MEMBER SINCE, VALID FROM) are never returned.
    """
    today = today or _dt.date.today()
    candidates = find_dates(text, today)
    labelled = [c for c in candidates if c.role == "expiry"]
    pool = labelled or [c for c in candidates if c.role == "unlabelled"]
    if not pool:
        return None
    best = max(pool, key=lambda c: (c.year, c.month)) if not labelled else labelled[0]
    return Expiry(best.month, best.year, best.text, best.label, is_expired(best.month, best.year, today))
