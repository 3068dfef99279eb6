"""Per-stage wall-clock timing for results."""

from __future__ import annotations

import time
from contextlib import contextmanager

from cardlens.results import StageTiming


class StageTimer:
    """Collects (stage, milliseconds) pairs in order; one instance per scan call."""

    def __init__(self) -> None:
        self._items: list[StageTiming] = []
        self._start = time.perf_counter()

    @contextmanager
    def stage(self, name: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self._items.append(StageTiming(name, (time.perf_counter() - t0) * 1000.0))

    def result(self) -> tuple[StageTiming, ...]:
        total = StageTiming("total", (time.perf_counter() - self._start) * 1000.0)
        return (*self._items, total)
