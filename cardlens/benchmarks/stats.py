"""Latency statistics over repeated runs (warm-up already excluded by the caller)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

# A run whose coefficient of variation is above this is flagged: its percentiles are not trustworthy
# (another process shared the CPU, thermal throttling, frequency scaling).
NOISY_CV = 0.10


@dataclass(frozen=True)
class LatencyStats:
    n: int
    min: float
    mean: float
    std: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float
    cv: float          # std / mean
    noisy: bool

    def to_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def percentile(samples, q: float) -> float:
    """Linear-interpolated percentile (numpy's default method), q in 0..100."""
    return float(np.percentile(np.asarray(samples, dtype=np.float64), q))


def latency_stats(samples_ms, noisy_cv: float = NOISY_CV, repeats=None) -> LatencyStats:
    """Summary of per-call milliseconds. Raises ValueError on an empty or non-finite sample.

    ``repeats``: one figure per repeated pass over the same inputs (e.g. each pass's median). When
    given (two or more), noise is judged on their spread, since samples over different inputs
    (a frame with a card vs one without) vary by design; otherwise on the samples' own CV."""
    a = np.asarray(list(samples_ms), dtype=np.float64)
    if a.size == 0:
        raise ValueError("no latency samples")
    if not np.all(np.isfinite(a)):
        raise ValueError("latency samples must be finite")
    mean = float(a.mean())
    std = float(a.std(ddof=1)) if a.size > 1 else 0.0
    cv = std / mean if mean > 0 else 0.0
    p = np.percentile(a, [50, 90, 95, 99])
    rep = list(repeats) if repeats is not None else []
    noisy = repeat_cv(rep) > noisy_cv if len(rep) >= 2 else bool(a.size > 1 and cv > noisy_cv)
    return LatencyStats(int(a.size), float(a.min()), mean, std, float(p[0]), float(p[1]), float(p[2]),
                        float(p[3]), float(a.max()), cv, bool(noisy))


def repeat_cv(values) -> float:
    """Coefficient of variation of repeated measurements of one figure (e.g. the p50 of each repeat)."""
    a = np.asarray(list(values), dtype=np.float64)
    if a.size < 2 or a.mean() == 0:
        return 0.0
    return float(a.std(ddof=1) / a.mean())
