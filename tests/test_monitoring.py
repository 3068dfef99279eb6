"""Scan-session monitoring: privacy of events, sinks, ScanSession hooks, and `cardlens report sessions`."""

import datetime as dt
import json
import logging
import re
import threading

import pytest

from cardlens.cli import main
from cardlens.monitoring import (
    JsonlSink,
    MemorySink,
    ModelVersion,
    NullSink,
    PrivacyError,
    SessionEvent,
    check_event,
    corrected_positions,
    emit,
    shipped_model_versions,
)
from cardlens.monitoring.events import new_session_id
from cardlens.monitoring.report import percentile, render_text, summarize
from cardlens.monitoring.simulate import model_set, session_events, simulate, write_jsonl
from cardlens.results import CardName, CardNumber, ScanResult
from cardlens.session import ScanSession, SessionConfig

CARD_A = "4111111111111111"
CARD_B = "5555555555554444"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
T0 = dt.datetime(2025, 6, 2, 9, 0, tzinfo=dt.UTC)


def frame(number=None, found=True, name=None):
    n = CardNumber.from_digits(number, 0.99) if number else None
    return ScanResult(found, n, name=CardName(name, 0.8) if name else None, number_accepted=bool(n))


def feed(session, results, t0=0.0, dt_=0.1):
    return [session.add_result(r, t0 + i * dt_) for i, r in enumerate(results)]


def no_digit_run(line: str) -> bool:
    """No 6+ digit run once the random uuid, the timestamp and model sha256 prefixes are removed."""
    d = json.loads(line)
    d["session_id"] = d["ts"] = ""
    for m in d["models"]:
        m["sha256"] = ""
    return not re.search(r"[0-9](?:[ .\-]?[0-9]){5,}", json.dumps(d))


def ev(kind="started", **kw):
    return SessionEvent(kind, new_session_id(), 0, **kw)


# --- the event model ---------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [
    dict(kind="pan_read"), dict(brand="4111111111111111"), dict(brand="visa 411111"), dict(time_to_scan_ms=123456),
    dict(corrected_positions=(3, 99)), dict(reason="4111 1111 1111 1111"), dict(pan_length=True),
    dict(models=(("card-detector", "1", ""),)), dict(confidence={"number": 0.5}), dict(frames=-1),
])
def test_event_refuses_card_data_and_malformed_fields(bad):
    kw = {"kind": "started", **bad}
    with pytest.raises(PrivacyError) as err:
        SessionEvent(kw.pop("kind"), new_session_id(), 0, **kw)
    assert "4111" not in str(err.value) and "411111" not in str(err.value)  # the message never holds the value


def test_model_versions_refuse_digit_runs_and_session_ids_are_uuid4():
    with pytest.raises(PrivacyError):
        ModelVersion("recognizer-4111111111111111", "1")
    with pytest.raises(PrivacyError):
        ModelVersion("recognizer", "1", "NOT-HEX")
    with pytest.raises(PrivacyError):
        SessionEvent("started", "4111111111111111", 0)
    ids = {new_session_id() for _ in range(50)}
    assert len(ids) == 50 and all(UUID.fullmatch(i) for i in ids)
    # the identifiers checked by format may hold digit runs (random hex): they are not card data
    e = SessionEvent("started", "12345678-1234-4234-8234-123456789012", 0,
                     models=(ModelVersion("det", "0.1.0", "123456789abc"),))
    assert check_event(e) == e.to_json() and SessionEvent.from_dict(json.loads(e.to_json())) == e


def test_emit_time_check_catches_a_forced_value():
    e = ev("result_accepted", brand="visa")
    object.__setattr__(e, "brand", "4111111111111111")  # frozen dataclasses can be forced: check again at emit
    with pytest.raises(PrivacyError):
        check_event(e)
    m = ModelVersion("det", "1")
    object.__setattr__(m, "version", "1.411111")
    with pytest.raises(PrivacyError):
        check_event(ev(models=(m,)))


def test_shipped_model_versions_come_from_spec_json():
    versions = shipped_model_versions()
    assert [m.name for m in versions] == ["card-detector-t", "card-verifier-w8", "card-fields-p", "card-text-recognizer"]
    spec = json.loads(open("cardlens/models/card-detector/spec.json").read())
    assert versions[0].sha256 == spec["sha256"][:12] and versions[0].version == spec["cardlens_version"]


# --- sinks ---------------------------------------------------------------------------------------------
def test_sinks_drop_with_a_warning_or_raise_when_strict(caplog):
    bad = ev("result_accepted", brand="visa")
    object.__setattr__(bad, "reason", "4111 1111 1111 1111")
    lax, strict = MemorySink(), MemorySink(strict=True)
    with caplog.at_level(logging.WARNING, logger="cardlens"):
        lax.emit(bad)
        lax.emit(ev())
    assert lax.dropped == 1 and lax.kinds == ["started"] and "dropped" in caplog.text and "4111" not in caplog.text
    with pytest.raises(PrivacyError):
        strict.emit(bad)

    class Custom:  # any object with emit/close: emit() checks in front of it
        def __init__(self):
            self.got = []

        def emit(self, e):
            self.got.append(e)

        def close(self):
            pass

    c = Custom()
    assert emit(c, bad) is False and emit(c, ev()) is True and len(c.got) == 1
    n = NullSink()
    n.emit(ev())
    assert n.emitted == 1


def test_jsonl_sink_appends_flushes_per_event_and_is_safe_from_several_writers(tmp_path):
    path = tmp_path / "ev" / "events.jsonl"
    first = JsonlSink(path)
    first.emit(ev())
    assert len(path.read_text().splitlines()) == 1  # on disk before close
    first.close()

    def writer():
        with JsonlSink(path) as sink:  # one sink per thread, same file
            for i in range(150):
                sink.emit(ev("lost", reason="card left the frame", frames=i))

    shared = JsonlSink(path)
    threads = [threading.Thread(target=writer) for _ in range(3)]
    threads += [threading.Thread(target=lambda: [shared.emit(ev("card_seen")) for _ in range(150)]) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    shared.close()
    lines = path.read_text().splitlines()
    assert len(lines) == 1 + 5 * 150
    assert all(SessionEvent.from_dict(json.loads(line)) for line in lines)  # no torn or interleaved line


# --- ScanSession ----------------------------------------------------------------------------------------
def test_session_emits_outcome_events_without_card_data():
    sink = MemorySink(strict=True)
    s = ScanSession(scanner=None, config=SessionConfig(agree=2, lost_frames=2), sink=sink)
    feed(s, [frame(found=False), frame(CARD_A), frame(found=False), frame(found=False),   # seen, then lost
             frame(CARD_A, name="JANE DOE"), frame(CARD_A, name="JANE DOE"), frame(CARD_A)])  # accepted
    assert s.user_corrected("4111 1111 1111 1121", name="JANE DOW") == (14,)
    feed(s, [frame(found=False), frame(found=False), frame(CARD_B), frame(CARD_B)], t0=2.0)  # next card
    s.manual_entry()
    first, second = sink.events[0].session_id, sink.events[5].session_id
    assert first != second and UUID.fullmatch(first) and UUID.fullmatch(second)
    assert [(e.kind, e.session_id == first) for e in sink.events] == [
        ("started", True), ("card_seen", True), ("lost", True), ("result_accepted", True), ("corrected", True),
        ("started", False), ("card_seen", False), ("result_accepted", False), ("manual_entry", False)]
    acc = sink.events[3]
    assert acc.time_to_scan_ms == 100 and acc.brand == "visa" and acc.pan_length == 16 and acc.frames == 6
    assert acc.confidence.number == 0.99 and acc.confidence.name == 0.8 and acc.confidence.expiry is None
    assert [m.name for m in acc.models] == [m.name for m in shipped_model_versions()]
    cor = sink.events[4]
    assert cor.corrected_fields == ("number", "name") and cor.corrected_positions == (14,)
    assert cor.digits_changed == 1 and cor.length_delta == 0
    assert [e.seq for e in sink.events] == [0, 1, 2, 3, 4, 0, 1, 2, 3]
    for line in sink.lines:
        assert CARD_A not in line and CARD_B not in line and "JANE" not in line and no_digit_run(line)


def test_session_timeout_cancel_and_no_sink():
    sink = MemorySink(strict=True)
    s = ScanSession(scanner=None, config=SessionConfig(agree=3, timeout_s=1.0), sink=sink)
    feed(s, [frame(CARD_A), frame(CARD_B), frame(found=True)], dt_=0.6)
    s.cancel()
    assert sink.kinds == ["started", "card_seen", "timed_out", "cancelled"] and sink.events[2].frames == 3
    cancelled_first = MemorySink(strict=True)
    ScanSession(scanner=None, sink=cancelled_first).cancel()
    assert cancelled_first.kinds == ["started", "cancelled"]
    quiet = ScanSession(scanner=None, config=SessionConfig(agree=1))  # default: no sink, no events
    quiet.add_result(frame(CARD_A), 0.0)
    quiet.cancel()
    quiet.manual_entry()
    assert quiet.user_corrected(CARD_A) == () and quiet.user_corrected("4111111111111112") == (15,)


def test_user_corrected_positions_and_refusals():
    assert corrected_positions("4111111111111111", "4111111111111121") == ((14,), 1, 0)
    assert corrected_positions("4111111111111111", "4111119111111121") == ((6, 14), 2, 0)
    # a missed digit marks one position, not every later one
    assert corrected_positions("411111111111111", "4111111111111111")[1:] == (1, 1)
    assert corrected_positions("4012888888881881", "401888888881881") == ((3,), 1, -1)  # an extra digit read
    assert corrected_positions("401888888881881", "4012888888881881") == ((3,), 1, 1)  # a digit missed
    assert corrected_positions("4012888888881881", "4012888888881882")[0] == (15,)
    s = ScanSession(scanner=None, sink=MemorySink(strict=True))
    with pytest.raises(ValueError, match="manual_entry"):
        s.user_corrected(CARD_A)  # nothing accepted yet
    s2 = ScanSession(scanner=None, config=SessionConfig(agree=1))
    s2.add_result(frame(CARD_A), 0.0)
    with pytest.raises(ValueError) as err:
        s2.user_corrected("4111-1111-1111-111x")
    assert "4111" not in str(err.value)
    assert s2.user_corrected(expiry="12/30") == ()  # an expiry correction has no digit positions


def test_demo_writes_events_from_the_real_scanner_without_the_pans(tmp_path, capsys):
    from cardlens.cardrules import identify_brand
    from cardlens.demo.synthetic_video import write_synthetic_video

    video = tmp_path / "two-cards.mp4"
    pans = write_synthetic_video(video, seed=0)
    events = tmp_path / "events.jsonl"
    assert main(["demo", str(video), "--headless", "--out", str(tmp_path / "out"), "--agree", "2",
                 "--events", str(events), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["outputs"]["events"] == str(events)
    lines = events.read_text().splitlines()
    got = [json.loads(line) for line in lines]
    assert [d["kind"] for d in got] == ["started", "card_seen", "result_accepted"] * 2
    assert got[0]["session_id"] != got[3]["session_id"]
    accepted = [d for d in got if d["kind"] == "result_accepted"]
    assert [(d["brand"], d["pan_length"]) for d in accepted] == [(identify_brand(p).key, len(p)) for p in pans]
    assert all(0 < d["time_to_scan_ms"] < 10_000 and d["confidence"]["number"] > 0.5 for d in accepted)
    text = events.read_text()
    for pan in pans:
        assert pan not in text and pan[:6] not in text
    assert all(no_digit_run(line) for line in lines)


# --- the report -----------------------------------------------------------------------------------------
def hand_sessions(version: str, start: dt.datetime) -> list:
    """10 sessions with an outcome + 1 open: 3 manual entries, 4 accepted + 1 corrected, 1 cancelled, 1 lost."""
    m, h = model_set(version), dt.timedelta(hours=1)
    plans = [dict(card=False, then="manual_entry"), dict(accepted=False, then="manual_entry"),
             dict(tts_ms=800, then="manual_entry"), dict(tts_ms=1000), dict(tts_ms=1200), dict(tts_ms=1500),
             dict(tts_ms=2500), dict(tts_ms=4000, then="corrected", positions=(4, 5), fields=("number", "name")),
             dict(accepted=False, then="cancelled"), dict(accepted=None, lost=1), dict(accepted=None)]
    return [e for i, p in enumerate(plans) for e in session_events(m, start + i * h, **p)]


def worse_sessions(version: str, start: dt.datetime) -> list:
    """10 sessions: 6 manual entries after a time-out, 4 accepted at 2 s."""
    m, h = model_set(version), dt.timedelta(hours=1)
    plans = [dict(accepted=False, then="manual_entry")] * 6 + [dict(tts_ms=2000)] * 4
    return [e for i, p in enumerate(plans) for e in session_events(m, start + i * h, **p)]


def test_percentile_is_nearest_rank():
    v = [800, 1000, 1200, 1500, 2500, 4000]
    assert (percentile(v, 50), percentile(v, 90), percentile(v, 99), percentile([], 50)) == (1200, 4000, 4000, None)


def test_report_on_hand_built_sessions(tmp_path):
    path = write_jsonl(hand_sessions("v1", T0) + worse_sessions("v2", T0 + dt.timedelta(days=1)), tmp_path / "e.jsonl")
    r = summarize([path])
    v1, v2 = r.groups
    assert (v1["short"], v1["sessions"], v1["open"]) == ("v1", 10, 1)
    assert v1["manual_entry_share"] == 0.3 and v1["accepted_share"] == 0.5
    assert v1["outcomes"] == {"manual_entry": 3, "corrected": 1, "accepted": 4, "cancelled": 1, "timed_out": 0,
                              "lost": 1}
    t = v1["time_to_scan_ms"]
    assert (t["n"], t["p50"], t["p90"], t["p99"], t["mean"]) == (6, 1200, 4000, 4000, 1833.3)
    assert t["histogram"] == {"<0.5 s": 0, "0.5-1 s": 1, "1-2 s": 3, "2-3 s": 1, "3-5 s": 1, "5-10 s": 0, "≥10 s": 0}
    assert v1["corrections"] == {"sessions": 1, "fields": {"number": 1, "name": 1}, "positions": {"4": 1, "5": 1}}
    assert v1["corrected_share_of_accepted"] == 0.2
    assert v2["manual_entry_share"] == 0.6 and v2["time_to_scan_ms"]["p50"] == 2000
    assert r.overall["sessions"] == 20 and r.overall["manual_entry_share"] == 0.45
    c = r.comparisons[0]
    assert c["manual_entry_pp"] == 30.0 and c["accepted_pp"] == -10.0 and c["time_to_scan_ms_delta"]["p50"] == 800
    assert c["manual_entry_p_value"] == pytest.approx(0.0889, abs=1e-3)  # 3/10 vs 6/10: not significant
    assert not c["regression"] and any("not significant" in w for w in c["warnings"])
    # five times the sessions, same shares: now significant (p ≈ 0.0013)
    many = [e for k in range(5) for e in hand_sessions("v1", T0 + k * dt.timedelta(hours=12))]
    many += [e for k in range(5) for e in worse_sessions("v2", T0 + dt.timedelta(days=3 + k))]
    r5 = summarize([write_jsonl(many, tmp_path / "many.jsonl")])
    assert r5.groups[0]["manual_entry_share"] == 0.3 and r5.groups[1]["manual_entry_share"] == 0.6
    assert r5.comparisons[0]["manual_entry_p_value"] == pytest.approx(0.0013, abs=2e-4) and r5.regression
    assert summarize([path], by="none").groups == []
    text = render_text(r)  # the console form without rich
    assert "v1: sessions 10, manual entry 30.0%" in text and "v1 -> v2: manual entry +30.0 pp" in text


def test_report_counts_malformed_lines_and_goes_on(tmp_path):
    good = hand_sessions("v1", T0)
    forged = json.loads(good[3].to_json()) | {"brand": "4111111111111111"}
    path = tmp_path / "e.jsonl"
    path.write_text("\n".join([e.to_json() for e in good] + [
        "not json", "[1, 2]", json.dumps(forged), '{"schema": 1, "kind": "bogus"}', "", "\xff garbage"]) + "\n")
    r = summarize([path])
    assert r.malformed == 5 and r.events == len(good) and r.groups[0]["sessions"] == 10
    assert "4111111111111111" not in json.dumps(r.to_dict())


def test_cli_report_sessions(tmp_path, capsys):
    path = write_jsonl(hand_sessions("v1", T0) + worse_sessions("v2", T0 + dt.timedelta(days=1)), tmp_path / "e.jsonl")
    with path.open("a") as f:
        f.write("{broken\n")
    assert main(["report", "sessions", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["malformed"]["count"] == 1 and out["malformed"]["examples"][0]["line"] > 1
    assert [g["manual_entry_share"] for g in out["by_model_version"]] == [0.3, 0.6]
    assert out["comparisons"][0]["manual_entry_pp"] == 30.0 and "manual_entry_share" in out["definitions"]
    assert main(["report", "sessions", str(path)]) == 0
    text = capsys.readouterr().out
    assert "30.0%" in text and "60.0%" in text and "v1 → v2" in text and "1 malformed line" in text
    assert main(["report", "sessions", str(path), "--threshold-pp", "40", "--fail-on-regression"]) == 0
    capsys.readouterr()
    assert main(["report", "sessions", str(tmp_path / "missing.jsonl")]) == 2 and main(["report"]) == 2
    assert "no such event file" in capsys.readouterr().err


def test_simulated_stream_shows_the_v2_regression_and_holds_no_card_data(tmp_path, capsys):
    events = simulate(2000, seed=0)
    lines = [check_event(e) for e in events]
    assert all(no_digit_run(line) for line in lines)
    path = write_jsonl(events, tmp_path / "sim.jsonl")
    assert main(["report", "sessions", str(path), "--json", "--fail-on-regression"]) == 1
    out = json.loads(capsys.readouterr().out)
    v1, v2 = out["by_model_version"]
    assert (v1["short"], v2["short"]) == ("v1", "v2") and v1["sessions"] + v2["sessions"] + out["overall"]["open"] == 2000
    assert v2["manual_entry_share"] > v1["manual_entry_share"] + 0.03 and out["regression"]
    assert v2["time_to_scan_ms"]["p50"] > v1["time_to_scan_ms"]["p50"]
    top_v2 = [int(p) for p in list(v2["corrections"]["positions"])[:3]]
    assert set(top_v2) <= {4, 5, 6, 7}  # v2's misreads concentrate there
    again = summarize([write_jsonl(simulate(2000, seed=0), tmp_path / "again.jsonl")]).to_dict()
    assert again["by_model_version"] == out["by_model_version"]  # seeded: same figures (ids are random)
