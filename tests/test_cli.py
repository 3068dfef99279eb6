import json

import numpy as np

from cardlens import __version__
from cardlens.cli import SUBCOMMANDS, main


def test_help_lists_every_subcommand(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert name in out


def test_version(capsys):
    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_pending_subcommands_say_so_and_exit_2(monkeypatch, capsys):
    # every subcommand has landed; a future one registered without its module must still say so
    assert all(module for module, _, _ in SUBCOMMANDS.values())
    monkeypatch.setitem(SUBCOMMANDS, "future", (None, "a later feature", "#99"))
    assert main(["future", "--anything"]) == 2
    err = capsys.readouterr().err
    assert "not available yet" in err and "issue #99" in err and "Traceback" not in err


def test_missing_file_is_one_clear_line(tmp_path, capsys):
    assert main(["scan", str(tmp_path / "nope.jpg")]) == 2  # scan: 2 = error, 1 = no number read
    err = capsys.readouterr().err.strip()
    assert err.startswith("cardlens: error: image not found:") and "\n" not in err


def test_unreadable_image_is_one_clear_line(tmp_path, capsys):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff not really a jpeg")
    assert main(["scan", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "not a readable image" in err and "Traceback" not in err


def test_unknown_option_is_usage_error(capsys):
    assert main(["scan", "--no-such-flag", "x.jpg"]) == 2


def test_scan_without_card_reports_no_card(tmp_path, capsys):
    import cv2

    path = tmp_path / "plain.png"
    cv2.imwrite(str(path), np.full((300, 500, 3), 127, np.uint8))
    assert main(["scan", "--no-ocr", "--json", str(path)]) == 1  # nothing found
    out = json.loads(capsys.readouterr().out)
    assert out["card_found"] is False and out["number"] is None and "no card found" in out["notes"]


def test_output_pipe_closed_early_stops_quietly():
    """`cardlens scan ... | head -1`: the reader goes away; no traceback, no "internal error"."""
    import subprocess
    import sys

    example = "examples/card_photo.jpg"
    p = subprocess.Popen([sys.executable, "-m", "cardlens", "scan", example, example, example],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 141
    assert "error" not in err.lower() and "Traceback" not in err


def test_a_non_date_expiry_is_shown_as_printed_and_flagged(capsys):
    from cardlens.cardrules import PrintedExpiry
    from cardlens.commands.scan import format_result
    from cardlens.results import ScanResult

    result = ScanResult(True, printed_expiry=PrintedExpiry("88/88", 0.95, (0.99,) * 5))
    assert "expiry : 88/88 as printed (not a date: no expiry returned)" in format_result("a.jpg", result)
    as_json = result.to_dict()
    assert as_json["expiry"] is None and as_json["printed_expiry"]["value"] == "88/88"
    assert as_json["printed_expiry"]["is_date"] is False
    assert "expiry : not read" in format_result("a.jpg", ScanResult(True))
