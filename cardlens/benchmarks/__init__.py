"""Benchmark harness: latency, size, memory and accuracy per stage, runtime, precision and thread
count; device-class budgets with estimates; the alternative OCR engines side by side.

``run_bench`` is what ``cardlens bench`` calls (see :mod:`cardlens.benchmarks.harness`)."""

from cardlens.benchmarks.harness import run_bench

__all__ = ["run_bench"]
