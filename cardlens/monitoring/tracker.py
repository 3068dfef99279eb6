"""``SessionMonitor``: turns a :class:`~cardlens.session.ScanSession`'s frames and the app's reports into events.

A *monitoring session* is one attempt at scanning one card, with its own random id:

- ``started`` when the :class:`ScanSession` is made, and again whenever a card comes into view after the
  previous attempt had an outcome (a new card after a read, a time-out or a cancel);
- ``card_seen`` the first time a card is in view (once per session);
- ``lost`` each time the card leaves the frame before a result (the attempt goes on: same session);
- ``result_accepted`` (time-to-scan, per-field confidence, brand, PAN length) or ``timed_out``;
- then what the app reports through the session: ``cancelled``, ``manual_entry``, ``corrected``
  (which fields, and the *positions* of the digits the user changed — never the digits).

The accepted reading is kept in memory only, to compute correction positions; it is never emitted.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from cardlens.logs import get_logger
from cardlens.monitoring import sinks
from cardlens.monitoring.events import (
    MAX_MS,
    MAX_POSITION,
    FieldConfidence,
    ModelVersion,
    SessionEvent,
    _sanitize,
    new_session_id,
)

log = get_logger(__name__)
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"


def shipped_model_versions(folder: Path = MODELS_DIR) -> tuple[ModelVersion, ...]:
    """The versions of the models shipped in ``cardlens/models/*/spec.json`` (folder name order)."""

    class _Spec:
        def __init__(self, d: dict):
            self.name, self.sha256 = d.get("name", "unknown"), d.get("sha256", "")
            self.extra, self.cardlens_version = d.get("extra") or {}, d.get("cardlens_version", "")

    out = []
    for spec in sorted(Path(folder).glob("*/spec.json")):
        try:
            out.append(ModelVersion.from_spec(_Spec(json.loads(spec.read_text()))))
        except (OSError, ValueError, AttributeError):
            log.warning("monitoring: cannot read model spec %s", spec)
    return tuple(out)


def model_versions(scanner) -> tuple[ModelVersion, ...]:
    """The specs a scanner loaded (detector, card verifier, field locator, recognizer); the shipped ones for
    ``None``."""
    if scanner is None:
        return shipped_model_versions()
    reader = getattr(scanner, "reader", None)
    locator = getattr(scanner, "locator", None)
    parts = (locator, getattr(locator, "verifier", None), getattr(reader, "locator", None),
             getattr(reader, "recognizer", None))
    specs = [getattr(p, "spec", None) for p in parts]
    specs = [s for s in specs if s is not None and hasattr(s, "name")]
    if specs:
        return tuple(ModelVersion.from_spec(s) for s in specs)
    from cardlens._version import __version__

    engine = getattr(scanner, "engine", None)
    return (ModelVersion(_sanitize(engine if isinstance(engine, str) else type(scanner).__name__), __version__),)


def _digits(text: str, what: str) -> str:
    if not isinstance(text, str):
        raise ValueError(f"{what} must be a string of digits")
    clean = re.sub(r"[\s\-]", "", text)
    if not clean.isascii() or not clean.isdigit() or len(clean) > MAX_POSITION + 1:
        raise ValueError(f"{what} must be 1-{MAX_POSITION + 1} digits (spaces and dashes allowed)")
    return clean


def corrected_positions(accepted: str, final: str) -> tuple[tuple[int, ...], int, int]:
    """``(positions, digits_changed, length_delta)`` turning ``accepted`` into ``final``.

    A minimal edit script (Levenshtein; substitutions preferred on ties): positions are 0-based indices
    into the *accepted* reading of digits replaced or deleted, and for a digit the reading missed, the
    index it was inserted before. A missed or extra digit therefore marks one position, not every later
    one. ``digits_changed`` is the edit distance."""
    n, m = len(accepted), len(final)
    d = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        d[i][0] = i
    for j in range(m + 1):
        d[0][j] = j
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            d[i][j] = min(d[i - 1][j - 1] + (accepted[i - 1] != final[j - 1]), d[i - 1][j] + 1, d[i][j - 1] + 1)
    positions: set[int] = set()
    i, j = n, m
    while i or j:
        if i and j and d[i][j] == d[i - 1][j - 1] + (accepted[i - 1] != final[j - 1]):
            if accepted[i - 1] != final[j - 1]:
                positions.add(i - 1)
            i, j = i - 1, j - 1
        elif i and d[i][j] == d[i - 1][j] + 1:   # accepted had an extra digit
            positions.add(i - 1)
            i -= 1
        else:                                     # accepted missed a digit: inserted before index i
            positions.add(i)
            j -= 1
    return (tuple(sorted(p for p in positions if p <= MAX_POSITION)), min(d[n][m], MAX_POSITION + 1), m - n)


def _same_expiry(accepted, typed: str) -> bool:
    m = re.fullmatch(r"\s*(\d{1,2})\s*[/\-.]?\s*(\d{2}|\d{4})\s*", typed or "")
    if not m:
        return False
    return accepted is not None and (int(m.group(1)), int(m.group(2)) % 100) == (accepted.month,
                                                                                 accepted.year % 100)


def _same_name(accepted, typed: str) -> bool:
    def norm(s):
        return " ".join(str(s).upper().split())
    return accepted is not None and norm(accepted.value) == norm(typed)


class SessionMonitor:
    """Owned by one :class:`ScanSession`. With ``sink=None`` it keeps its books and emits nothing."""

    def __init__(self, sink=None, scanner=None):
        self.sink = sink
        self._scanner = scanner
        self._models: tuple[ModelVersion, ...] | None = None
        self._new_session()

    # --- bookkeeping -------------------------------------------------------------------------------
    def _new_session(self) -> None:
        self.session_id = new_session_id()
        self._seq = 0
        self._frames = 0
        self._seen = False
        self._outcome: str | None = None     # scanner outcome: "accepted" | "timed_out"
        self._closed = False                 # the app reported cancelled / manual entry / correction
        self._accepted = None                # the accepted ScanResult (memory only)
        self._emit("started")

    def _emit(self, kind: str, **fields) -> SessionEvent | None:
        if self.sink is None:
            return None
        try:
            if self._models is None:
                self._models = model_versions(self._scanner)
            event = SessionEvent(kind, self.session_id, self._seq, models=self._models, **fields)
            self._seq += 1
            sinks.emit(self.sink, event)
            return event
        except Exception as exc:  # monitoring never breaks a scan, unless the sink asks to be strict
            if getattr(self.sink, "strict", False):
                raise
            log.warning("monitoring event %s not emitted: %s", kind, type(exc).__name__)
            return None

    # --- frames ------------------------------------------------------------------------------------
    def observe(self, update) -> None:
        """Called by the session after each frame with its :class:`SessionUpdate`."""
        self._frames += 1
        for ev in update.events:
            if ev == "card_seen":
                if self._outcome is not None or self._closed:
                    self._new_session()
                    self._frames = 1
                if not self._seen:
                    self._seen = True
                    self._emit("card_seen", frames=min(self._frames, 99_999))
            elif ev == "reset" and update.reset == "card left the frame":
                if self._seen and self._outcome is None and not self._closed:
                    self._emit("lost", reason="card left the frame", frames=min(self._frames, 99_999))
            elif ev == "result_accepted" and self._outcome is None:
                self._outcome, final = "accepted", update.final
                self._accepted = final
                tts = update.time_to_scan_s
                self._emit("result_accepted", frames=min(self._frames, 99_999),
                           time_to_scan_ms=None if tts is None else min(MAX_MS, max(0, round(tts * 1000))),
                           confidence=FieldConfidence.of(final.number, final.expiry, final.name),
                           brand=final.number.brand if final.number else None,
                           pan_length=len(final.number) if final.number else None)
            elif ev == "timed_out" and self._outcome is None:
                self._outcome = "timed_out"
                self._emit("timed_out", frames=min(self._frames, 99_999))

    # --- what the app reports ----------------------------------------------------------------------
    def cancelled(self, reason: str = "user") -> None:
        self._closed = True
        self._emit("cancelled", reason=reason)

    def manual_entry(self) -> None:
        self._closed = True
        self._emit("manual_entry")

    def corrected(self, final_number: str | None = None, expiry: str | None = None,
                  name: str | None = None) -> tuple[int, ...]:
        if self._accepted is None:
            from cardlens.errors import UsageError

            raise UsageError("no accepted result to correct in this session: report manual_entry() instead")
        acc = self._accepted
        fields, positions, changed, delta = [], (), None, None
        if final_number is not None:
            typed = _digits(final_number, "final_number")
            read = acc.number.reveal() if acc.number else ""
            if typed != read:
                fields.append("number")
                positions, changed, delta = corrected_positions(read, typed)
        if expiry is not None and not _same_expiry(acc.expiry, expiry):
            fields.append("expiry")
        if name is not None and not _same_name(acc.name, name):
            fields.append("name")
        if not fields:
            return ()
        self._closed = True
        self._emit("corrected", corrected_fields=tuple(fields), corrected_positions=positions,
                   digits_changed=changed, length_delta=delta)
        return positions
