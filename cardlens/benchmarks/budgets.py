"""Device classes and their budgets (``device_classes.yaml``), and pass/fail with margin.

A user adds a class or overrides one with their own YAML of the same shape (``--device-classes``),
and passes numbers measured on a real phone with ``--device-results`` (see :func:`load_device_results`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from cardlens.errors import UsageError

DEFAULT_CLASSES = Path(__file__).with_name("device_classes.yaml")


@dataclass(frozen=True)
class Anchor:
    model: str
    threads: int
    ms: float
    device: str
    runtime: str
    source: str
    precision: str = "fp32"


@dataclass(frozen=True)
class DeviceClass:
    key: str
    label: str
    kind: str                       # "cpu" or "npu"
    p90_ms: float
    size_mb: float
    ram_mb: float
    peak_gflops_1t: float | None = None
    mem_bandwidth_gbs: float | None = None
    anchors: tuple[Anchor, ...] = ()
    rationale: str = ""


@dataclass(frozen=True)
class Verdict:
    """``pass`` when the whole range is within budget, ``fail`` when all of it is over, else ``uncertain``.
    ``margin`` is budget − value at the range's relevant end (positive = headroom)."""
    status: str
    margin: float
    budget: float
    low: float
    high: float
    label: str                      # measured (host) | measured (device, imported) | estimated (class)

    def to_dict(self) -> dict:
        return {"status": self.status, "margin": round(self.margin, 3), "budget": self.budget,
                "low": round(self.low, 3), "high": round(self.high, 3), "label": self.label}


def verdict(low: float, high: float, budget: float, label: str) -> Verdict:
    if low > high:
        low, high = high, low
    if high <= budget:
        return Verdict("pass", budget - high, budget, low, high, label)
    if low > budget:
        return Verdict("fail", budget - low, budget, low, high, label)
    return Verdict("uncertain", budget - high, budget, low, high, label)


def _parse_class(key: str, d: dict, source: str) -> DeviceClass:
    try:
        b = d["budgets"]
        cpu = d.get("cpu") or {}
        anchors = tuple(Anchor(str(a["model"]), int(a.get("threads", 1)), float(a["ms"]), str(a.get("device", "")),
                               str(a.get("runtime", "")), str(a.get("source", "")),
                               str(a.get("precision", "fp32"))) for a in d.get("anchors") or ())
        return DeviceClass(key, str(d.get("label", key)), str(d.get("kind", "cpu")), float(b["p90_ms"]),
                           float(b["size_mb"]), float(b["ram_mb"]),
                           float(cpu["peak_gflops_1t"]) if cpu.get("peak_gflops_1t") else None,
                           float(cpu["mem_bandwidth_gbs"]) if cpu.get("mem_bandwidth_gbs") else None,
                           anchors, str(d.get("budget_rationale", "")))
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"{source}: device class {key!r} is incomplete or malformed ({exc}); it needs "
                         "budgets: {p90_ms, size_mb, ram_mb} and optional cpu/anchors") from None


def load_catalog(*extra: str | Path) -> dict:
    """The shipped YAML, with each extra file's classes added or replacing same-named ones."""
    catalog = yaml.safe_load(DEFAULT_CLASSES.read_text())
    for path in extra:
        path = Path(path)
        if not path.is_file():
            raise UsageError(f"device-class file {path} not found")
        try:
            more = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise UsageError(f"{path} is not valid YAML: {exc}") from None
        if not isinstance(more, dict) or not isinstance(more.get("classes", {}), dict):
            raise UsageError(f"{path}: expected a mapping with 'classes:' like {DEFAULT_CLASSES.name}")
        catalog.setdefault("classes", {}).update(more.get("classes", {}))
        catalog.setdefault("reference_models", {}).update(more.get("reference_models", {}))
    return catalog


def device_classes(catalog: dict) -> dict[str, DeviceClass]:
    return {k: _parse_class(k, v, "device classes") for k, v in (catalog.get("classes") or {}).items()}


@dataclass(frozen=True)
class DeviceMeasurement:
    device_class: str
    config: str
    p90_ms: float
    size_mb: float | None = None
    ram_mb: float | None = None
    source: str = ""
    extra: dict = field(default_factory=dict)


def load_device_results(path: str | Path) -> list[DeviceMeasurement]:
    """On-device numbers measured elsewhere (YAML or JSON list of {device_class, config, p90_ms, …})."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"device results file {path} not found")
    rows = yaml.safe_load(path.read_text())  # JSON is YAML
    if isinstance(rows, dict):
        rows = rows.get("results", [])
    out = []
    for i, r in enumerate(rows or []):
        try:
            out.append(DeviceMeasurement(str(r["device_class"]), str(r["config"]), float(r["p90_ms"]),
                                         float(r["size_mb"]) if r.get("size_mb") is not None else None,
                                         float(r["ram_mb"]) if r.get("ram_mb") is not None else None,
                                         str(r.get("source", path.name))))
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"{path}: entry {i} needs device_class, config and p90_ms ({exc})") from None
    return out
