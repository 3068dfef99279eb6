import os
import socket
import tempfile
from pathlib import Path

import pytest

# Tests never touch the user's cache: one throwaway cardlens cache per test session.
os.environ.setdefault("CARDLENS_CACHE", tempfile.mkdtemp(prefix="cardlens-test-cache-"))

REPO = Path(__file__).resolve().parents[1]
REALCARDS = REPO.parent / "shared" / "realcards-dev"
EXAMPLE_IMAGE = REPO / "examples" / "card_photo.jpg"


class NetworkAttempt(AssertionError):
    pass


@pytest.fixture
def no_network(monkeypatch):
    """Fail the test if anything resolves a name or opens a non-loopback connection."""
    attempts: list[str] = []

    def refuse_resolve(host, *args, **kwargs):
        if host in ("localhost", "127.0.0.1", "::1", None):
            return real_getaddrinfo(host, *args, **kwargs)
        attempts.append(f"getaddrinfo({host!r})")
        raise NetworkAttempt(f"name resolution attempted: {host}")

    def refuse_connect(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if host in ("localhost", "127.0.0.1", "::1") or isinstance(address, str | bytes):
            return real_connect(self, address)
        attempts.append(f"connect({address!r})")
        raise NetworkAttempt(f"connection attempted: {address}")

    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect
    monkeypatch.setattr(socket, "getaddrinfo", refuse_resolve)
    monkeypatch.setattr(socket.socket, "connect", refuse_connect)
    yield attempts
    assert not attempts, f"network use attempted: {attempts}"


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
