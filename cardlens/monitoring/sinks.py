"""Where monitoring events go: anything with ``emit(event)`` and ``close()``.

Built in: :class:`JsonlSink` (the default: one JSON line per event, appended and flushed per event),
:class:`MemorySink` (tests) and :class:`NullSink`.

**A privacy violation drops the event with a warning** (logged without the offending value) and counts
it in ``sink.dropped``: monitoring must never break a scan, and an exception carrying an event around
is one more place a value could leak. Pass ``strict=True`` to raise :class:`PrivacyError` instead
(tests do). :func:`emit` applies the same check in front of any custom sink.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Protocol, runtime_checkable

from cardlens.logs import get_logger
from cardlens.monitoring.events import PrivacyError, SessionEvent, check_event

log = get_logger(__name__)


@runtime_checkable
class EventSink(Protocol):
    def emit(self, event: SessionEvent) -> None: ...

    def close(self) -> None: ...


class BaseSink:
    """Validates every event (drop + warning, or raise when ``strict``) before :meth:`_write`."""

    def __init__(self, strict: bool = False):
        self.strict = strict
        self.dropped = 0
        self.emitted = 0

    def emit(self, event: SessionEvent) -> None:
        try:
            line = check_event(event)
        except PrivacyError as exc:
            if self.strict:
                raise
            self.dropped += 1
            log.warning("monitoring event dropped: %s", exc)
            return
        self._write(event, line)
        self.emitted += 1

    def _write(self, event: SessionEvent, line: str) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class NullSink(BaseSink):
    """Checks and forgets."""

    def _write(self, event, line) -> None:
        pass


class MemorySink(BaseSink):
    """Keeps the events in ``events`` (and their JSON lines in ``lines``)."""

    def __init__(self, strict: bool = False):
        super().__init__(strict)
        self.events: list[SessionEvent] = []
        self.lines: list[str] = []

    def _write(self, event, line) -> None:
        self.events.append(event)
        self.lines.append(line)

    @property
    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]


class JsonlSink(BaseSink):
    """Appends one line per event to ``path``, flushed per event.

    Safe with several sessions: one sink shared by threads (a lock), or several sinks / processes on
    the same file (``O_APPEND`` and one ``write`` per line, under an advisory ``flock`` where the
    platform has it), so lines never interleave. Write errors are logged and counted in ``errors``;
    they never reach the scan."""

    def __init__(self, path: str | Path, strict: bool = False):
        super().__init__(strict)
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._lock = threading.Lock()
        self.errors = 0

    def _write(self, event, line) -> None:
        data = (line + "\n").encode()
        with self._lock:
            if self._fd is None:
                raise ValueError(f"monitoring sink {self.path} is closed")
            try:
                _lock_file(self._fd, True)
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(self._fd, view):]
                finally:
                    _lock_file(self._fd, False)
            except OSError as exc:
                self.errors += 1
                log.warning("monitoring event not written to %s: %s", self.path, exc.strerror or exc)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __repr__(self) -> str:
        return f"JsonlSink({str(self.path)!r}, emitted={self.emitted}, dropped={self.dropped})"


def _lock_file(fd: int, lock: bool) -> None:
    try:
        import fcntl
    except ImportError:  # Windows: O_APPEND single writes only
        return
    fcntl.flock(fd, fcntl.LOCK_EX if lock else fcntl.LOCK_UN)


def emit(sink, event: SessionEvent) -> bool:
    """Check ``event`` and hand it to any sink. Returns False when it was dropped (warning logged);
    raises instead when the sink is ``strict``."""
    if isinstance(sink, BaseSink):
        before = sink.dropped
        sink.emit(event)
        return sink.dropped == before
    try:
        check_event(event)
    except PrivacyError as exc:
        if getattr(sink, "strict", False):
            raise
        log.warning("monitoring event dropped: %s", exc)
        return False
    sink.emit(event)
    return True
