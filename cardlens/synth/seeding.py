"""Per-sample random streams derived from ``(seed, index, stream)`` so output never depends on workers."""

from __future__ import annotations

import random
import zlib

import numpy as np


def sample_seed(seed: int, index: int, stream: str) -> int:
    """A 63-bit integer that depends only on ``(seed, index, stream)``."""
    ss = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(seed) >> 32 & 0xFFFFFFFF, int(index),
                                 zlib.crc32(stream.encode())])
    return int(ss.generate_state(2, np.uint64)[0] >> np.uint64(1))


def sample_rngs(seed: int, index: int, stream: str) -> tuple[np.random.Generator, random.Random]:
    s = sample_seed(seed, index, stream)
    return np.random.default_rng(s), random.Random(s)
