import os
import tempfile
from pathlib import Path

import pytest

# Tests never touch the user's cache: one throwaway cardlens cache per test session.
os.environ.setdefault("CARDLENS_CACHE", tempfile.mkdtemp(prefix="cardlens-test-cache-"))

REPO = Path(__file__).resolve().parents[1]
REALCARDS = REPO.parent / "shared" / "realcards-dev"
EXAMPLE_IMAGE = REPO / "examples" / "card_photo.jpg"


def _import_local_probes() -> None:
    """Import what opens a socket at import time without any traffic, before the guard goes up: urllib3
    (pulled in by coremltools and TensorFlow) binds a socket to ::1 to learn whether IPv6 exists. Run
    alone, the CoreML tests imported it under the guard and failed on that probe."""
    try:
        import urllib3  # noqa: F401
    except ImportError:
        pass


@pytest.fixture
def no_network():
    """Fail the test if anything resolves a name or creates a socket other than AF_UNIX (see tests/netguard.py;
    ``netguard.child_env`` does the same for subprocesses). Yields the list of attempts."""
    from netguard import install

    _import_local_probes()
    attempts: list[str] = []
    restore = install(attempts.append)
    try:
        yield attempts
    finally:
        restore()
    assert not attempts, f"network use attempted: {attempts}"


# Whole modules that run with the network blocked (their module-scoped fixtures too: an autouse fixture
# is set up first in its scope). Between them they scan, evaluate, export ONNX + TFLite bundles and run the
# demo headless, so the no-network guarantee costs no extra work (tests/test_no_network.py says more).
OFFLINE_MODULES = ("test_export", "test_demo", "test_pipeline", "test_cli", "test_leaks", "test_no_network")


@pytest.fixture(scope="module", autouse=True)
def _offline_module(request):
    if request.module.__name__ not in OFFLINE_MODULES:
        yield None
        return
    from netguard import install

    _import_local_probes()
    attempts: list[str] = []
    restore = install(attempts.append)
    try:
        yield attempts
    finally:
        restore()
    assert not attempts, f"network use attempted in {request.module.__name__}: {attempts}"


@pytest.fixture(scope="session")
def realcards():
    labels = REALCARDS / "labels.jsonl"
    if not labels.is_file():
        pytest.skip(f"realcards-dev not found at {REALCARDS} (it lives in ../shared beside the clone)")
    import json

    return [json.loads(line) for line in labels.read_text().splitlines() if line.strip()]


def need(module: str) -> None:
    """Skip when an optional dependency is absent, without importing it (importing ultralytics before
    cardlens.offline has configured it would itself probe the network)."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (install cardlens[all])")
