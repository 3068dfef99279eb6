"""Keeping card numbers out of logs, reprs, exceptions and reports.

The only way to get a full number back is :meth:`PanDigits.reveal`. Everything else (``str``,
``repr``, ``format``, pickling, JSON via :mod:`cardlens.results`) sees the masked form.
"""

from __future__ import annotations

import logging
import re

MASK_CHAR = "*"
# A run of 12 or more digits, split or not by up to three spaces, tabs, newlines, dashes, dots, slashes or
# underscores between digits, as printed or logged ("4111 1111 1111 1111", "4111--1111…", a PAN run into
# its expiry). Hex digests (32+ hex characters with a letter, e.g. the sha256 in a model error) are kept.
_PAN_RUN = re.compile(r"(?P<hex>(?<![0-9A-Za-z])(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{32,}(?![0-9A-Za-z]))"
                      r"|(?<![0-9])(?:[0-9][\s\-./_]{0,3}){11,}[0-9](?![0-9])")


def mask_pan(digits: str) -> str:
    """First six and last four characters with the middle masked: ``411111******1111``.

    Shorter strings (partial reads) keep less: at most the last four for 8–11 characters and nothing
    below that, so a mask never reveals more than six leading plus four trailing digits of any PAN.
    """
    n = len(digits)
    if n >= 12:
        return digits[:6] + MASK_CHAR * (n - 10) + digits[-4:]
    if n >= 8:
        return MASK_CHAR * (n - 4) + digits[-4:]
    return MASK_CHAR * n


def redact_text(text: str) -> str:
    """Mask every PAN-like digit run (12 or more digits, spaced or dashed) inside free text."""

    def _sub(m: re.Match[str]) -> str:
        if m.group("hex"):
            return m.group(0)
        return mask_pan(re.sub(r"[^0-9]", "", m.group(0)))

    return _PAN_RUN.sub(_sub, text)


class PanDigits:
    """A card number held as a secret: masked everywhere unless :meth:`reveal` is called."""

    __slots__ = ("_digits", "_redacted")

    def __init__(self, digits: str, *, _redacted: bool = False):
        if not isinstance(digits, str):
            raise TypeError("PanDigits takes a string")
        self._digits = digits
        self._redacted = _redacted

    def reveal(self) -> str:
        """The full number. Call only when the user explicitly asked for it."""
        return self._digits

    @property
    def masked(self) -> str:
        return self._digits if self._redacted else mask_pan(self._digits)

    @property
    def redacted(self) -> bool:
        """True when this value came through pickling, which only carries the masked form."""
        return self._redacted

    def __len__(self) -> int:
        return len(self._digits)

    def __str__(self) -> str:
        return self.masked

    def __repr__(self) -> str:
        return f"PanDigits({self.masked!r})"

    def __format__(self, spec: str) -> str:
        return format(self.masked, spec)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PanDigits):
            return self._digits == other._digits and self._redacted == other._redacted
        return NotImplemented

    def __hash__(self) -> int:
        return hash((PanDigits, self._digits))

    def __reduce__(self):
        # Pickles (caches, multiprocessing queues, crash dumps) only ever carry the masked form.
        return (PanDigits, (self.masked,), {"_redacted": True})

    def __setstate__(self, state):
        self._redacted = state.get("_redacted", True) if isinstance(state, dict) else True

    def __deepcopy__(self, memo):
        return PanDigits(self._digits, _redacted=self._redacted)

    def __copy__(self):
        return self.__deepcopy__({})


class PanRedactingFilter(logging.Filter):
    """Logging filter that masks PAN-like digit runs in every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not break logging
            return True
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
