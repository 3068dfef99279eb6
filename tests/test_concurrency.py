"""Concurrency and per-call options (issue #9). ``CardScanner`` is documented as stateless between calls
and safe to share across threads: several threads scanning at once must give exactly the serial answers,
and the options of one call (``read``, ``color``, thresholds, ``--reveal``, ``--no-ocr``, the detector
choice, verbosity) must never leak into the next call — or into a call running at the same time.
``ScanSession`` is documented as one per stream: sessions in different threads share a scanner safely.
"""

from __future__ import annotations

import json
import logging
import random
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hardening_support import EXAMPLE_IMAGE, example_pan, find_pans, known_pan_scan_set

from cardlens.cli import main


def answer(result) -> str:
    d = result.to_dict(reveal=True)
    d.pop("timings_ms")
    return json.dumps(d, sort_keys=True)


@pytest.fixture(scope="module")
def scanner():
    from cardlens.scanner import CardScanner

    return CardScanner()


@pytest.fixture(scope="module")
def images():
    import cv2

    from cardlens.imageio import read_image

    folder, _ = known_pan_scan_set()
    ex = read_image(EXAMPLE_IMAGE)
    out = [read_image(p) for p in sorted((folder / "images").iterdir())[:1]]
    out += [ex, ex[::-1].copy(), np.full((480, 640, 3), 90, np.uint8), cv2.cvtColor(ex, cv2.COLOR_BGR2GRAY)]
    return out


def test_threads_give_the_serial_answers(scanner, images):
    serial = [answer(scanner.scan(img)) for img in images]
    assert sum('"valid": true' in a for a in serial) >= 1  # some number is read: a mix-up would show
    jobs = [i for i in range(len(images)) for _ in range(2)]
    random.Random(0).shuffle(jobs)
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda i: (i, answer(scanner.scan(images[i]))), jobs))
    mismatches = [i for i, a in got if a != serial[i]]
    assert not mismatches, f"{len(mismatches)} threaded answers differ from serial ones (images {set(mismatches)})"


def test_concurrent_calls_with_different_options_do_not_mix(scanner):
    """Threads scanning the same image at the same time with read=True, read=False and color="rgb"."""
    from cardlens.imageio import read_image

    img = read_image(EXAMPLE_IMAGE)
    rgb = img[..., ::-1].copy()
    expect = {"read": answer(scanner.scan(img)), "locate": answer(scanner.scan(img, read=False)),
              "rgb": answer(scanner.scan(rgb, color="rgb"))}
    assert expect["rgb"] == expect["read"] and '"number": null' in expect["locate"]
    calls = {"read": lambda: scanner.scan(img), "locate": lambda: scanner.scan(img, read=False),
             "rgb": lambda: scanner.scan(rgb, color="rgb")}
    jobs = [k for k in calls for _ in range(2)]
    random.Random(1).shuffle(jobs)
    with ThreadPoolExecutor(max_workers=3) as pool:
        got = list(pool.map(lambda k: (k, answer(calls[k]())), jobs))
    assert all(a == expect[k] for k, a in got), [k for k, a in got if a != expect[k]]


def test_sessions_in_threads_share_a_scanner(scanner):
    """Two streams, one session each, in two threads: the same outcomes as one after the other."""
    from cardlens.demo.synthetic_video import synthetic_frames
    from cardlens.session import ScanSession, SessionConfig

    streams = [list(synthetic_frames(s, n_first=5, n_gap=0, n_second=0)) for s in (0, 1)]

    def run(frames):
        session = ScanSession(scanner, SessionConfig(agree=2))
        return [(u.status, u.leader, u.final.number.reveal() if u.final else None)
                for u in (session.update(f, now=i / 10) for i, f in enumerate(frames))]

    serial = [run(f) for f in streams]
    assert any(row[2] for row in serial[0])
    with ThreadPoolExecutor(max_workers=2) as pool:
        threaded = list(pool.map(run, streams))
    assert threaded == serial


def test_per_call_options_never_stick(scanner):
    from cardlens.detector.model import CardDetector
    from cardlens.imageio import read_image
    from cardlens.scanner import CardScanner

    img = read_image(EXAMPLE_IMAGE)
    fresh = answer(CardScanner().scan(img))
    scanner.scan(img, read=False)
    assert answer(scanner.scan(img)) == fresh  # read=False did not switch reading off
    scanner.scan(img[..., ::-1].copy(), color="rgb")
    assert answer(scanner.scan(img)) == fresh  # color="rgb" did not stick
    r = scanner.scan(img)
    assert example_pan() in r.to_json(reveal=True) and not find_pans(r.to_json(), [example_pan()])
    det = scanner.locator
    assert isinstance(det, CardDetector)
    default, thresholds = [d.corners.tolist() for d in det.detect(img)], dict(det.spec.thresholds)
    assert det.detect(img, conf=1.01) == []
    det.detect(img, conf=0.999, iou=0.01, max_det=1, refine=False)
    assert [d.corners.tolist() for d in det.detect(img)] == default and det.spec.thresholds == thresholds


def test_cli_options_never_stick(capsys):
    pan = example_pan()
    ex = str(EXAMPLE_IMAGE)
    assert main(["scan", "--reveal", ex]) == 0 and find_pans(capsys.readouterr().out, [pan]) == [pan]
    assert main(["scan", "--json", ex]) == 0
    out = json.loads(capsys.readouterr().out)  # --reveal did not stick
    assert out["number"]["masked"] and out["number"]["valid"] and out["engine"].startswith("card-detector")
    assert main(["-vv", "scan", "--no-ocr", "--detector", "contour", "--json", ex]) in (0, 1)
    out = json.loads(capsys.readouterr().out)
    assert out["number"] is None and out["engine"].startswith("locate_card")
    assert logging.getLogger("cardlens").level == logging.DEBUG
    assert main(["scan", "--json", ex]) == 0  # neither --no-ocr, --detector nor -vv stuck
    out = json.loads(capsys.readouterr().out)
    assert out["number"]["valid"] and out["engine"].startswith("card-detector")
    assert logging.getLogger("cardlens").level == logging.WARNING
