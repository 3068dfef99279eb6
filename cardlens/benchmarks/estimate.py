"""Per-frame latency on a device class, estimated from what was measured on this host.

Two methods, both calibrated on the published anchors in ``device_classes.yaml`` (reference networks
such as MobileNetV2 timed on real devices), each giving a low–high range, never a single figure:

* **ratio** — this host times the same reference network (MobileNetV2, random weights, same runtime,
  one thread). Each 1-thread anchor gives ``ratio = anchor_ms / host_ms``; the host's measured frame
  p90 is scaled by the smallest and largest ratio, widened by ``RATIO_SPREAD`` for the difference in
  op mix between MobileNetV2 and our networks (and ×``NPU_SPREAD`` on the high side for NPU classes,
  where pre/post-processing stays on the CPU).
* **roofline** — the network part from our graphs' FLOPs and bytes against the class's peak 1-thread
  compute and memory bandwidth: ``t = max(flops / (peak × eff), bytes / (bandwidth × MEM_EFF))`` with
  the compute efficiency ``eff`` calibrated per anchor (``ref_flops / (anchor_s × peak × threads)``,
  the range over anchors); the non-network part (pre-processing, NMS, rectify, crops, CTC) is the
  host's measured time scaled by the ratio range.

Anchors computed in fp16 (ncnn's default on Armv8.2 cores) are counted as up to ``FP16_FACTOR``
faster than fp32 would be: their ratio spans ``[r, 2r]`` and their efficiency is halved.

The combined range is the union of the methods available for the class.
"""

from __future__ import annotations

from dataclasses import dataclass

from cardlens.benchmarks.budgets import DeviceClass

RATIO_SPREAD = (0.8, 1.25)
NPU_SPREAD = 2.0
MEM_EFF = 0.5
FP16_FACTOR = 2.0


@dataclass(frozen=True)
class HostProfile:
    """What the host measured for one configuration (1 thread)."""
    frame_p90_ms: float
    network_ms: float                  # per frame: detector + field locator + recognizer calls
    flops_per_frame: float             # per frame, same calls
    bytes_per_frame: float
    reference_ms: dict                 # reference model name -> host ms (same runtime, 1 thread)


@dataclass(frozen=True)
class Estimate:
    method: str
    low_ms: float
    high_ms: float
    detail: str

    def to_dict(self) -> dict:
        return {"method": self.method, "low_ms": round(self.low_ms, 2), "high_ms": round(self.high_ms, 2),
                "detail": self.detail}


def ratio_range(cls: DeviceClass, reference_ms: dict) -> tuple[float, float, list[str]] | None:
    """Anchor/host ratios over the class's 1-thread anchors (every anchor for an NPU class). An anchor
    computed in fp16 (ncnn's default on Armv8.2 cores) can be up to ``FP16_FACTOR`` faster than the
    fp32 we deploy, so it spans ``[r, FP16_FACTOR × r]``."""
    ratios, used = [], []
    for a in cls.anchors:
        host = reference_ms.get(a.model)
        if host and (a.threads == 1 or cls.kind == "npu"):
            r = a.ms / host
            ratios.append(r)
            if a.precision.startswith("fp16"):
                ratios.append(r * FP16_FACTOR)
            used.append(f"{a.model} {a.ms:g} ms on {a.device} ({a.runtime}, {a.threads}t, {a.precision}) "
                        f"vs host {host:.2f} ms")
    if not ratios:
        return None
    return min(ratios), max(ratios), used


def estimate_ratio(cls: DeviceClass, host: HostProfile) -> Estimate | None:
    r = ratio_range(cls, host.reference_ms)
    if r is None:
        return None
    lo, hi, used = r
    hi_spread = RATIO_SPREAD[1] * (NPU_SPREAD if cls.kind == "npu" else 1.0)
    return Estimate("ratio", host.frame_p90_ms * lo * RATIO_SPREAD[0], host.frame_p90_ms * hi * hi_spread,
                    f"host frame p90 {host.frame_p90_ms:.1f} ms × anchor/host ratio {lo:.2f}–{hi:.2f} "
                    f"× op-mix spread {RATIO_SPREAD[0]}–{hi_spread:g}; anchors: " + "; ".join(used))


def efficiency_range(cls: DeviceClass, reference_gflops: dict) -> tuple[float, float] | None:
    if not cls.peak_gflops_1t:
        return None
    effs = [reference_gflops[a.model] / (a.ms / 1e3 * cls.peak_gflops_1t * max(a.threads, 1))
            / (FP16_FACTOR if a.precision.startswith("fp16") else 1.0)
            for a in cls.anchors if a.model in reference_gflops]
    effs = [min(e, 1.0) for e in effs if e > 0]
    return (min(effs), max(effs)) if effs else None


def estimate_roofline(cls: DeviceClass, host: HostProfile, reference_gflops: dict) -> Estimate | None:
    if cls.kind != "cpu":
        return None
    eff = efficiency_range(cls, reference_gflops)
    ratio = ratio_range(cls, host.reference_ms)
    if eff is None or ratio is None:
        return None
    peak = cls.peak_gflops_1t * 1e9
    mem = (cls.mem_bandwidth_gbs or 0) * 1e9 * MEM_EFF
    t_mem = host.bytes_per_frame / mem * 1e3 if mem else 0.0

    def network(e: float) -> float:
        return max(host.flops_per_frame / (peak * e) * 1e3, t_mem)

    other = max(0.0, host.frame_p90_ms - host.network_ms)
    low = network(eff[1]) + other * ratio[0] * RATIO_SPREAD[0]
    high = network(eff[0]) + other * ratio[1] * RATIO_SPREAD[1]
    return Estimate("roofline", low, high,
                    f"network {host.flops_per_frame / 1e9:.3f} GFLOP, {host.bytes_per_frame / 1e6:.1f} MB per frame "
                    f"at peak {cls.peak_gflops_1t:g} GFLOPS/core × efficiency {eff[0]:.2f}–{eff[1]:.2f} "
                    f"(memory {cls.mem_bandwidth_gbs or 0:g} GB/s × {MEM_EFF}); non-network host "
                    f"{other:.1f} ms × ratio {ratio[0]:.2f}–{ratio[1]:.2f}")


def estimate_class(cls: DeviceClass, host: HostProfile, reference_gflops: dict) -> tuple[Estimate, ...]:
    """Every method that applies, then their union as ``combined`` (empty when none applies)."""
    found = [e for e in (estimate_ratio(cls, host), estimate_roofline(cls, host, reference_gflops)) if e]
    if not found:
        return ()
    low, high = min(e.low_ms for e in found), max(e.high_ms for e in found)
    return (*found, Estimate("combined", low, high, "union of " + " and ".join(e.method for e in found)))
