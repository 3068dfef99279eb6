"""Synthetic but realistic monitoring event streams: for tests and for demonstrating the report.

``simulate(n, seed)`` plays ``n`` app sessions over two weeks during which the models are updated
from version ``v1`` to ``v2`` (clients switch over gradually in the middle of the period). ``v2`` is
deliberately worse: fewer accepted scans (so more time-outs and manual entries), slower scans, and
more corrections at digit positions 4-7. :func:`session_events` builds one session exactly, for tests
with hand-checkable numbers.

    python -m cardlens.monitoring.simulate events.jsonl --sessions 2000 --seed 0
    cardlens report sessions events.jsonl
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

from cardlens.monitoring.events import FieldConfidence, ModelVersion, SessionEvent, format_ts, new_session_id

MODEL_NAMES = ("card-detector-t", "card-fields-p", "card-text-recognizer")
START = _dt.datetime(2025, 6, 2, 8, 0, tzinfo=_dt.UTC)


def model_set(version: str) -> tuple[ModelVersion, ...]:
    """Three models at ``version``, with sha256 prefixes derived from name and version."""
    return tuple(ModelVersion(n, version, hashlib.sha256(f"{n}@{version}".encode()).hexdigest()[:12])
                 for n in MODEL_NAMES)


@dataclass(frozen=True)
class Profile:
    """How sessions go with one model version (probabilities per session)."""

    version: str
    p_no_card: float = 0.03            # the user leaves before showing a card
    p_manual_no_card: float = 0.35     # … and types it instead
    p_lost: float = 0.10               # the card leaves the frame once before the result
    p_accept: float = 0.90             # a card in view is accepted (else timed out)
    tts_median_ms: float = 1400.0      # log-normal time to scan
    tts_sigma: float = 0.5
    p_corrected: float = 0.04          # an accepted result is edited…
    p_manual_after_accept: float = 0.01  # … or thrown away and typed
    p_manual_after_timeout: float = 0.75  # after a time-out the user types (else cancels, or nothing)
    p_cancel_after_timeout: float = 0.20
    hard_positions: tuple[int, ...] = (6, 7, 8, 9, 10, 11)  # where misreads concentrate
    p_expiry_corrected: float = 0.15   # of corrected sessions
    p_name_corrected: float = 0.30
    p_open: float = 0.01               # the app was killed: no outcome reported


PROFILES = {
    "v1": Profile("v1"),
    "v2": Profile("v2", p_accept=0.80, tts_median_ms=1900.0, tts_sigma=0.6, p_corrected=0.08,
                  hard_positions=(4, 5, 6, 7)),
}


def session_events(models, start: _dt.datetime, *, card: bool = True, accepted: bool | None = True,
                   tts_ms: int | None = 1500, then: str | None = None, positions: tuple[int, ...] = (),
                   fields: tuple[str, ...] = ("number",), lost: int = 0, brand: str = "visa", pan_length: int = 16,
                   confidence: float = 0.97, session_id: str | None = None) -> list[SessionEvent]:
    """The events of one session.

    ``card=False``: the user never showed a card. Otherwise the card is seen, leaves the frame ``lost``
    times, then ``accepted`` True (result after ``tts_ms``), False (timed out) or None (no result).
    ``then``: what the app reports afterwards — ``"cancelled"``, ``"manual_entry"``, ``"corrected"``
    (``fields``; ``positions`` for the number) or None."""
    sid = session_id or new_session_id()
    t = start
    events: list[SessionEvent] = []

    def add(kind, dt_ms=0, **kw):
        nonlocal t
        t = t + _dt.timedelta(milliseconds=dt_ms)
        events.append(SessionEvent(kind, sid, len(events), format_ts(t), tuple(models), **kw))

    add("started")
    if card:
        add("card_seen", 800, frames=12)
        for _ in range(lost):
            add("lost", 600, reason="card left the frame", frames=30)
        if accepted is True:
            add("result_accepted", tts_ms or 0, time_to_scan_ms=tts_ms, frames=40,
                confidence=FieldConfidence(confidence, 0.93, 0.88), brand=brand, pan_length=pan_length)
        elif accepted is False:
            add("timed_out", 10_000, frames=300)
    if then == "corrected":
        number = "number" in fields
        add("corrected", 4000, corrected_fields=tuple(fields), corrected_positions=tuple(positions) if number else (),
            digits_changed=len(positions) if number else None, length_delta=0 if number else None)
    elif then == "cancelled":
        add("cancelled", 3000, reason="user")
    elif then == "manual_entry":
        add("manual_entry", 25_000)
    return events


def _one(rng: random.Random, p: Profile, models, start: _dt.datetime) -> list[SessionEvent]:
    if rng.random() < p.p_no_card:
        return session_events(models, start, card=False,
                              then="manual_entry" if rng.random() < p.p_manual_no_card else "cancelled")
    lost = 1 if rng.random() < p.p_lost else 0
    if rng.random() < p.p_open:
        return session_events(models, start, accepted=None, lost=lost)
    if rng.random() < p.p_accept:
        tts = min(9_999, max(250, int(rng.lognormvariate(0.0, p.tts_sigma) * p.tts_median_ms)))
        r = rng.random()
        if r < p.p_corrected:
            fields = ["number"] if rng.random() < 0.8 else []
            if rng.random() < p.p_expiry_corrected:
                fields.append("expiry")
            if rng.random() < p.p_name_corrected or not fields:
                fields.append("name")
            k = 1 if rng.random() < 0.8 else 2
            positions = tuple(sorted(rng.sample(p.hard_positions if rng.random() < 0.7 else range(16), k)))
            return session_events(models, start, tts_ms=tts, then="corrected", fields=tuple(fields),
                                  positions=positions if "number" in fields else (), lost=lost,
                                  confidence=round(rng.uniform(0.90, 0.97), 3))
        then = "manual_entry" if r < p.p_corrected + p.p_manual_after_accept else None
        return session_events(models, start, tts_ms=tts, then=then, lost=lost,
                              brand=rng.choice(("visa", "visa", "mastercard", "mastercard", "amex")),
                              confidence=round(rng.uniform(0.93, 0.999), 3))
    r = rng.random()
    then = ("manual_entry" if r < p.p_manual_after_timeout else
            "cancelled" if r < p.p_manual_after_timeout + p.p_cancel_after_timeout else None)
    return session_events(models, start, accepted=False, then=then, lost=lost)


def simulate(n_sessions: int = 2000, seed: int = 0, profiles: tuple[Profile, ...] | None = None,
             start: _dt.datetime = START, days: float = 14.0) -> list[SessionEvent]:
    """Events of ``n_sessions`` sessions, time-ordered, with a gradual switch between the profiles'
    model versions over the middle 40 % of the period (two versions by default: v1 → worse v2)."""
    rng = random.Random(seed)
    profiles = profiles or (PROFILES["v1"], PROFILES["v2"])
    sets = [model_set(p.version) for p in profiles]
    events: list[SessionEvent] = []
    for i in range(n_sessions):
        x = (i + rng.random()) / max(n_sessions, 1)
        when = start + _dt.timedelta(days=days * x)
        # the share of clients on the next version ramps from 0 to 1 over x in [0.3, 0.7]
        stage = x * (len(profiles) - 1)
        k = min(int(stage), len(profiles) - 2) if len(profiles) > 1 else 0
        frac = stage - k
        ramp = min(1.0, max(0.0, (frac - 0.3) / 0.4))
        j = k + 1 if len(profiles) > 1 and rng.random() < ramp else k
        events += _one(rng, profiles[j], sets[j], when)
    events.sort(key=lambda e: (e.ts, e.session_id, e.seq))
    return events


def write_jsonl(events, path: str | Path, append: bool = False) -> Path:
    from cardlens.monitoring.sinks import JsonlSink

    path = Path(path)
    if not append and path.exists():
        path.unlink()
    with JsonlSink(path, strict=True) as sink:
        for e in events:
            sink.emit(e)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cardlens.monitoring.simulate",
                                 description="Write a synthetic scan-session event stream (v1 → worse v2).")
    ap.add_argument("out", help="JSONL file to write (replaced unless --append)")
    ap.add_argument("--sessions", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--append", action="store_true")
    args = ap.parse_args(argv)
    events = simulate(args.sessions, args.seed)
    write_jsonl(events, args.out, args.append)
    print(f"{len(events)} events of {args.sessions} sessions → {args.out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
