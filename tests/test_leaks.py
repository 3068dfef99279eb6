"""No card-number leaks (issue #9): every command runs on images whose PANs are known, and no full PAN
appears — in any grouping or spacing — in stdout, stderr, logs (DEBUG), JSON, reports, recordings,
monitoring events or exception messages, unless ``--reveal`` was given (and then it does appear: the
search below can fail). Results' repr/str/pickle/JSON forms mask by default.

The PAN search (:func:`hardening_support.pan_pattern`) accepts the digits joined by nothing, spaces,
tabs, newlines, dashes, dots, slashes or underscores, in any number.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import logging
import pickle

import pytest
from hardening_support import (
    EXAMPLE_IMAGE,
    all_text_under,
    example_pan,
    find_pans,
    known_pan_scan_set,
    offline_bundle,
    offline_demo_run,
    pan_pattern,
    record_figures,
)

from cardlens.cli import main


def masked(pan: str) -> str:
    return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]


def test_pan_search_finds_every_grouping():
    """The detector itself: it must find what the tests below say is absent."""
    pan = "4111111111111111"
    for text in (pan, "4111 1111 1111 1111", "4111-1111-1111-1111", "4111  1111\t1111\n1111", "4111.1111.1111.1111",
                 "x=4111_1111_1111_1111;", '"4111 1111 1111 1111\\n"', "4/1/1/1/1/1/1/1/1/1/1/1/1/1/1/1"):
        assert find_pans(text, [pan]) == [pan], text
    for text in ("411111******1111", "4111 11** **** 1111", "41111111111111112", "1411111111111111", "411111111111111"):
        assert find_pans(text, [pan]) == [], text
    assert find_pans(b"\x80\x03" + pan.encode() + b"\x94", [pan]) == [pan]  # pickle bytes
    assert pan_pattern(pan).pattern.startswith("(?<![0-9])")


@pytest.fixture
def debug_log():
    """Every record of the ``cardlens`` loggers at DEBUG, captured with no redacting filter of its own."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.DEBUG)
    logger = logging.getLogger("cardlens")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(old_level)


def test_scan_text_json_and_debug_logs_never_show_a_pan_unless_revealed(capsys, debug_log, caplog):
    caplog.set_level(logging.DEBUG)
    folder, pans = known_pan_scan_set()
    pans = (*pans, example_pan())
    images = [str(folder / "images"), str(EXAMPLE_IMAGE)]
    texts = []
    for flags in (["-vv", "scan"], ["-vv", "scan", "--json"]):
        code = main([*flags, *images])
        out, err = capsys.readouterr()
        assert code in (0, 1), err
        texts.append(out + err)
    text = "".join(texts) + debug_log.getvalue() + caplog.text
    assert find_pans(text, pans) == []
    read = [p for p in pans if masked(p) in text]
    assert example_pan() in read, "the scans read nothing: this test would prove nothing"
    # --reveal shows them (grouped as printed, "4426 2012 ..."): the search above would have found a leak
    assert main(["scan", "--reveal", *images]) in (0, 1)
    assert set(find_pans(capsys.readouterr().out, pans)) >= set(read)


def test_error_messages_mask_a_pan_in_a_path(tmp_path, capsys):
    pan = example_pan()
    for name in (f"{pan}.jpg", f"card {pan[:4]} {pan[4:8]} {pan[8:12]} {pan[12:]}.png", f"{pan}-scan.png"):
        bad = tmp_path / name
        bad.write_bytes(b"not an image")
        assert main(["scan", str(bad), str(tmp_path / ("missing-" + name))]) == 2
        err = capsys.readouterr().err
        assert err.count("cardlens: error:") == 2 and find_pans(err, [pan]) == [], err
    assert main(["demo", str(tmp_path / f"{pan}.mp4"), "--headless", "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "source not found" in err and find_pans(err, [pan]) == []


def test_eval_report_json_and_markdown_hold_no_pan(tmp_path, capsys, debug_log):
    folder, pans = known_pan_scan_set()
    assert find_pans((folder / "labels.jsonl").read_text(), pans) == list(pans)  # the labels do hold them
    out = tmp_path / "report"
    assert main(["-vv", "eval", "scan", "--data", str(folder), "--json", "--no-progress", "--out", str(out)]) == 0
    stdout, stderr = capsys.readouterr()
    report = json.loads(stdout)[0]
    assert report["overall"]["number_exact"] > 0, "nothing was read: this test would prove nothing"
    text = stdout + stderr + debug_log.getvalue() + (tmp_path / "report.json").read_text() + (tmp_path / "report.md").read_text()
    assert find_pans(text, pans) == []


def test_demo_outputs_recordings_and_events_hold_no_pan():
    run = offline_demo_run()
    assert run["code"] == 0, run["stderr"][-2000:]
    pans = run["pans"]
    summary = json.loads(run["stdout"])
    assert summary["results"] == [masked(p) for p in pans], "the demo did not read both cards"
    files = all_text_under(run["root"])
    assert "results.jsonl" in str(sorted(p.name for p in run["root"].rglob("*")))
    assert '"final_number"' in files and '"kind"' in (run["root"] / "events.jsonl").read_text()
    assert find_pans(files + run["stdout"] + run["stderr"], pans) == []


@pytest.mark.stress
def test_export_with_accuracy_on_known_pans_reports_no_pan():
    """``export`` measures each bundle on a scan set: here the known-PAN set (and torch on it too), so
    REPORT.md and manifest.json carry figures from those scans, and must carry nothing else. (Stress only:
    a second export with accuracy costs ~30 s on this CPU.)"""
    folder, attempts = offline_bundle("onnx", accuracy=True)
    pans = known_pan_scan_set()[1]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert attempts == () and manifest["accuracy"]["synthetic"]["number_exact"] > 0
    text = all_text_under(folder)
    leaks = find_pans(text, pans)
    record_figures("leaks-export", {"files_checked": len(list(folder.rglob("*"))), "pans": len(pans),
                                    "leaks_found": len(leaks)})
    assert leaks == []


def _forms(obj) -> list[str]:
    out = [repr(obj), str(obj), f"{obj}", repr(copy.deepcopy(obj))]
    blob = pickle.dumps(obj)
    out.append(blob.decode("latin-1"))
    out.append(repr(pickle.loads(blob)))
    if dataclasses.is_dataclass(obj):
        out.append(repr(dataclasses.asdict(obj)))
        out.append(repr(vars(obj)))
    if hasattr(obj, "to_dict"):
        out.append(json.dumps(obj.to_dict()))
    if hasattr(obj, "to_json"):
        out.append(obj.to_json())
    return out


def test_result_objects_mask_in_every_form():
    """A real scan's ScanResult, its CardNumber and PanDigits, the reader's CardReading and NumberDecision,
    and a session's updates: repr, str, format, deepcopy, pickle bytes, asdict, vars and JSON."""
    from cardlens.geometry import rectify
    from cardlens.imageio import read_image
    from cardlens.scanner import CardScanner
    from cardlens.session import ScanSession, SessionConfig

    pan = example_pan()
    scanner = CardScanner()
    result = scanner.scan(EXAMPLE_IMAGE)
    assert result.number.reveal() == pan and result.number_accepted
    img = read_image(EXAMPLE_IMAGE)
    reading = scanner.reader.read_card(rectify(img, scanner.locator(img).corners))
    session = ScanSession(scanner, SessionConfig(agree=1))
    update = session.update(img)
    assert update.final is not None and update.final.number.reveal() == pan
    objects = [result, result.number, result.number.digits, reading, reading.decision, reading.fields, update,
               update.final]
    for obj in objects:
        for form in _forms(obj):
            assert find_pans(form, [pan]) == [], (type(obj).__name__, form[:300])
    # revealing is explicit, and pickles carry only the masked form (a documented one-way trip)
    assert json.loads(result.to_json(reveal=True))["number"]["value"] == pan
    assert pan in json.dumps(update.to_dict(reveal=True))
    back = pickle.loads(pickle.dumps(result))
    assert back.number.digits.redacted and back.number.masked == result.number.masked
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(session)  # its votes are keyed by the full number


@pytest.mark.stress
def test_leak_sweep_over_a_larger_set(tmp_path, capsys, debug_log):
    """40 synthetic scenes + the example through scan (text, JSON, -vv), eval (--out) and every result
    form; the demo's full two-card video with record and events. Figures for ``make stress``."""
    import contextlib

    from cardlens.demo.synthetic_video import write_synthetic_video
    from cardlens.scanner import CardScanner

    folder, pans = known_pan_scan_set(40)
    texts: list[str] = []
    for argv in (["-vv", "scan", str(folder / "images")], ["-vv", "scan", "--json", str(folder / "images")],
                 ["-vv", "eval", "scan", "--data", str(folder), "--json", "--no-progress", "--out", str(tmp_path / "ev")]):
        assert main(argv) in (0, 1)
        out, err = capsys.readouterr()
        texts += [out, err]
    texts += [all_text_under(tmp_path), debug_log.getvalue()]
    scanner = CardScanner()
    results = [scanner.scan(p) for p in sorted((folder / "images").iterdir())]
    for r in results:
        texts += _forms(r)
    video = tmp_path / "two-cards.mp4"
    video_pans = write_synthetic_video(video, seed=0)
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert main(["demo", str(video), "--headless", "--out", str(tmp_path / "demo"), "--record",
                     str(tmp_path / "rec"), "--events", str(tmp_path / "events.jsonl"), "--json"]) == 0
    texts += [out.getvalue(), all_text_under(tmp_path / "demo"), all_text_under(tmp_path / "rec"),
              (tmp_path / "events.jsonl").read_text()]
    known = [*pans, *video_pans]
    blob = "\n".join(texts)
    leaks = find_pans(blob, known)
    read = [p for p in known if masked(p) in blob]
    assert main(["scan", "--reveal", "--json", str(folder / "images")]) in (0, 1)
    revealed = find_pans(capsys.readouterr().out, pans)
    record_figures("leaks-sweep", {"pans_known": len(known), "pans_read_masked": len(read),
                                   "pans_shown_with_reveal": len(revealed), "texts_checked": len(texts),
                                   "chars_checked": len(blob), "leaks_found": len(leaks)})
    assert leaks == []
    assert len(read) >= 3 and set(revealed) >= {p for p in read if p in pans}
