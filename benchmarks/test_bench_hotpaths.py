"""Hot paths of the numpy-only post-processing every runtime shares (pytest-benchmark; ``make bench``)."""

import cv2
import numpy as np
import pytest

from cardlens.detector.model import CardDetector
from cardlens.detector.postprocess import decode_pose, nms
from cardlens.detector.preprocess import spec_input
from cardlens.ocr.charset import NUMBER_CHARS, allowed_classes
from cardlens.ocr.ctc import beam_search, greedy
from cardlens.ocr.number_decoding import decide_number


@pytest.fixture(scope="module")
def detector():
    return CardDetector.load(runtime="onnx", threads=1)


@pytest.fixture(scope="module")
def frame():
    return cv2.resize(cv2.imread("examples/card_photo.jpg"), (640, 480), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def number_probs():
    """A peaked (T, C) CTC matrix for a 16-digit line: the shape the recognizer returns."""
    rng = np.random.default_rng(0)
    t, c = 96, 42
    logits = rng.normal(0, 1, (t, c)).astype(np.float32)
    for i in range(16):
        logits[4 + i * 5, 2 + (i % 10)] += 9
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_letterbox_preprocess(benchmark, detector, frame):
    x, _ = benchmark(spec_input, frame, detector.spec)
    assert x.shape[1] == 3


def test_decode_and_nms(benchmark, detector, frame):
    x, lb = spec_input(frame, detector.spec)
    raw = detector._run(x)
    found = benchmark(decode_pose, raw, lb, 4, 0.25, 0.5, 10)
    assert found


def test_nms_200_boxes(benchmark):
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 300, (200, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(10, 80, (200, 2))], 1).astype(np.float32)
    keep = benchmark(nms, boxes, rng.uniform(0, 1, 200).astype(np.float32), 0.5)
    assert 0 < len(keep) <= 200


def test_ctc_beam_search_number_line(benchmark, number_probs):
    beams = benchmark(beam_search, number_probs, allowed_classes(NUMBER_CHARS), beam=16)
    assert beams


def test_ctc_greedy(benchmark, number_probs):
    assert benchmark(greedy, number_probs, allowed_classes(NUMBER_CHARS)).text


def test_number_decision(benchmark, number_probs):
    beams = beam_search(number_probs, allowed_classes(NUMBER_CHARS), beam=16)
    benchmark(decide_number, [beams], 0.9, 0.5)
