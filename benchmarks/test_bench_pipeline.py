"""Whole-pipeline latency per frame and per stage (figures, not pass/fail tests).

    make bench      # or: .venv/bin/python -m pytest benchmarks/test_bench_pipeline.py
"""

import cv2
import pytest

from cardlens.detector.model import CardDetector
from cardlens.ocr.card_reader import CardReader, crop_line
from cardlens.ocr.field_locator import FieldLocator
from cardlens.ocr.recognizer import TextRecognizer
from cardlens.scanner import CardScanner

FRAME = "examples/card_photo.jpg"


@pytest.fixture(scope="module")
def frame():
    return cv2.resize(cv2.imread(FRAME), (640, 480), interpolation=cv2.INTER_AREA)  # a camera-sized frame


def _scanner(runtime: str, threads: int) -> CardScanner:
    reader = CardReader(FieldLocator.load(runtime=runtime, threads=threads),
                        TextRecognizer.load(runtime=runtime, threads=threads))
    return CardScanner(locator=CardDetector.load(runtime=runtime, threads=threads), reader=reader)


@pytest.mark.parametrize("runtime", ["onnx", "torch"])
@pytest.mark.parametrize("threads", [1, 2])
def test_pipeline_per_frame(benchmark, frame, runtime, threads):
    scanner = _scanner(runtime, threads)
    first = scanner.scan(frame)
    benchmark.extra_info.update({"runtime": runtime, "threads": threads, "frame": list(frame.shape),
                                 "number_read": first.number is not None})
    result = benchmark.pedantic(scanner.scan, args=(frame,), rounds=30, warmup_rounds=3)
    assert result.card_found


def test_field_locator_per_card(benchmark, frame):
    det, loc = CardDetector.load(threads=1), FieldLocator.load(threads=1)
    card = det.rectify(frame, det(frame))
    benchmark.extra_info.update({"runtime": "onnx", "threads": 1})
    benchmark.pedantic(loc.locate, args=(card,), rounds=50, warmup_rounds=5)


def test_recognizer_per_line(benchmark, frame):
    det, loc, rec = CardDetector.load(threads=1), FieldLocator.load(threads=1), TextRecognizer.load(threads=1)
    card = det.rectify(frame, det(frame))
    box = max((b for b in loc.locate(card) if b.kind == "number"), key=lambda b: b.confidence)
    crop = crop_line(card, box.box)
    benchmark.extra_info.update({"runtime": "onnx", "threads": 1, "crop": list(crop.shape)})
    benchmark.pedantic(rec.probabilities, args=(crop,), rounds=100, warmup_rounds=5)
