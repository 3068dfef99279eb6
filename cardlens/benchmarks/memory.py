"""Resident-memory probes for one benchmark process (Linux: /proc; elsewhere psutil, no peak reset)."""

from __future__ import annotations

import os
from pathlib import Path


def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_mb() -> float:
    kb = _status_kb("VmRSS")
    if kb is not None:
        return kb / 1024.0
    import psutil

    return psutil.Process(os.getpid()).memory_info().rss / 2**20


def reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS; False where that is impossible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_mb() -> float | None:
    kb = _status_kb("VmHWM")
    return kb / 1024.0 if kb is not None else None


class PeakProbe:
    """``with PeakProbe() as p: ...`` → ``p.increase_mb``: peak RSS during the block minus RSS before it.

    Where the peak cannot be reset (not Linux), the RSS at the end of the block is used instead and
    ``p.exact`` is False."""

    def __enter__(self):
        self.exact = reset_peak()
        self.before = rss_mb()
        return self

    def __exit__(self, *exc):
        peak = peak_mb() if self.exact else None
        self.after = rss_mb()
        self.increase_mb = round(max(0.0, (peak if peak is not None else self.after) - self.before), 2)
        return False
