"""Cardholder name line: the characters embossing and printing use, upper case."""

from __future__ import annotations

import re
import unicodedata

NAME_CHARSET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ .-'/")
MAX_NAME_LENGTH = 26  # ISO/IEC 7813 track-1 name field


def normalize_name(text: str) -> str | None:
    """Upper-case ASCII name restricted to A–Z, space and ``. - ' /``; ``None`` if nothing is left.

    Accents are folded (``José`` → ``JOSE``); digits and other symbols become spaces; runs of spaces
    collapse. A result needs at least two letters to count as a name.
    """
    if not isinstance(text, str):
        return None
    folded = unicodedata.normalize("NFKD", text)
    folded = "".join(c for c in folded if not unicodedata.combining(c)).upper()
    folded = folded.replace("\u2019", "'").replace("\u2018", "'")
    kept = "".join(c if c in NAME_CHARSET else " " for c in folded)
    kept = re.sub(r"\s+", " ", kept).strip(" .-'/")
    if sum(c.isalpha() for c in kept) < 2:
        return None
    return kept[:MAX_NAME_LENGTH].rstrip()
