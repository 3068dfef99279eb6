"""Block the network inside a test, or inside every Python child process a test starts.

:func:`install` patches the :mod:`socket` module so that name resolution (``getaddrinfo``,
``gethostbyname``…) and the creation of any socket other than ``AF_UNIX`` (local IPC: multiprocessing,
asyncio's self-pipe) are refused: each attempt is recorded, then :class:`NetworkAttempt` is raised.
Sockets built around an existing descriptor (``socketpair``, ``fromfd``) are allowed.

For subprocesses, :func:`child_env` returns an environment whose ``PYTHONPATH`` starts with
``tests/netguard_site``: its ``sitecustomize`` installs the same guard in every Python interpreter
started with it (children of children too) and appends each attempt to a log file.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

SITE_DIR = Path(__file__).resolve().parent / "netguard_site"
LOG_ENV = "CARDLENS_NETGUARD_LOG"
_LOCAL_NAMES = ("localhost", "127.0.0.1", "::1", None, "")


class NetworkAttempt(AssertionError):
    pass


def install(record) -> callable:
    """Guard the network; ``record(text)`` is called for each attempt. Returns a function that undoes it."""
    lock = threading.Lock()
    real = {name: getattr(socket, name) for name in
            ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr", "getnameinfo", "create_connection")}
    real_init, real_connect, real_connect_ex = socket.socket.__init__, socket.socket.connect, socket.socket.connect_ex

    def refuse(what: str):
        with lock:
            record(what)
        raise NetworkAttempt(f"network use attempted: {what}")

    def resolver(name):
        def guarded(host, *args, **kwargs):
            if name == "getaddrinfo" and host in _LOCAL_NAMES:  # answered from /etc/hosts, no traffic
                return real[name](host, *args, **kwargs)
            return refuse(f"{name}({host!r})")
        return guarded

    def guarded_init(self, family=-1, type=-1, proto=-1, fileno=None):
        fam = socket.AF_INET if family in (-1, None) else family
        if fileno is None and fam != socket.AF_UNIX:
            try:
                fam_name = socket.AddressFamily(fam).name
            except ValueError:
                fam_name = str(fam)
            refuse(f"socket({fam_name})")
        real_init(self, family, type, proto, fileno)

    def guarded_connect(self, address):
        if self.family == socket.AF_UNIX:
            return real_connect(self, address)
        return refuse(f"connect({address!r})")

    def guarded_connect_ex(self, address):
        if self.family == socket.AF_UNIX:
            return real_connect_ex(self, address)
        return refuse(f"connect_ex({address!r})")

    for name in real:
        setattr(socket, name, resolver(name) if name != "create_connection"
                else (lambda address, *a, **k: refuse(f"create_connection({address!r})")))
    socket.socket.__init__ = guarded_init
    socket.socket.connect = guarded_connect
    socket.socket.connect_ex = guarded_connect_ex

    def restore():
        for name, fn in real.items():
            setattr(socket, name, fn)
        socket.socket.__init__ = real_init
        socket.socket.connect = real_connect
        socket.socket.connect_ex = real_connect_ex

    return restore


def child_env(log_path: str | os.PathLike, base: dict | None = None) -> dict:
    """An environment for ``subprocess`` in which every Python process blocks the network and logs
    attempts (one line each) to ``log_path``."""
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = os.pathsep.join([str(SITE_DIR), *filter(None, [env.get("PYTHONPATH")])])
    env[LOG_ENV] = str(log_path)
    return env
