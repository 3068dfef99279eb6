"""Loaded by every Python process started with ``tests/netguard.py``'s ``child_env``: blocks the network
and appends each attempt, with the process id, to the file named by ``CARDLENS_NETGUARD_LOG``."""

import os
import sys

_log = os.environ.get("CARDLENS_NETGUARD_LOG")
if _log:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import netguard

    sys.path.pop(0)

    def _record(what: str, _path=_log) -> None:
        with open(_path, "a") as f:
            f.write(f"{os.getpid()} {what}\n")

    netguard.install(_record)
    with open(_log, "a") as _f:  # proof that the guard was active in this process
        _f.write(f"{os.getpid()} guard-installed\n")
