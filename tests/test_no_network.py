"""No network (issue #9): with name resolution and every non-AF_UNIX socket blocked (tests/netguard.py),
scan, eval, export, the demo and a tiny training run all succeed and attempt no connection.

- in this process: the ``no_network`` fixture (conftest.py) and :func:`hardening_support.offline_bundle`;
- in child processes: ``netguard.child_env`` puts a ``sitecustomize`` in front of ``PYTHONPATH`` that
  installs the same guard in every Python interpreter started with it and logs attempts to a file;
- whole modules run guarded (``OFFLINE_MODULES`` in conftest.py): tests/test_export.py exports ONNX
  (fp32/fp16/int8) and TFLite fp32 bundles and scans with them, tests/test_demo.py runs the demo headless
  with record and replay, tests/test_pipeline.py and tests/test_cli.py scan — so the default suite proves
  export offline without exporting twice;
- the tiny training runs are tests/test_detector_train.py and tests/test_recognizer_train.py (both use
  ``no_network``; not repeated here). ``bench --quick`` is covered by ``test_no_network_bench_quick``.

Here: the guard itself, scan and eval in process, scan in a guarded child process, the demo; the
``stress`` variants export ONNX and TFLite again here and run export, eval, demo and a bundle scan
through the CLI in guarded child processes.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import need
from hardening_support import (
    EXAMPLE_IMAGE,
    REPO,
    example_pan,
    known_pan_scan_set,
    offline_bundle,
    offline_demo_run,
    two_card_video,
)
from netguard import NetworkAttempt, child_env, install

from cardlens.cli import main


def test_guard_refuses_and_records_every_kind_of_attempt():
    """The harness itself: each way out is refused and recorded; local IPC keeps working."""
    attempts: list[str] = []
    before = (socket.socket.__init__, socket.getaddrinfo)
    restore = install(attempts.append)
    try:
        for attempt in (lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM),
                        lambda: socket.socket(socket.AF_INET6, socket.SOCK_DGRAM),
                        lambda: socket.socket(),
                        lambda: socket.getaddrinfo("pypi.org", 443),
                        lambda: socket.gethostbyname("example.com"),
                        lambda: socket.create_connection(("10.0.0.1", 80), timeout=0.1)):
            with pytest.raises(NetworkAttempt):
                attempt()
        a, b = socket.socketpair()  # AF_UNIX, as multiprocessing and asyncio use it
        a.sendall(b"x")
        assert b.recv(1) == b"x"
        a.close(), b.close()
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close()
        assert socket.getaddrinfo("localhost", 80)
    finally:
        restore()
    assert len(attempts) == 6 and any("AF_INET6" in a for a in attempts) and "getaddrinfo('pypi.org')" in attempts
    assert (socket.socket.__init__, socket.getaddrinfo) == before  # restored


def test_child_process_guard_logs_attempts(tmp_path):
    log = tmp_path / "net.log"
    code = ("import socket, subprocess, sys\n"
            "subprocess.run([sys.executable, '-c', 'import socket; socket.gethostbyname(\"example.org\")'])\n"
            "socket.create_connection(('example.com', 80), timeout=1)\n")
    done = subprocess.run([sys.executable, "-c", code], env=child_env(log), capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "NetworkAttempt" in done.stderr
    lines = log.read_text().splitlines()
    assert sum("guard-installed" in line for line in lines) == 2  # the child and its own child
    assert any("gethostbyname('example.org')" in line for line in lines)
    assert any("create_connection(('example.com', 80))" in line for line in lines)


def _child_attempts(log: Path) -> list[str]:
    lines = log.read_text().splitlines()
    assert any("guard-installed" in line for line in lines), "the guard did not load in the child"
    return [line for line in lines if "guard-installed" not in line]


def test_scan_cli_in_a_guarded_child_process(tmp_path):
    log = tmp_path / "net.log"
    done = subprocess.run([sys.executable, "-m", "cardlens", "scan", "--json", str(EXAMPLE_IMAGE)], cwd=REPO,
                          env=child_env(log), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["number"]["valid"]
    assert _child_attempts(log) == []


def test_scan_and_eval_offline(tmp_path, capsys, no_network):
    assert main(["scan", "--json", str(EXAMPLE_IMAGE)]) == 0
    assert json.loads(capsys.readouterr().out)["number"]["masked"]
    data, _ = known_pan_scan_set()
    assert main(["eval", "scan", "--data", str(data), "--limit", "2", "--json", "--no-progress",
                 "--out", str(tmp_path / "eval")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report[0]["overall"]["images"] == 2 and (tmp_path / "eval.md").is_file()


def test_demo_headless_offline():
    run = offline_demo_run()  # shared with test_leaks.py: one run, network blocked throughout
    assert run["attempts"] == () and run["code"] == 0, run["stderr"][-2000:]
    summary = json.loads(run["stdout"])
    assert summary["frames"] == 22 and len(summary["results"]) == 2


@pytest.mark.stress
def test_onnx_export_and_bundle_scan_offline(no_network):
    need("onnx")
    folder, attempts = offline_bundle("onnx")
    assert attempts == ()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["format"] == "onnx" and manifest["cardlens_version"]
    from cardlens.export.bundle import bundle_scanner

    result = bundle_scanner(folder).scan(EXAMPLE_IMAGE)
    assert result.number is not None and result.number.reveal() == example_pan()


@pytest.mark.stress
def test_tflite_export_and_bundle_scan_offline(no_network):
    need("litert_torch")
    folder, attempts = offline_bundle("tflite")
    assert attempts == ()
    from cardlens.export.bundle import bundle_scanner

    result = bundle_scanner(folder).scan(EXAMPLE_IMAGE)
    assert result.number is not None and result.number.reveal() == example_pan()


@pytest.mark.stress
def test_export_eval_and_demo_cli_in_guarded_child_processes(tmp_path):
    """The CLI end to end in fresh interpreters: export (ONNX + TFLite fp32), eval, demo headless."""
    need("onnx")
    need("litert_torch")
    log = tmp_path / "net.log"
    data, _ = known_pan_scan_set()
    video, _ = two_card_video()
    commands = [
        ["export", "--format", "onnx", "--precision", "fp32", "--out", str(tmp_path / "bundles"), "--accuracy", "none"],
        ["export", "--format", "tflite", "--precision", "fp32", "--out", str(tmp_path / "bundles"), "--accuracy", "none"],
        ["eval", "scan", "--data", str(data), "--limit", "3", "--no-progress"],
        ["demo", str(video), "--headless", "--out", str(tmp_path / "demo"), "--agree", "2"],
        ["scan", "--bundle", str(tmp_path / "bundles" / "tflite-fp32"), str(EXAMPLE_IMAGE)],
    ]
    for argv in commands:
        done = subprocess.run([sys.executable, "-m", "cardlens", *argv], cwd=REPO, env=child_env(log),
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, (argv, done.stderr[-2000:])
    assert _child_attempts(log) == []


def test_no_network_bench_quick(tmp_path):
    """``cardlens bench --quick`` in a guarded child: its per-configuration workers (grandchildren)
    carry the guard too, and the run writes every output with no connection attempted."""
    log = tmp_path / "attempts.log"
    out = tmp_path / "bench"
    done = subprocess.run([sys.executable, "-m", "cardlens", "bench", "--quick", "--images", "2", "--runs", "1",
                           "--duration", "0.2", "--runtime", "onnx", "--baselines", "rapidocr", "--no-plots",
                           "--out", str(out), "--json"],
                          cwd=REPO, env=child_env(log), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert _child_attempts(log) == []
    assert log.read_text().count("guard-installed") >= 4   # the CLI, the reference, config and baseline workers
    results = json.loads((out / "results.json").read_text())
    assert [c["name"] for c in results["configs"]] == ["onnx-fp32-t1"] and "error" not in results["configs"][0]
    assert results["baselines"][0]["name"] == "rapidocr" and "error" not in results["baselines"][0]
    assert (out / "REPORT.md").is_file()
