"""The QA demo, driven headless on a synthetic video (and once in a real window under Xvfb)."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from cardlens.cli import main


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    from cardlens.demo.synthetic_video import write_synthetic_video

    path = tmp_path_factory.mktemp("video") / "two-cards.mp4"
    pans = write_synthetic_video(path, seed=0)
    return path, pans


def masked(pan: str) -> str:
    return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]


def _all_text(folder) -> str:
    return "".join(p.read_text(errors="ignore") for p in folder.rglob("*") if p.suffix in (".jsonl", ".json"))


def test_headless_run_reads_both_cards_resets_between_and_never_writes_a_pan(video, tmp_path, capsys):
    path, (pan_a, pan_b) = video
    out, rec = tmp_path / "out", tmp_path / "rec"
    assert main(["demo", str(path), "--headless", "--out", str(out), "--record", str(rec), "--agree", "2",
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["results"] == [masked(pan_a), masked(pan_b)] and summary["resets"] >= 1
    rows = [json.loads(line) for line in (out / "log.jsonl").open()]
    assert len(rows) == summary["frames"] == 56
    left = [r for r in rows if r["reset"] == "card left the frame"]
    assert left and all(r["final_number"] is None for r in rows[left[0]["frame"]:left[0]["frame"] + 3])
    assert any(r["status"] == "searching" or not r["card_found"] for r in rows)
    assert (out / "annotated.mp4").stat().st_size > 0 and (rec / "frames.avi").stat().st_size > 0
    text = _all_text(tmp_path) + capsys.readouterr().out
    for pan in (pan_a, pan_b):
        assert pan not in text and pan not in text.replace(" ", "")


def test_replay_matches_its_recording_and_flags_a_changed_result(video, tmp_path, capsys):
    path, _ = video
    rec = tmp_path / "rec"
    assert main(["demo", str(path), "--headless", "--out", str(tmp_path / "o1"), "--record", str(rec),
                 "--agree", "2", "--max-frames", "20"]) == 0
    assert main(["demo", "--replay", str(rec), "--headless", "--out", str(tmp_path / "o2"), "--agree", "2"]) == 0
    assert "0 frame(s) differ" in capsys.readouterr().out
    rows = [json.loads(line) for line in (rec / "results.jsonl").open()]
    rows[12]["status"] = "timed_out"
    (rec / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["demo", "--replay", str(rec), "--headless", "--out", str(tmp_path / "o3"), "--agree", "2"]) == 1
    assert "1 frame(s) differ" in capsys.readouterr().out


def test_overlay_shows_masked_result_vote_and_timings():
    from cardlens.demo.overlay import draw, overlay_lines
    from cardlens.results import CardNumber, ScanResult, StageTiming
    from cardlens.session import ScanSession, SessionConfig

    s = ScanSession(scanner=None, config=SessionConfig(agree=1))
    n = CardNumber.from_digits("4111111111111111", 0.99, (0.99,) * 15 + (0.2,))
    up = s.add_result(ScanResult(True, n, number_accepted=True, timings=(StageTiming("locate", 9.0),),
                                 corners=((10, 10), (200, 10), (200, 120), (10, 120))), 0.0)
    lines = overlay_lines(up, fps=17.0, backend="onnx")
    assert "number: 4111 11** **** 1111 (valid)" in lines and "vote:   1/1 done" in lines
    assert any(line.startswith("DONE") for line in lines) and any("17.0 fps [onnx]" in line for line in lines)
    assert not any("4111111111111111" in line.replace(" ", "") for line in lines)
    assert "4111 1111 1111 1111" in overlay_lines(up, 17.0, "onnx", reveal=True)[0]
    img = draw(np.zeros((240, 320, 3), np.uint8), up, 17.0, "onnx", show_help=True)
    assert img.shape == (240, 320, 3) and img.any()
    none = ScanSession(scanner=None).add_result(ScanResult(False), 0.0)
    assert overlay_lines(none, 3.0, "onnx")[0].startswith("no card")


@pytest.mark.parametrize("argv, message", [
    (["demo", "97"], "camera 97 could not be opened"),
    (["demo", "no-such-video.mp4", "--headless", "--out", "x"], "source not found"),
    (["demo", "--replay", "."], "not a recording"),
])
def test_bad_sources_give_one_clear_line(argv, message, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("DISPLAY", ":99")
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_no_display_is_a_clear_error(video, monkeypatch, capsys):
    monkeypatch.delenv("DISPLAY", raising=False)
    assert main(["demo", str(video[0])]) == 1
    assert "no display" in capsys.readouterr().err


def test_empty_video_is_refused(tmp_path, capsys):
    bad = tmp_path / "empty.mp4"
    bad.write_bytes(b"")
    assert main(["demo", str(bad), "--headless", "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "cannot open video" in err or "no frames" in err


def test_window_under_xvfb_takes_a_screenshot(video, tmp_path):
    if shutil.which("xvfb-run") is None:
        pytest.skip("xvfb-run is not installed (scripts/ensure-venv.sh installs it where apt-get and root exist)")
    cmd = ["xvfb-run", "-a", "-s", "-screen 0 1024x768x24", sys.executable, "-m", "cardlens", "demo",
           str(video[0]), "--out", str(tmp_path), "--screenshot-after", "12", "--agree", "2"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    shots = list(tmp_path.glob("cardlens-demo-*.png"))
    assert len(shots) == 1
    import cv2

    img = cv2.imread(str(shots[0]))
    assert img is not None and img.shape[:2] == (480, 640) and img.std() > 10


def test_image_folder_source(tmp_path, capsys):
    import cv2

    from cardlens.demo.synthetic_video import synthetic_frames

    folder = tmp_path / "frames"
    folder.mkdir()
    for i, f in zip(range(3), synthetic_frames(1), strict=False):
        cv2.imwrite(str(folder / f"{i:03d}.png"), f)
    assert main(["demo", str(folder), "--headless", "--out", str(tmp_path / "o"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["frames"] == 3
