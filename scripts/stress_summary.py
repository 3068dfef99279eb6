"""Print the figures the stress tests wrote to out/stress/*.json (``make stress``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(folder: str = "out/stress") -> int:
    files = sorted(Path(folder).glob("*.json"))
    if not files:
        print(f"no stress figures in {folder} (did the stress tests run?)")
        return 1
    figures = {f.stem: json.loads(f.read_text()) for f in files}
    print(f"\n== stress figures ({folder}) ==")
    fuzz = {k: v for k, v in figures.items() if k.startswith("fuzz-")}
    if fuzz:
        print(f"{'fuzz target':<16} {'cases':>7} {'crashes':>8} {'hangs':>6}  outcomes")
        for name, f in fuzz.items():
            outcomes = ", ".join(f"{k} {v}" for k, v in sorted(f["outcomes"].items()) if k != "cases")
            print(f"{name[5:]:<16} {f['cases']:>7} {f['crashes']:>8} {f['hangs']:>6}  {outcomes}")
        print(f"{'total':<16} {sum(f['cases'] for f in fuzz.values()):>7} "
              f"{sum(f['crashes'] for f in fuzz.values()):>8} {sum(f['hangs'] for f in fuzz.values()):>6}")
    soaks = {k: v for k, v in figures.items() if k.startswith("soak-")}
    for name, s in soaks.items():
        unfinished = s["unfinished"] if isinstance(s["unfinished"], int) else len(s["unfinished"])
        print(f"{name}: {s['frames']} frames ({s['backend']}), {s['spells']} card spells, {s['finished']} finished "
              f"with the right number, {s['wrong_finals']} wrong, {s['stale_reports']} reports of a card no longer "
              f"in view, {unfinished} unfinished, RSS growth after warm-up {s['rss_growth_mb']} MB, {s['seconds']} s")
    leaks = {k: v for k, v in figures.items() if k.startswith("leaks-")}
    for name, f in leaks.items():
        print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in f.items()))
    if leaks:
        print(f"leaks found in all: {sum(f['leaks_found'] for f in leaks.values())}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
