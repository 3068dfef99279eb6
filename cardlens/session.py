"""``ScanSession``: many frames of one card → one confident answer (the multi-frame vote).

A frame's card number counts as a vote only when the scanner accepted it (valid and confidently
read). The session completes when ``agree`` votes name the same number (Stripe CardScan's default is
3) and gives up after ``timeout_s``. It resets — forgetting every vote — when the card leaves the
frame for ``lost_frames`` frames, or when a *different* number is accepted ``agree`` times in a row
(the card was swapped in view), so it never returns the previous card's number for a new card.
Votes are keyed by the number inside the session only; everything the session exposes is masked.

With a monitoring ``sink`` (:mod:`cardlens.monitoring`) the session also emits privacy-safe outcome
events; the app reports what the user did with :meth:`ScanSession.cancel`, :meth:`ScanSession.manual_entry`
and :meth:`ScanSession.user_corrected`.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from cardlens.monitoring.tracker import SessionMonitor
from cardlens.results import CardName, CardNumber, ScanResult


@dataclass(frozen=True)
class SessionConfig:
    agree: int = 3            # accepted reads of the same number that finish the session
    timeout_s: float = 10.0   # from the first frame with a card
    lost_frames: int = 5      # consecutive frames without a card that end the card's session
    read_every_when_done: int = 4  # once answered, read text on every Nth frame only (locate the others)

    def __post_init__(self):
        if self.agree < 1 or self.timeout_s <= 0 or self.lost_frames < 1 or self.read_every_when_done < 1:
            raise ValueError("agree, lost_frames and read_every_when_done must be ≥ 1 and timeout_s > 0")


@dataclass(frozen=True, repr=False)
class SessionUpdate:
    """The session after one frame. ``final`` is set once (status ``done``) until the next reset."""

    status: str                            # "searching" | "reading" | "done" | "timed_out"
    frame: ScanResult
    leader: str | None                     # masked number with the most votes
    leader_votes: int
    needed: int
    final: ScanResult | None = None
    time_to_scan_s: float | None = None
    reset: str | None = None               # why this frame reset the session, if it did
    events: tuple[str, ...] = field(default_factory=tuple)

    @property
    def progress(self) -> float:
        return min(1.0, self.leader_votes / self.needed) if self.needed else 0.0

    def __repr__(self) -> str:
        return (f"SessionUpdate(status={self.status!r}, leader={self.leader!r}, votes={self.leader_votes}/"
                f"{self.needed}, reset={self.reset!r})")

    def to_dict(self, reveal: bool = False) -> dict:
        return {"status": self.status, "leader": self.leader, "leader_votes": self.leader_votes,
                "needed": self.needed, "progress": round(self.progress, 3), "reset": self.reset,
                "time_to_scan_s": None if self.time_to_scan_s is None else round(self.time_to_scan_s, 3),
                "final": self.final.to_dict(reveal) if self.final else None, "events": list(self.events),
                "frame": self.frame.to_dict(reveal)}


class ScanSession:
    """Feed frames with :meth:`update`. One session per video stream; not shared between threads."""

    def __init__(self, scanner, config: SessionConfig | None = None, clock=time.monotonic, sink=None):
        self.scanner = scanner
        self.config = config or SessionConfig()
        self._clock = clock
        self._monitor = SessionMonitor(sink, scanner)  # sink=None: no events
        self._clear()

    def _clear(self) -> None:
        self._votes: Counter[str] = Counter()
        self._numbers: dict[str, CardNumber] = {}
        self._expiry: Counter = Counter()
        self._names: Counter[str] = Counter()
        self._name_obj: dict[str, CardName] = {}
        self._started: float | None = None
        self._missing = 0
        self._final: ScanResult | None = None
        self._final_time: float | None = None
        self._timed_out = False
        self._challenger: tuple[str, int] | None = None
        self._frames_done = 0

    def __reduce_ex__(self, protocol):
        # votes are keyed by the full number in memory; a pickle (cache, queue, crash dump) would carry it
        raise TypeError("a ScanSession holds card numbers and cannot be pickled or copied; pickle its "
                        "SessionUpdate or ScanResult (masked) instead")

    def reset(self) -> None:
        """Forget the current card (e.g. the user pressed reset)."""
        self._clear()

    def cancel(self) -> None:
        """The user closed the scanner (monitoring event ``cancelled``)."""
        self._monitor.cancelled()

    def manual_entry(self) -> None:
        """The user typed the card instead of (or after) scanning it (event ``manual_entry``)."""
        self._monitor.manual_entry()

    def user_corrected(self, final_number: str | None = None, *, expiry: str | None = None,
                       name: str | None = None) -> tuple[int, ...]:
        """The user edited the accepted result before submitting it. Compares what they submitted with
        the accepted reading here and emits only which fields changed and the changed digit *positions*
        (0-based, in the accepted number); returns those positions. Nothing changed: no event."""
        return self._monitor.corrected(final_number, expiry, name)

    def update(self, frame: object, now: float | None = None, color: str = "bgr") -> SessionUpdate:
        now = self._clock() if now is None else now
        self._frames_done = self._frames_done + 1 if self._final is not None else 0
        # answered: the card's presence still matters every frame, its text (a swap) only now and then
        read = self._final is None or self._frames_done % self.config.read_every_when_done == 0
        result = self.scanner.scan(frame, color=color, read=read)
        return self.add_result(result, now)

    def add_result(self, result: ScanResult, now: float) -> SessionUpdate:
        """Count one frame's :class:`ScanResult` (for callers that scan themselves)."""
        cfg, events, reset = self.config, [], None
        if not result.card_found:
            self._missing += 1
            if self._started is not None and self._missing >= cfg.lost_frames:
                self._clear()
                reset = "card left the frame"
                events.append("reset")
            return self._update(result, now, reset, events)
        self._missing = 0
        if self._started is None:
            self._started = now
            events.append("card_seen")
        key = result.number.reveal() if (result.number and result.number_accepted) else None
        if key is not None and self._final is not None and key != self._final_key():
            count = self._challenger[1] + 1 if self._challenger and self._challenger[0] == key else 1
            self._challenger = (key, count)
            if count >= cfg.agree:  # another card is in view now
                self._clear()
                self._started = now
                reset, events = "a different card is in view", events + ["reset", "card_seen"]
        elif key is not None:
            self._challenger = None
        if self._final is None and not self._timed_out:
            if key is not None:
                self._votes[key] += 1
                self._numbers[key] = result.number
                if result.expiry:
                    self._expiry[(result.expiry.month, result.expiry.year)] += 1
                if result.name:
                    self._names[result.name.value] += 1
                    self._name_obj[result.name.value] = result.name
            top = self._votes.most_common(1)
            if top and top[0][1] >= cfg.agree:
                self._final = self._finish(top[0][0], result)
                self._final_time = now - self._started
                events.append("result_accepted")
            elif now - self._started >= cfg.timeout_s:
                self._timed_out = True
                events.append("timed_out")
        return self._update(result, now, reset, events)

    def _final_key(self) -> str | None:
        return self._final.number.reveal() if self._final and self._final.number else None

    def _finish(self, key: str, last: ScanResult) -> ScanResult:
        from dataclasses import replace

        expiry = None
        if self._expiry:
            (month, year), _ = self._expiry.most_common(1)[0]
            expiry = next((e for e in [last.expiry] if e and (e.month, e.year) == (month, year)), None)
            if expiry is None:
                from cardlens.cardrules.expiry import Expiry, is_expired

                expiry = Expiry(month, year, f"{month:02d}/{year % 100:02d}", None, is_expired(month, year))
        name = self._name_obj[self._names.most_common(1)[0][0]] if self._names else None
        votes = self._votes[key]
        # a non-date as printed (88/88) only stands beside no voted date
        return replace(last, number=self._numbers[key], expiry=expiry, name=name, number_accepted=True,
                       printed_expiry=None if expiry else last.printed_expiry,
                       notes=last.notes + (f"multi-frame vote: {votes} agreeing reads",))

    def _update(self, result: ScanResult, now: float, reset: str | None, events: list[str]) -> SessionUpdate:
        top = self._votes.most_common(1)
        leader = self._numbers[top[0][0]].masked if top else None
        if self._final is not None:
            status = "done"
        elif self._timed_out:
            status = "timed_out"
        elif self._started is None:
            status = "searching"
        else:
            status = "reading"
        update = SessionUpdate(status, result, leader, top[0][1] if top else 0, self.config.agree, self._final,
                               self._final_time, reset, tuple(events))
        self._monitor.observe(update)
        return update
