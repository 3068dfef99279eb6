"""Shared helpers for the hardening tests (issue #9): case time bounds, PAN leak search, RSS, figures
for ``make stress``, and cached inputs that several test files reuse within one pytest process."""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STRESS_OUT = REPO / "out" / "stress"


class CaseTimeout(AssertionError):
    """One fuzz case ran past its time bound (a hang)."""


@contextlib.contextmanager
def time_bound(seconds: float, what: str = "case"):
    """Fail a case that runs longer than ``seconds``: SIGALRM interrupts Python-level loops; a case stuck
    inside C code is still caught when it returns (and pytest-timeout bounds the whole test)."""
    main = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
    t0 = time.perf_counter()

    def on_alarm(signum, frame):
        raise CaseTimeout(f"{what} ran longer than {seconds:.0f} s")

    if main:  # another alarm (pytest-timeout's signal method) is put back afterwards with its time left
        previous = signal.signal(signal.SIGALRM, on_alarm)
        outer, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        if main:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
            if outer:
                signal.setitimer(signal.ITIMER_REAL, max(outer - (time.perf_counter() - t0), 0.001))
    elapsed = time.perf_counter() - t0
    if elapsed > seconds:
        raise CaseTimeout(f"{what} took {elapsed:.1f} s (bound {seconds:.0f} s)")


def pan_pattern(pan: str) -> re.Pattern[str]:
    """The full PAN in any grouping: digits joined by nothing, spaces, dashes, dots or slashes
    (also several, and the escaped forms JSON and reprs use), and not part of a longer digit run."""
    sep = r"(?:[\s\-./_]|\\[nt])*"
    return re.compile(r"(?<![0-9])" + sep.join(pan) + r"(?![0-9])")


def find_pans(text: str | bytes, pans) -> list[str]:
    """The PANs of ``pans`` that appear in ``text`` in any grouping or spacing."""
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    return [p for p in pans if pan_pattern(p).search(text)]


def rss_bytes() -> int:
    """Resident set size of this process (psutil when installed, /proc otherwise)."""
    try:
        import psutil

        return psutil.Process().memory_info().rss
    except ImportError:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def record_figures(name: str, figures: dict) -> None:
    """Write one stress test's figures to out/stress/NAME.json (``make stress`` prints them) and stdout."""
    STRESS_OUT.mkdir(parents=True, exist_ok=True)
    path = STRESS_OUT / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    print(f"\n[stress] {name}: {json.dumps(figures, sort_keys=True)}")


def all_text_under(folder: Path, suffixes=(".json", ".jsonl", ".md", ".txt", ".log", ".csv")) -> str:
    return "".join(p.read_text(errors="ignore") for p in sorted(Path(folder).rglob("*"))
                   if p.is_file() and p.suffix in suffixes)


_TMP = Path(tempfile.mkdtemp(prefix="cardlens-hardening-"))
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)


@functools.cache
def known_pan_scan_set(n: int = 2) -> tuple[Path, tuple[str, ...]]:
    """A labelled scan set (``labels.jsonl`` holds the printed PANs): ``n`` synthetic scenes plus the
    example photo (which the shipped models read exactly), made once per process."""
    import shutil

    from cardlens.synth import write_scan_set

    folder = _TMP / f"scans-{n}"
    write_scan_set(folder, n, seed=9009, workers=1, progress=False)
    shutil.copyfile(EXAMPLE_IMAGE, folder / "images" / "example.jpg")
    with (folder / "labels.jsonl").open("a") as f:
        f.write(json.dumps({"file": "images/example.jpg", "number": example_pan(), "luhn_valid": True,
                            "image_type": "example", "difficulty": "easy", "expiry": None, "name": None}) + "\n")
    rows = [json.loads(line) for line in (folder / "labels.jsonl").open() if line.strip()]
    pans = tuple(sorted({r["number"] for r in rows if r.get("number")}))
    assert pans, "the synthetic scan set should print card numbers"
    return folder, pans


@functools.cache
def two_card_video(n_first: int = 8, n_gap: int = 6, n_second: int = 8) -> tuple[Path, tuple[str, str]]:
    """The demo's synthetic two-card video, shortened, with the two printed PANs."""
    from cardlens.demo.synthetic_video import write_synthetic_video

    path = _TMP / f"two-cards-{n_first}-{n_gap}-{n_second}.mp4"
    pans = write_synthetic_video(path, seed=0, n_first=n_first, n_gap=n_gap, n_second=n_second)
    return path, tuple(pans)


EXAMPLE_IMAGE = REPO / "examples" / "card_photo.jpg"


@functools.cache
def example_pan() -> str:
    """The Luhn-valid test number printed on examples/card_photo.jpg."""
    from cardlens.synth.examples import example_scene

    return example_scene().card.spec.text.pan


@functools.cache
def offline_bundle(fmt: str = "onnx", accuracy: bool = False) -> tuple[Path, tuple[str, ...]]:
    """An fp32 export bundle made once per process with the network blocked (tests/netguard.py). With
    ``accuracy`` it is also measured on :func:`known_pan_scan_set`, so REPORT.md and manifest.json carry
    figures computed from images whose PANs are known. Returns the folder and any network attempts."""
    from netguard import install

    from cardlens.export.bundle import export_bundle

    attempts: list[str] = []
    restore = install(attempts.append)
    try:
        datasets = {"synthetic": known_pan_scan_set()[0]} if accuracy else None
        out = _TMP / f"bundles-{'accuracy' if accuracy else 'plain'}"
        result = export_bundle(fmt, "fp32", out, datasets, n_calibration=2, n_validation=1, log=lambda *a: None)
    finally:
        restore()
    return Path(result.folder), tuple(attempts)


@functools.cache
def offline_demo_run() -> dict:
    """``cardlens demo`` headless with ``--out``, ``--record`` and ``--events`` on :func:`two_card_video`, run
    once per process with the network blocked; its exit code, stdout and stderr are kept."""
    import contextlib
    import io

    from netguard import install

    from cardlens.cli import main

    video, pans = two_card_video()
    root = _TMP / "demo-run"
    stdout, stderr, attempts = io.StringIO(), io.StringIO(), []
    restore = install(attempts.append)
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = main(["demo", str(video), "--headless", "--out", str(root / "out"), "--record", str(root / "rec"),
                         "--events", str(root / "events.jsonl"), "--agree", "2", "--json"])
    finally:
        restore()
    return {"code": code, "stdout": stdout.getvalue(), "stderr": stderr.getvalue(), "root": root, "pans": pans,
            "attempts": tuple(attempts)}
