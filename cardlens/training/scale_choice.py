"""Choosing a network scale by measured accuracy per millisecond (``scripts/compare_detector_scales.py``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


def _per_ms(gain: float, cost_ms: float) -> float:
    if cost_ms > 0:
        return gain / cost_ms
    return float("inf") if gain >= 0 else float("-inf")  # no slower: worth it unless it is worse


@dataclass(frozen=True)
class ScaleStep:
    smaller: str
    larger: str
    gain: float          # accuracy the larger scale adds
    cost_ms: float       # latency it adds
    passes: bool

    @property
    def gain_per_ms(self) -> float:
        return _per_ms(self.gain, self.cost_ms)

    def __str__(self) -> str:
        return (f"{self.smaller} -> {self.larger}: {self.gain:+.4f} for {self.cost_ms:+.1f} ms = "
                f"{self.gain_per_ms:+.4f} per ms ({'passes' if self.passes else 'fails'})")


@dataclass(frozen=True)
class ScaleChoice:
    chosen: str
    steps: tuple[ScaleStep, ...]


def choose_scale(order: Sequence[str], accuracy: Mapping[str, float], latency_ms: Mapping[str, float],
                 min_gain_per_ms: float) -> ScaleChoice:
    """The largest scale reached from the smallest by steps up, each buying ``min_gain_per_ms`` per ms.

    ``order`` lists the scales smallest first; the walk stops at the first step that fails.
    """
    scales = [s for s in order if s in accuracy and s in latency_ms]
    if not scales:
        raise ValueError("no scale has both an accuracy and a latency")
    chosen, steps = scales[0], []
    for lo, hi in zip(scales, scales[1:], strict=False):
        gain, cost = accuracy[hi] - accuracy[lo], latency_ms[hi] - latency_ms[lo]
        step = ScaleStep(lo, hi, gain, cost, passes=_per_ms(gain, cost) >= min_gain_per_ms)
        steps.append(step)
        if not step.passes:
            break
        chosen = hi
    return ScaleChoice(chosen, tuple(steps))
