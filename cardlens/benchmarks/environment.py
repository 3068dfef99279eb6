"""What a benchmark ran on: CPU model and ISA flags, cores and threads, OS, Python, runtime versions."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path

# ISA features that decide inference speed: x86 SIMD width and int8 dot products; Arm dot-product,
# int8 matrix multiply, fp16 arithmetic and SVE.
ISA_FLAGS = {
    "x86_64": ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni",
               "avx512_bf16", "amx_int8"),
    "aarch64": ("asimd", "asimdhp", "asimddp", "i8mm", "bf16", "sve", "sve2", "fphp"),
}
RUNTIMES = ("onnxruntime", "torch", "ai-edge-litert", "tensorflow", "numpy", "opencv-python", "easyocr",
            "rapidocr-onnxruntime", "coremltools")


def _cpuinfo(text: str | None = None) -> dict:
    if text is None:
        try:
            text = Path("/proc/cpuinfo").read_text()
        except OSError:
            text = ""
    model, flags = None, set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware", "cpu model") and not model:
            model = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = set(value.split())
    return {"model": model, "flags": flags}


def isa_features(flags: set[str], machine: str) -> dict[str, bool]:
    names = ISA_FLAGS.get(machine, ISA_FLAGS["x86_64"] if machine in ("AMD64", "x86_64") else ())
    return {f: f in flags for f in names}


def versions() -> dict[str, str | None]:
    out = {}
    for name in RUNTIMES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def collect_environment(cpuinfo_text: str | None = None) -> dict:
    from cardlens._version import __version__

    info = _cpuinfo(cpuinfo_text)
    machine = platform.machine()
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        affinity = os.cpu_count()
    return {
        "cardlens": __version__,
        "cpu_model": info["model"] or platform.processor() or "unknown",
        "machine": machine,
        "isa": isa_features(info["flags"], machine),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": affinity,
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "versions": versions(),
    }
