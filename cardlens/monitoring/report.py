"""``cardlens report sessions``: the online metric and its neighbours, by model version.

Definitions (also in the JSON output under ``definitions``):

- A **session** is one attempt at scanning one card (one ``session_id``). Sessions with no outcome yet
  (only ``started`` / ``card_seen``: the app closed or the stream ended) are counted as *open* and left
  out of every share.
- Each session gets **one outcome**, the first that applies in this order: ``manual_entry`` (the user
  typed the card — at any point: instead of scanning, after a time-out, or discarding an accepted
  result), ``corrected`` (a result was accepted and the user edited it), ``accepted`` (accepted, used
  as read), ``cancelled`` (the user left without a card), ``timed_out`` (no result, nothing reported
  after), ``lost`` (the card left the frame and nothing followed).
- **Manual-entry share** (the product's online metric) = sessions whose outcome is ``manual_entry`` /
  sessions with an outcome. **Accepted share** = ``accepted`` + ``corrected`` over the same.
- **Time to scan**: the ``time_to_scan_ms`` of a session's accepted result (first card frame of the
  attempt → accepted). Percentiles are nearest-rank (p-th value of the sorted list at rank ⌈p·n⌉).
- **Corrections**: per field, the sessions where the user changed it; per digit position (0-based in
  the accepted number), the sessions where it was changed; shares are of corrected sessions.
- **Regression**: versions are ordered by their first event; each is compared with the one before. A
  manual-entry share higher by more than ``threshold_pp`` percentage points with a one-sided
  two-proportion z-test p < 0.05 is a regression; so is a time-to-scan p90 higher by more than
  ``threshold_tts`` (relative) when both versions have ≥ 30 timed scans. A rise beyond the threshold
  that is not significant is reported as a warning.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cardlens.monitoring.events import SessionEvent

OUTCOMES = ("manual_entry", "corrected", "accepted", "cancelled", "timed_out", "lost")
BUCKETS_MS = (500, 1000, 2000, 3000, 5000, 10000)
BUCKET_LABELS = ("<0.5 s", "0.5-1 s", "1-2 s", "2-3 s", "3-5 s", "5-10 s", "≥10 s")
PERCENTILES = (50, 90, 99)
MIN_TIMED = 30
ALPHA = 0.05
MAX_EXAMPLES = 20

DEFINITIONS = {
    "session": "one scan attempt (one session_id); sessions without an outcome are 'open' and excluded from shares",
    "outcome": "first of: manual_entry, corrected, accepted, cancelled, timed_out, lost",
    "manual_entry_share": "sessions whose outcome is manual_entry / sessions with an outcome (the online metric)",
    "accepted_share": "(accepted + corrected) / sessions with an outcome",
    "time_to_scan": "time_to_scan_ms of the accepted result; nearest-rank percentiles",
    "regression": "manual-entry share up > threshold_pp with one-sided z-test p < 0.05, or time-to-scan p90 "
                  "up > threshold_tts (relative) with >= 30 timed scans in both versions",
}


@dataclass(frozen=True)
class SessionRecord:
    session_id: str
    label: str
    models: tuple
    first_ts: str
    outcome: str                     # one of OUTCOMES or "open"
    time_to_scan_ms: int | None
    corrected_fields: tuple[str, ...]
    corrected_positions: tuple[int, ...]
    lost: int
    number_confidence: float | None


def percentile(sorted_values: list, p: float):
    """Nearest rank: the value at rank ⌈p/100 · n⌉ (1-based) of the sorted values; None if empty."""
    if not sorted_values:
        return None
    k = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[k - 1]


def outcome_of(kinds: set[str]) -> str:
    if "manual_entry" in kinds:
        return "manual_entry"
    if "corrected" in kinds:
        return "corrected"
    if "result_accepted" in kinds:
        return "accepted"
    for k in ("cancelled", "timed_out", "lost"):
        if k in kinds:
            return k
    return "open"


def read_events(paths) -> tuple[list[SessionEvent], list[dict], int]:
    """All valid events in the files, the malformed lines (file, line, reason), and the lines read.

    Blank lines are skipped; anything else that is not a valid event counts as malformed."""
    events, bad, lines = [], [], 0
    for path in paths:
        p = Path(path)
        with p.open("rb") as f:
            for no, raw in enumerate(f, 1):
                if not raw.strip():
                    continue
                lines += 1
                try:
                    data = json.loads(raw.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError):
                    bad.append({"file": str(p), "line": no, "reason": "not JSON"})
                    continue
                try:
                    events.append(SessionEvent.from_dict(data))
                except (ValueError, TypeError) as exc:
                    bad.append({"file": str(p), "line": no, "reason": str(exc)[:120] or type(exc).__name__})
    return events, bad, lines


def sessions_from(events: list[SessionEvent]) -> tuple[list[SessionRecord], int]:
    """One record per session id (events de-duplicated by (seq, kind)); also the duplicates dropped."""
    by_id: dict[str, dict] = defaultdict(dict)
    duplicates = 0
    for e in events:
        key = (e.seq, e.kind)
        if key in by_id[e.session_id]:
            duplicates += 1
            continue
        by_id[e.session_id][key] = e
    out = []
    for sid, evs in by_id.items():
        ordered = sorted(evs.values(), key=lambda e: (e.seq, e.ts))
        kinds = {e.kind for e in ordered}
        first = min(ordered, key=lambda e: e.ts)
        models = next((e.models for e in ordered if e.models), ())
        acc = next((e for e in ordered if e.kind == "result_accepted"), None)
        fields: list[str] = []
        positions: set[int] = set()
        for e in ordered:
            if e.kind == "corrected":
                fields += [f for f in e.corrected_fields if f not in fields]
                positions.update(e.corrected_positions)
        out.append(SessionRecord(
            sid, " + ".join(m.label for m in models) or "unknown", models, first.ts, outcome_of(kinds),
            acc.time_to_scan_ms if acc else None, tuple(fields), tuple(sorted(positions)),
            sum(e.kind == "lost" for e in ordered),
            acc.confidence.number if acc and acc.confidence else None))
    out.sort(key=lambda r: (r.first_ts, r.session_id))
    return out, duplicates


def _share(n: int, d: int) -> float | None:
    return round(n / d, 4) if d else None


def group_stats(records: list[SessionRecord], label: str) -> dict:
    closed = [r for r in records if r.outcome != "open"]
    n = len(closed)
    outcomes = Counter(r.outcome for r in closed)
    tts = sorted(r.time_to_scan_ms for r in closed if r.time_to_scan_ms is not None
                 and r.outcome in ("accepted", "corrected", "manual_entry"))
    hist = [0] * (len(BUCKETS_MS) + 1)
    for v in tts:
        hist[sum(v >= edge for edge in BUCKETS_MS)] += 1
    corrected = [r for r in closed if r.corrected_fields]
    fields = Counter(f for r in corrected for f in r.corrected_fields)
    positions = Counter(p for r in corrected for p in r.corrected_positions)
    confs = [r.number_confidence for r in closed if r.number_confidence is not None]
    models = records[0].models if records else ()
    return {
        "label": label,
        "models": [m.to_dict() for m in models],
        "first_ts": min((r.first_ts for r in records), default=None),
        "last_ts": max((r.first_ts for r in records), default=None),
        "sessions": n,
        "open": len(records) - n,
        "outcomes": {k: outcomes.get(k, 0) for k in OUTCOMES},
        "shares": {k: _share(outcomes.get(k, 0), n) for k in OUTCOMES},
        "manual_entry_share": _share(outcomes["manual_entry"], n),
        "accepted_share": _share(outcomes["accepted"] + outcomes["corrected"], n),
        "corrected_share_of_accepted": _share(outcomes["corrected"], outcomes["accepted"] + outcomes["corrected"]),
        "cancelled_or_timed_out_share": _share(outcomes["cancelled"] + outcomes["timed_out"], n),
        "lost_events": sum(r.lost for r in closed),
        "time_to_scan_ms": {
            "n": len(tts),
            **{f"p{p}": percentile(tts, p) for p in PERCENTILES},
            "mean": round(sum(tts) / len(tts), 1) if tts else None,
            "histogram": dict(zip(BUCKET_LABELS, hist, strict=True)),
        },
        "corrections": {
            "sessions": len(corrected),
            "fields": dict(fields.most_common()),
            "positions": {str(p): c for p, c in sorted(positions.items(), key=lambda kv: (-kv[1], kv[0]))},
        },
        "mean_number_confidence": round(sum(confs) / len(confs), 4) if confs else None,
    }


def two_proportion_p(x1: int, n1: int, x2: int, n2: int) -> float | None:
    """One-sided p-value that the second proportion is higher (pooled two-proportion z-test)."""
    if not n1 or not n2:
        return None
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0 if x2 / n2 <= x1 / n1 else 0.0
    z = (x2 / n2 - x1 / n1) / se
    return round(0.5 * math.erfc(z / math.sqrt(2)), 6)


def compare(a: dict, b: dict, threshold_pp: float, threshold_tts: float) -> dict:
    """``b`` (the later version) against ``a``."""
    def pp(key):
        return None if a[key] is None or b[key] is None else round(100 * (b[key] - a[key]), 2)

    ta, tb = a["time_to_scan_ms"], b["time_to_scan_ms"]
    tts = {f"p{p}": (None if ta[f"p{p}"] is None or tb[f"p{p}"] is None else tb[f"p{p}"] - ta[f"p{p}"])
           for p in PERCENTILES}
    p_value = two_proportion_p(a["outcomes"]["manual_entry"], a["sessions"], b["outcomes"]["manual_entry"],
                               b["sessions"])
    d_manual = pp("manual_entry_share")
    regressions, warnings = [], []
    if d_manual is not None and d_manual > threshold_pp:
        text = f"manual-entry share +{d_manual:.1f} pp (p={p_value:.3g})"
        (regressions if p_value is not None and p_value < ALPHA else warnings).append(
            text if p_value is not None and p_value < ALPHA else text + ", not significant")
    rel90 = None
    if ta["p90"] and tb["p90"] is not None:
        rel90 = round(tb["p90"] / ta["p90"] - 1, 4)
        if rel90 > threshold_tts:
            text = f"time-to-scan p90 +{100 * rel90:.0f}% ({ta['p90']} → {tb['p90']} ms)"
            if min(ta["n"], tb["n"]) >= MIN_TIMED:
                regressions.append(text)
            else:
                warnings.append(text + f", fewer than {MIN_TIMED} timed scans")
    return {"from": a["label"], "to": b["label"],
            "manual_entry_pp": d_manual, "accepted_pp": pp("accepted_share"),
            "corrected_of_accepted_pp": pp("corrected_share_of_accepted"),
            "cancelled_or_timed_out_pp": pp("cancelled_or_timed_out_share"),
            "time_to_scan_ms_delta": tts, "time_to_scan_p90_relative": rel90,
            "manual_entry_p_value": p_value, "regression": bool(regressions),
            "regressions": regressions, "warnings": warnings}


def short_labels(groups: list[dict]) -> list[str]:
    """A short name per version group: the shared version string, else versions joined; sha if ambiguous."""
    def ver(g):
        vs = [m["version"] for m in g["models"]]
        return vs[0] if vs and len(set(vs)) == 1 else "/".join(vs) or "unknown"

    labels = [ver(g) for g in groups]
    if len(set(labels)) < len(labels):
        labels = [f"{lbl}#{'/'.join(m['sha256'][:6] for m in g['models'])}" for lbl, g in zip(labels, groups,
                                                                                              strict=True)]
    return labels


@dataclass
class SessionsReport:
    files: list[str]
    lines: int
    events: int
    duplicates: int
    malformed: int
    malformed_examples: list[dict]
    overall: dict
    groups: list[dict] = field(default_factory=list)
    comparisons: list[dict] = field(default_factory=list)
    thresholds: dict = field(default_factory=dict)

    @property
    def regression(self) -> bool:
        return any(c["regression"] for c in self.comparisons)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["malformed"] = {"count": self.malformed, "examples": self.malformed_examples}
        del d["malformed_examples"]
        d["by_model_version"] = d.pop("groups")
        d["regression"] = self.regression
        d["definitions"] = DEFINITIONS
        return d


def summarize(paths, by: str = "model-version", threshold_pp: float = 2.0,
              threshold_tts: float = 0.25) -> SessionsReport:
    events, bad, lines = read_events(paths)
    records, duplicates = sessions_from(events)
    overall = group_stats(records, "all")
    overall["models"] = []
    groups, comparisons = [], []
    if by == "model-version":
        grouped: dict[str, list[SessionRecord]] = defaultdict(list)
        for r in records:
            grouped[r.label].append(r)
        groups = sorted((group_stats(rs, label) for label, rs in grouped.items()),
                        key=lambda g: (g["first_ts"] or "", g["label"]))
        for g, short in zip(groups, short_labels(groups), strict=True):
            g["short"] = short
        comparisons = [compare(a, b, threshold_pp, threshold_tts) for a, b in zip(groups, groups[1:], strict=False)]
        for c in comparisons:
            c["from_short"] = next(g["short"] for g in groups if g["label"] == c["from"])
            c["to_short"] = next(g["short"] for g in groups if g["label"] == c["to"])
    return SessionsReport([str(p) for p in paths], lines, len(events), duplicates, len(bad), bad[:MAX_EXAMPLES],
                          overall, groups, comparisons, {"threshold_pp": threshold_pp, "threshold_tts": threshold_tts})


# --- console ---------------------------------------------------------------------------------------
def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _ms(x) -> str:
    return "-" if x is None else f"{x / 1000:.2f} s"


def _s(x) -> str:
    return "-" if x is None else f"{x / 1000:.2f}"


def render(report: SessionsReport, console=None) -> None:
    """Rich tables when rich is installed, plain text otherwise."""
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # rich is optional
        print(render_text(report))
        return
    console = console or Console(width=max(110, Console().width))
    o = report.overall
    console.print(f"[bold]Scan sessions[/bold]: {o['sessions']} with an outcome, {o['open']} open · "
                  f"{report.events} events from {report.lines} lines in {len(report.files)} file(s)"
                  + (f" · {report.duplicates} duplicate events ignored" if report.duplicates else ""))
    if report.malformed:
        console.print(f"[yellow]{report.malformed} malformed line(s) skipped[/yellow]: " + "; ".join(
            f"{Path(m['file']).name}:{m['line']} {m['reason']}" for m in report.malformed_examples[:3]))
    rows = ([(g["short"], g) for g in report.groups] if report.groups else []) + [("all", o)]
    t = Table(title="Outcomes (share of sessions with an outcome; accepted = as read + corrected)",
              title_justify="left")
    for col in ("version", "sessions", "manual entry", "accepted", "as read", "corrected", "cancelled", "timed out",
                "lost", "open"):
        t.add_column(col, justify="left" if col == "version" else "right")
    for name, g in rows:
        s = g["shares"]
        t.add_row(name, str(g["sessions"]), f"[bold]{_pct(g['manual_entry_share'])}[/bold]",
                  _pct(g["accepted_share"]), _pct(s["accepted"]), _pct(s["corrected"]), _pct(s["cancelled"]), _pct(s["timed_out"]),
                  _pct(s["lost"]), str(g["open"]))
    console.print(t)
    t = Table(title="Time to scan in seconds (accepted results): percentiles, mean and histogram",
              title_justify="left")
    t.add_column("version")
    for col in ("n", "p50", "p90", "p99", "mean", *(b.removesuffix(" s") for b in BUCKET_LABELS)):
        t.add_column(col, justify="right")
    for name, g in rows:
        x = g["time_to_scan_ms"]
        t.add_row(name, str(x["n"]), _s(x["p50"]), _s(x["p90"]), _s(x["p99"]), _s(x["mean"]),
                  *(str(v) for v in x["histogram"].values()))
    console.print(t)
    t = Table(title="Corrections (sessions where the user edited an accepted result)", title_justify="left")
    for col in ("version", "corrected", "of accepted", "fields", "digit positions (0-based), most often first"):
        t.add_column(col)
    for name, g in rows:
        c = g["corrections"]
        t.add_row(name, str(c["sessions"]), _pct(g["corrected_share_of_accepted"]),
                  ", ".join(f"{k} {v}" for k, v in c["fields"].items()) or "-",
                  ", ".join(f"{k}: {v}" for k, v in list(c["positions"].items())[:6]) or "-")
    console.print(t)
    if report.groups:
        t = Table(title="Model versions", title_justify="left")
        t.add_column("version")
        t.add_column("models")
        t.add_column("first event")
        for g in report.groups:
            t.add_row(g["short"], ", ".join(f"{m['name']}@{m['version']}#{m['sha256'][:8]}" for m in g["models"]),
                      g["first_ts"] or "-")
        console.print(t)
    for c in report.comparisons:
        tts = c["time_to_scan_ms_delta"]
        line = (f"{c['from_short']} → {c['to_short']}: manual entry {_pp(c['manual_entry_pp'])} "
                f"(p={_p(c['manual_entry_p_value'])}), accepted {_pp(c['accepted_pp'])}, time to scan p50 "
                f"{_dms(tts['p50'])} p90 {_dms(tts['p90'])}")
        console.print(line)
        for r in c["regressions"]:
            console.print(f"  [bold red]REGRESSION[/bold red] {r}")
        for w in c["warnings"]:
            console.print(f"  [yellow]warning[/yellow] {w}")


def _p(x) -> str:
    return "-" if x is None else f"{x:.2g}"


def _pp(x) -> str:
    return "-" if x is None else f"{x:+.1f} pp"


def _dms(x) -> str:
    return "-" if x is None else f"{x:+d} ms"


def render_text(report: SessionsReport) -> str:
    o = report.overall
    out = [f"sessions: {o['sessions']} with an outcome, {o['open']} open; events {report.events}; "
           f"malformed lines {report.malformed}"]
    for name, g in [(g["short"], g) for g in report.groups] + [("all", o)]:
        x = g["time_to_scan_ms"]
        out.append(f"{name}: sessions {g['sessions']}, manual entry {_pct(g['manual_entry_share'])}, accepted "
                   f"{_pct(g['accepted_share'])}, time to scan p50 {_ms(x['p50'])} p90 {_ms(x['p90'])} "
                   f"p99 {_ms(x['p99'])}; corrected fields {g['corrections']['fields']}")
    for c in report.comparisons:
        out.append(f"{c['from_short']} -> {c['to_short']}: manual entry {_pp(c['manual_entry_pp'])}"
                   + "".join(f"; REGRESSION {r}" for r in c["regressions"]))
    return "\n".join(out)
