"""Benchmark harness and device-class budgets (lands with #7)."""
