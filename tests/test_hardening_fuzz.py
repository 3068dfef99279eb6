"""Bad input, fuzzed (issue #9): image decoding, in-memory images, ``CardScanner.scan``, ``ScanSession``,
the card-rule parsers and the CLI. Every case must end in a typed :class:`CardlensError` or a normal
result ("no card" included): no other exception, no hang (each case is time-bounded), and the CLI leaves
no partial output behind.

Each target runs twice: a fast variant in the default suite (a few hundred cases in all, derandomized so
the suite is reproducible) and a long one marked ``stress`` (over 10 000 cases in all, random each run)
that writes its figures to ``out/stress/fuzz-*.json`` for ``make stress``.
"""

from __future__ import annotations

import json
import random
import string
from collections import Counter

import numpy as np
import pytest
from hardening_support import CaseTimeout, find_pans, record_figures, time_bound
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cardlens.errors import CardlensError, ImageError

VARIANTS = [pytest.param("fast", id="fast"), pytest.param("stress", id="stress", marks=pytest.mark.stress)]

# cases per target: (fast, stress). Stress totals 10 400.
CASES = {
    "decode": (60, 2500),
    "arrays": (60, 2500),
    "scan": (30, 1200),
    "session": (40, 1500),
    "rules": (80, 2400),
    "cli-scan": (10, 250),
    "cli-demo": (4, 50),
}


def fuzz(target: str, variant: str, strategy, check, bound_s: float = 30.0) -> Counter:
    """Run ``check`` on ``strategy``'s cases. ``check`` returns an outcome label or raises; a
    :class:`CardlensError` is a typed refusal (its message must be one non-empty line), anything else
    is a crash and fails the test with hypothesis' shrunk example."""
    n = CASES[target][0 if variant == "fast" else 1]
    tally: Counter = Counter()
    crashes: list[str] = []

    @settings(max_examples=n, deadline=None, database=None, derandomize=variant == "fast",
              suppress_health_check=list(HealthCheck), print_blob=True)
    @given(strategy)
    def run(case):
        tally["cases"] += 1
        try:
            with time_bound(bound_s, f"{target} case"):
                outcome = check(case)
        except CardlensError as exc:
            message = str(exc)
            assert message.strip() and "\n" not in message.strip(), f"unclear error: {message!r}"
            tally[f"typed:{type(exc).__name__}"] += 1
        except BaseException as exc:  # a crash or a hang: count it, then let hypothesis shrink it
            crashes.append(f"{type(exc).__name__}: {str(exc)[:300]}")
            tally["crashes"] += 1
            if isinstance(exc, CaseTimeout):
                tally["hangs"] += 1
            raise
        else:
            tally[outcome] += 1

    try:
        run()
    finally:
        if variant == "stress":
            record_figures(f"fuzz-{target}", {"cases": tally["cases"], "crashes": tally["crashes"],
                                              "hangs": tally["hangs"], "outcomes": dict(tally),
                                              "first_crashes": crashes[:5]})
    assert tally["cases"] >= n, f"only {tally['cases']} of {n} cases ran"
    return tally


# ---------------------------------------------------------------------------------------------- inputs

ENCODINGS = (".png", ".jpg", ".bmp", ".webp", ".tiff", ".ppm", ".pgm")


def _encode(img: np.ndarray, ext: str) -> bytes:
    import cv2

    if ext == ".pgm" and img.ndim == 3:
        img = img[..., 0]
    if ext == ".ppm" and img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    ok, buf = cv2.imencode(ext, img)
    assert ok
    return buf.tobytes()


def _png_header(w: int, h: int, depth: int = 8, color: int = 2, body: bytes = b"",
                compressed: bytes | None = None) -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(body) if compressed is None else compressed) + chunk(b"IEND", b""))


@st.composite
def encoded_images(draw) -> bytes:
    """Random bytes; valid, truncated, bit-flipped or spliced encodings; forged headers."""
    kind = draw(st.sampled_from(["random", "valid", "truncated", "flipped", "spliced", "forged", "prefix"]))
    if kind == "random":
        return draw(st.binary(min_size=0, max_size=4096))
    if kind == "forged":  # a header that claims anything from 0 px to 4 Gpx over almost no data
        w = draw(st.one_of(st.integers(0, 64), st.integers(0, 2**32 - 1)))
        h = draw(st.one_of(st.integers(0, 64), st.integers(0, 2**32 - 1)))
        return _png_header(w, h, draw(st.sampled_from([1, 8, 16])), draw(st.sampled_from([0, 2, 3, 4, 6])),
                           draw(st.binary(max_size=256)))
    if kind == "prefix":  # a real magic number followed by junk
        magic = draw(st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"BM", b"RIFF\x00\x00\x00\x00WEBP",
                                      b"II*\x00", b"MM\x00*", b"P6\n", b"GIF89a"]))
        return magic + draw(st.binary(max_size=512))
    h, w = draw(st.integers(1, 96)), draw(st.integers(1, 96))
    channels = draw(st.sampled_from([1, 3, 4]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    img = rng.integers(0, 256, (h, w) if channels == 1 else (h, w, channels), dtype=np.uint8)
    ext = draw(st.sampled_from(ENCODINGS if channels != 4 else (".png", ".webp", ".tiff")))
    data = _encode(img, ext)
    if kind == "valid":
        return data
    if kind == "truncated":
        return data[: draw(st.integers(0, max(0, len(data) - 1)))]
    if kind == "flipped":
        buf = bytearray(data)
        for _ in range(draw(st.integers(1, 16))):
            i = draw(st.integers(0, len(buf) - 1))
            buf[i] = draw(st.integers(0, 255))
        return bytes(buf)
    cut = draw(st.integers(0, len(data)))  # spliced: a valid start, random rest
    return data[:cut] + draw(st.binary(max_size=512))


DTYPES = ["uint8", "uint16", "int8", "int16", "int32", "int64", "uint32", "uint64", "float16", "float32",
          "float64", "bool", "complex64", "object", "U1", "S2", "datetime64[s]"]
SIDES = [0, 1, 2, 15, 16, 17, 31, 64, 97, 160]


@st.composite
def arrays(draw, max_side: int = 160) -> object:
    """Arrays of every dtype and rank (including empty, 1×1, NaN/inf floats, non-contiguous views),
    PIL images of every mode, virtual huge arrays, and things that are not images at all."""
    kind = draw(st.sampled_from(["array"] * 6 + ["pil", "huge", "other"]))
    if kind == "other":
        return draw(st.sampled_from([None, 0, 1.5, "", [], [[1, 2], [3, 4]], {"a": 1}, object(), b"", bytearray(),
                                     memoryview(b"xyz"), (1, 2, 3), np.float64(3.0), np.array(5)]))
    if kind == "huge":  # a 20 000 × 20 000 or taller image that occupies no memory (zero strides)
        shape = draw(st.sampled_from([(20000, 20000), (20000, 20000, 3), (16, 10_000_000), (200_000, 600, 4)]))
        return np.lib.stride_tricks.as_strided(np.zeros(1, np.uint8), shape=shape, strides=(0,) * len(shape))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    with np.errstate(all="ignore"):
        return _array(draw, rng, kind, max_side)


def _array(draw, rng, kind, max_side):
    if kind == "pil":
        from PIL import Image

        mode = draw(st.sampled_from(["1", "L", "P", "RGB", "RGBA", "I", "F", "I;16", "CMYK", "YCbCr", "LA",
                                     "HSV", "La", "RGBa", "LAB", "PA"]))
        size = (draw(st.sampled_from(SIDES[1:])), draw(st.sampled_from(SIDES[1:])))
        return Image.new(mode, size)
    ndim = draw(st.sampled_from([0, 1, 2, 2, 3, 3, 3, 4]))
    shape = tuple(draw(st.sampled_from([s for s in SIDES if s <= max_side])) for _ in range(min(ndim, 2)))
    if ndim >= 3:
        shape += (draw(st.sampled_from([0, 1, 2, 3, 3, 4, 5])),)
    if ndim == 4:
        shape += (draw(st.integers(1, 3)),)
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    size = int(np.prod(shape)) if shape else 1
    if dtype.kind == "f":
        scale = draw(st.sampled_from([1.0, 255.0, 1e6, 1e30]))
        arr = (rng.standard_normal(size) * scale).astype(dtype, copy=False).reshape(shape)
        special = draw(st.sampled_from([None, np.nan, np.inf, -np.inf]))
        if special is not None and size:
            arr.flat[rng.integers(0, size)] = special
    elif dtype.kind in "iub":
        info = np.iinfo(dtype) if dtype.kind != "b" else None
        lo, hi = (0, 2) if info is None else (max(info.min, -(2**62)), min(info.max, 2**62))
        arr = rng.integers(lo, hi, size=size, endpoint=True).astype(dtype).reshape(shape)
    elif dtype.kind == "c":
        arr = (rng.standard_normal(size) + 1j).astype(dtype).reshape(shape)
    else:
        arr = np.zeros(shape, dtype)
    view = draw(st.sampled_from(["plain", "plain", "reversed", "strided", "transposed", "readonly"]))
    if view == "reversed" and arr.ndim >= 2:
        arr = arr[::-1, ::-1]
    elif view == "strided" and arr.ndim >= 2:
        arr = arr[::2, ::3]
    elif view == "transposed" and arr.ndim >= 2:
        arr = np.swapaxes(arr, 0, 1)
    elif view == "readonly":
        arr.flags.writeable = False
    return arr


# ---------------------------------------------------------------------------------------- decoding


@pytest.mark.parametrize("variant", VARIANTS)
def test_fuzz_image_decoding(variant):
    from cardlens.imageio import MIN_SIDE, decode_image

    def check(data):
        img = decode_image(data)
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3 and img.flags.c_contiguous
        assert min(img.shape[:2]) >= MIN_SIDE
        return "decoded"

    tally = fuzz("decode", variant, encoded_images(), check, bound_s=20)
    assert tally["decoded"] and tally["typed:ImageError"]  # both paths were exercised


def test_decompression_bomb_is_refused_before_decoding():
    """A 12 000 × 12 000 PNG of zeros is under 2 MB on disk and 432 MB decoded: refused from its header."""
    import resource
    import time
    import zlib

    from cardlens.imageio import decode_image

    row = b"\x00" + b"\x00" * 3 * 12000  # filter byte + one RGB row
    z = zlib.compressobj(1)
    png = _png_header(12000, 12000, compressed=b"".join(z.compress(row * 1000) for _ in range(12)) + z.flush())
    assert len(png) < 2_000_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    with pytest.raises(ImageError, match="larger than 100 MP"):
        decode_image(png)
    assert time.perf_counter() - t0 < 1.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # KB: nothing was inflated


def test_header_over_opencv_limit_is_a_typed_error():
    from cardlens.imageio import decode_image

    with pytest.raises(ImageError):  # 60 000² px: OpenCV itself raises cv2.error past 2**30 px
        decode_image(_png_header(60000, 60000))


# ------------------------------------------------------------------------------------------ arrays


@pytest.mark.parametrize("variant", VARIANTS)
def test_fuzz_in_memory_images(variant):
    from cardlens.imageio import load_image

    def check(case):
        image, color = case
        out = load_image(image, color=color)
        assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3 and out.flags.c_contiguous
        if isinstance(image, np.ndarray):
            assert out.shape[:2] == image.shape[:2]
        return "converted"

    colors = st.sampled_from(["bgr"] * 4 + ["rgb"] * 3 + ["RGB", "hsv"])
    tally = fuzz("arrays", variant, st.tuples(arrays(), colors), check, bound_s=20)
    assert tally["converted"] and tally["typed:ImageError"]


# --------------------------------------------------------------------------------------------- scan


@pytest.fixture(scope="module")
def scanners():
    from cardlens.detector.contour import locate_card
    from cardlens.scanner import CardScanner

    return {"learned": CardScanner(), "contour": CardScanner(locator=locate_card)}


def _check_result(result, image_shape=None) -> str:
    from cardlens.results import ScanResult

    assert isinstance(result, ScanResult)
    json.loads(result.to_json())
    repr(result)
    if not result.card_found:
        assert result.number is None and result.corners is None
        return "no card"
    assert result.corners is not None and len(result.corners) == 4
    assert all(np.isfinite(c).all() for c in result.corners)
    if result.number is not None:
        assert result.number.reveal() not in repr(result) + result.to_json() or len(result.number) < 12
        return "number"
    return "card"


@st.composite
def scenes(draw) -> np.ndarray:
    """Valid images that reach the locator and the reader: random quads, lines and text-like marks on
    noise, or the example photo cropped, scaled, flipped, darkened, blown out or channel-swapped."""
    import cv2

    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if draw(st.booleans()):
        from hardening_support import EXAMPLE_IMAGE

        img = _example_bgr(str(EXAMPLE_IMAGE))
        h, w = img.shape[:2]
        y0, x0 = draw(st.integers(0, h - 16)), draw(st.integers(0, w - 16))
        y1, x1 = draw(st.integers(y0 + 16, h)), draw(st.integers(x0 + 16, w))
        img = img[y0:y1, x0:x1]
        scale = draw(st.sampled_from([0.05, 0.2, 0.5, 1.0, 1.5]))
        size = (max(16, int(img.shape[1] * scale)), max(16, int(img.shape[0] * scale)))
        img = cv2.resize(img, size)
        op = draw(st.sampled_from(["none", "flip", "rot", "dark", "bright", "swap", "gray", "noise"]))
        if op == "flip":
            img = img[::-1]
        elif op == "rot":
            img = np.ascontiguousarray(np.rot90(img, draw(st.integers(1, 3))))
        elif op == "dark":
            img = img // 16
        elif op == "bright":
            img = np.clip(img.astype(np.int32) * 8, 0, 255).astype(np.uint8)
        elif op == "swap":
            img = img[..., ::-1]
        elif op == "gray":
            img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        elif op == "noise":
            img = np.clip(img + rng.normal(0, 60, img.shape), 0, 255).astype(np.uint8)
        return img
    h, w = draw(st.integers(16, 480)), draw(st.integers(16, 640))
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8) if draw(st.booleans()) else np.full((h, w, 3), rng.integers(0, 256, 3), np.uint8)
    for _ in range(draw(st.integers(0, 6))):
        pts = rng.uniform([-0.2 * w, -0.2 * h], [1.2 * w, 1.2 * h], (4, 2)).astype(np.int32)
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        if draw(st.booleans()):
            cv2.fillConvexPoly(img, cv2.convexHull(pts), color)
        else:
            cv2.putText(img, "".join(rng.choice(list("0123456789 /ABC"), 12)), tuple(int(v) for v in pts[0]),
                        cv2.FONT_HERSHEY_SIMPLEX, float(rng.uniform(0.3, 2.0)), color, int(rng.integers(1, 4)))
    return img


_EXAMPLE_CACHE: dict = {}


def _example_bgr(path: str) -> np.ndarray:
    if path not in _EXAMPLE_CACHE:
        from cardlens.imageio import read_image

        _EXAMPLE_CACHE[path] = read_image(path)
    return _EXAMPLE_CACHE[path]


@pytest.mark.parametrize("variant", VARIANTS)
def test_fuzz_scanner(variant, scanners):
    images = st.one_of(scenes(), scenes(), arrays(max_side=160), encoded_images())
    case = st.tuples(images, st.sampled_from(["learned", "learned", "contour"]), st.booleans(),
                     st.sampled_from(["bgr", "rgb"]))

    def check(c):
        image, which, read, color = c
        return _check_result(scanners[which].scan(image, color=color, read=read))

    tally = fuzz("scan", variant, case, check, bound_s=30)
    assert tally["no card"] and tally["typed:ImageError"] and tally["card"] + tally["number"]


def test_scanner_on_extreme_shapes_and_a_large_frame(scanners):
    """Thin strips, a square at the minimum side, and a 12 MP frame (bounded in time)."""
    rng = np.random.default_rng(5)
    cases = [np.zeros((16, 4000, 3), np.uint8), rng.integers(0, 255, (3000, 16, 3), dtype=np.uint8),
             np.full((16, 16, 3), 255, np.uint8), rng.integers(0, 255, (3000, 4000, 3), dtype=np.uint8)]
    for img in cases:
        for scanner in scanners.values():
            with time_bound(60, f"scan {img.shape}"):
                _check_result(scanner.scan(img))


# ------------------------------------------------------------------------------------------ session

PANS = ("4111111111111111", "5555555555554444", "378282246310005", "6011111111111117")


@st.composite
def session_scripts(draw):
    from cardlens.session import SessionConfig

    cfg = SessionConfig(agree=draw(st.integers(1, 5)), timeout_s=draw(st.sampled_from([0.05, 0.5, 3.0, 1e9])),
                        lost_frames=draw(st.integers(1, 6)), read_every_when_done=draw(st.integers(1, 5)))
    step = st.one_of(
        st.tuples(st.just("frame"), st.sampled_from((None,) + PANS), st.booleans(), st.booleans(),
                  st.floats(0.0, 2.0)),
        st.tuples(st.just("nocard"), st.floats(0.0, 2.0)),
        st.tuples(st.just("bad"), st.floats(0.0, 2.0)),
        st.tuples(st.just("reset"),),
        st.tuples(st.just("back"), st.floats(0.0, 5.0)),  # the clock goes backwards
    )
    return cfg, draw(st.lists(step, max_size=80))


class ScriptedScanner:
    """Turns scripted frames into results; a "bad" frame raises the ImageError a real scanner would."""

    def __init__(self):
        self.reads = []

    def scan(self, frame, color="bgr", read=True):
        from cardlens.cardrules.expiry import Expiry
        from cardlens.results import CardName, CardNumber, ScanResult

        self.reads.append(read)
        kind = frame[0]
        if kind == "bad":
            raise ImageError("frame: expected a numpy array, a PIL image or a file path, got tuple")
        if kind == "nocard":
            return ScanResult(False, notes=("no card found",))
        _, pan, accepted, with_fields, _ = frame
        if pan is None or not read:
            return ScanResult(True, corners=((0, 0), (1, 0), (1, 1), (0, 1)))
        number = CardNumber.from_digits(pan, 0.99)
        return ScanResult(True, number, Expiry(8, 2030, "08/30") if with_fields else None,
                          CardName("ADA LOVELACE", 0.9) if with_fields else None,
                          corners=((0, 0), (1, 0), (1, 1), (0, 1)), number_accepted=accepted and number.valid)


@pytest.mark.parametrize("variant", VARIANTS)
def test_fuzz_scan_session(variant):
    """Random frame scripts: statuses stay consistent, a final answer always had ``agree`` accepted reads
    since the last reset, a card gone for ``lost_frames`` frames is never reported, nothing unmasked."""
    from cardlens.session import ScanSession

    def check(script):
        cfg, steps = script
        scanner = ScriptedScanner()
        session = ScanSession(scanner, cfg)
        now, missing, votes = 0.0, 0, Counter()
        for step in steps:
            if step[0] == "reset":
                session.reset()
                votes.clear()
                missing = 0
                continue
            now = now - step[1] if step[0] == "back" else now + step[-1]
            if step[0] == "back":
                continue
            try:
                up = session.update(step, now=now)
            except ImageError:
                assert step[0] == "bad"
                continue
            assert up.status in ("searching", "reading", "done", "timed_out")
            assert (up.status == "done") == (up.final is not None) and 0.0 <= up.progress <= 1.0
            if up.reset:
                votes.clear()
            missing = missing + 1 if step[0] == "nocard" else 0
            if step[0] == "frame" and up.frame.number_accepted:
                votes[up.frame.number.reveal()] += 1
            if up.final is not None:
                assert votes[up.final.number.reveal()] >= cfg.agree, "final answer without enough accepted reads"
            if missing >= cfg.lost_frames:
                assert up.final is None and up.leader is None, "reported a card that left the frame"
            text = repr(up) + json.dumps(up.to_dict())
            assert not find_pans(text, PANS), text
        return "script"

    fuzz("session", variant, session_scripts(), check, bound_s=20)


# ---------------------------------------------------------------------------------------- card rules

_text = st.one_of(
    st.text(max_size=200),
    st.text(alphabet=string.digits + " /-.", max_size=60),
    st.text(alphabet=string.ascii_uppercase + string.digits + " /-.'", max_size=80),
    st.lists(st.sampled_from(["VALID", "THRU", "EXP", "MEMBER SINCE", "FROM", "12/30", "1/2", "13/99", "00/00",
                              "08/2031", "4111", "1111", " ", "\n", "٤", "²", "JOSÉ", "O'NEIL", "-", "GOOD THRU"]),
             max_size=60).map("".join),
)


@st.composite
def text_boxes(draw):
    from cardlens.ocr.fields import TextBox

    boxes = []
    for _ in range(draw(st.integers(0, 8))):
        x, y = draw(st.floats(-1e4, 1e4, allow_nan=False)), draw(st.floats(-1e4, 1e4, allow_nan=False))
        w, h = draw(st.floats(0, 900, allow_nan=False)), draw(st.floats(0, 200, allow_nan=False))
        quad = ((x, y), (x + w, y), (x + w, y + h), (x, y + h))
        boxes.append(TextBox(quad, draw(_text), draw(st.floats(0, 1))))
    return boxes, draw(st.one_of(st.none(), st.tuples(st.integers(1, 2000), st.integers(1, 2000))))


@pytest.mark.parametrize("variant", VARIANTS)
def test_fuzz_card_rule_parsers(variant):
    """The parsers take any text: results are typed and sane; only documented ValueErrors for non-digits."""
    from cardlens.cardrules import (
        PanDigits,
        find_dates,
        group_digits,
        identify_brand,
        luhn_check_digit,
        luhn_valid,
        mask_pan,
        normalize_name,
        parse_expiry,
        redact_text,
    )
    from cardlens.ocr.fields import assemble_fields
    from cardlens.results import CardNumber

    def check(case):
        which, payload = case
        if which == "boxes":
            boxes, size = payload
            fields = assemble_fields(boxes, size)
            if fields.number is not None:
                assert fields.number.digits.reveal().isascii() and fields.number.digits.reveal().isdigit()
            return "fields"
        text = payload
        e = parse_expiry(text)
        assert e is None or (1 <= e.month <= 12 and e.year >= 1970)
        for d in find_dates(text):
            assert d.role in ("expiry", "distractor", "unlabelled")
        name = normalize_name(text)
        assert name is None or (len(name) <= 26 and name == name.strip())
        red = redact_text(text)
        assert redact_text(red) == red
        digits = "".join(c for c in red if c in string.digits)
        long_runs = [r for r in "".join(c if c in string.digits else " " for c in red).split() if len(r) >= 12]
        assert not long_runs, (red, digits)
        match = identify_brand(text)
        assert match.brand is None or match.known
        masked = mask_pan(text)
        assert len(masked) == len(text)
        is_digits = bool(text) and text.isascii() and text.isdigit()
        assert luhn_valid(text) in (True, False)
        if is_digits:
            assert luhn_valid(text + luhn_check_digit(text))
            number = CardNumber.from_digits(text)
            assert str(number) == number.masked == PanDigits(text).masked
            if len(text) >= 12:
                assert text not in repr(number) + str(number) + json.dumps(number.to_dict())
            group_digits(text)
            return "digits"
        with pytest.raises(ValueError):  # documented: digits only
            CardNumber.from_digits(text)
        if text:  # the empty payload's check digit is 0
            with pytest.raises(ValueError):
                luhn_check_digit(text)
        return "text"

    cases = st.one_of(st.tuples(st.just("text"), _text),
                      st.tuples(st.just("text"), st.text(alphabet=string.digits, min_size=1, max_size=40)),
                      st.tuples(st.just("boxes"), text_boxes()))
    tally = fuzz("rules", variant, cases, check, bound_s=10)
    assert tally["digits"] and tally["text"] and tally["fields"]


def test_long_texts_parse_in_linear_time():
    import time

    from cardlens.cardrules import parse_expiry, redact_text

    t0 = time.perf_counter()
    assert str(parse_expiry("EXP 12/30 " * 20000)) == "12/30"  # was quadratic: minutes for this
    redact_text(("4111 1111 1111 1111 " * 5000) + "1" * 100_000)
    assert time.perf_counter() - t0 < 5.0


# ---------------------------------------------------------------------------------------------- CLI


@st.composite
def cli_scan_cases(draw):
    files = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["bytes", "bytes", "empty", "missing", "dir", "card", "plain"]))
        suffix = draw(st.sampled_from([".jpg", ".png", ".bmp", ".webp", ".txt", "", ".JPG", ".tiff"]))
        files.append((kind, suffix, draw(encoded_images()) if kind == "bytes" else b""))
    flags = draw(st.lists(st.sampled_from(["--json", "--no-ocr", "--reveal", "--detector=contour", "-v",
                                           "--bogus-flag", "--engine=nope", "--bundle=/nonexistent"]),
                          unique=True, max_size=3))
    return files, flags


@pytest.mark.parametrize("variant", VARIANTS)
def test_fuzz_cli_scan(variant, tmp_path_factory, capsys):
    """``cardlens scan`` on random, empty, missing, folder and real files with random flags: exit 0/1/2,
    errors are single ``cardlens: error:`` lines, ``--json`` output is JSON, nothing is written."""
    from hardening_support import EXAMPLE_IMAGE, example_pan

    from cardlens.cli import main

    example_bytes, pan = EXAMPLE_IMAGE.read_bytes(), example_pan()
    plain = _encode(np.full((120, 200, 3), 90, np.uint8), ".png")

    def check(case):
        files, flags = case
        root = tmp_path_factory.mktemp("cli")
        paths = []
        for i, (kind, suffix, data) in enumerate(files):
            p = root / f"f{i}{suffix}"
            if kind == "dir":
                p.mkdir()
                (p / "junk.png").write_bytes(b"\x89PNG junk")
            elif kind == "card":
                p.write_bytes(example_bytes)
            elif kind == "plain":
                p.write_bytes(plain)
            elif kind != "missing":
                p.write_bytes(data)
            paths.append(str(p))
        before = sorted(q.name for q in root.rglob("*"))
        capsys.readouterr()
        code = main(["scan", *flags, *paths])
        out, err = capsys.readouterr()
        assert code in (0, 1, 2), code
        assert "Traceback" not in err and "internal error" not in err, err
        for line in err.splitlines():  # one-line errors, argparse usage, log lines
            assert line.startswith(("cardlens", "usage:", " ", "WARNING", "INFO", "DEBUG")), line
        if "--json" in flags and code != 2:
            for line in out.splitlines():
                json.loads(line)
        assert sorted(q.name for q in root.rglob("*")) == before, "scan wrote files"
        if "--reveal" not in flags:
            assert not find_pans(out + err, [pan])
        return f"exit {code}"

    fuzz("cli-scan", variant, cli_scan_cases(), check, bound_s=60)


@st.composite
def demo_sources(draw):
    return draw(st.sampled_from(["empty-file", "zero-frame-mp4", "zero-frame-avi", "random-mp4", "random-avi",
                                 "truncated-mp4", "empty-folder", "folder-with-bad-image", "junk-recording",
                                 "text-file", "good-folder"])), draw(st.binary(min_size=1, max_size=4096)), draw(st.integers(1, 5))


@pytest.mark.parametrize("variant", VARIANTS)
def test_fuzz_cli_demo_bad_videos(variant, tmp_path_factory, capsys):
    """``cardlens demo --headless`` on zero-frame, random, truncated and folder sources: a clear error
    and no output left behind, or a complete run (summary, log and video all present)."""
    import cv2
    from hardening_support import two_card_video

    from cardlens.cli import main
    from cardlens.demo.synthetic_video import synthetic_frames

    video, _ = two_card_video()
    frames = [f for _, f in zip(range(3), synthetic_frames(2), strict=False)]

    def check(case):
        kind, junk, n_good = case
        root = tmp_path_factory.mktemp("demo")
        src = root / "src"
        if kind in ("empty-file", "text-file"):
            src = root / "src.mp4"
            src.write_bytes(b"" if kind == "empty-file" else b"hello, not a video\n" * 10)
        elif kind.startswith("zero-frame"):
            ext = ".mp4" if kind.endswith("mp4") else ".avi"
            src = root / f"src{ext}"
            w = cv2.VideoWriter(str(src), cv2.VideoWriter_fourcc(*("mp4v" if ext == ".mp4" else "MJPG")), 10, (64, 48))
            w.release()
        elif kind.startswith("random"):
            src = root / f"src.{kind.split('-')[1]}"
            src.write_bytes(junk)
        elif kind == "truncated-mp4":
            data = video.read_bytes()
            src = root / "src.mp4"
            src.write_bytes(data[: max(1, len(data) * n_good // 7)])
        elif kind == "empty-folder":
            src.mkdir()
        elif kind == "folder-with-bad-image":
            src.mkdir()
            for i in range(n_good):
                cv2.imwrite(str(src / f"{i:03d}.png"), frames[i % len(frames)])
            (src / f"{n_good:03d}.png").write_bytes(junk)
        elif kind == "good-folder":
            src.mkdir()
            for i in range(n_good):
                cv2.imwrite(str(src / f"{i:03d}.png"), frames[i % len(frames)])
        elif kind == "junk-recording":
            src.mkdir()
            (src / "session.json").write_text(json.dumps({"video": "frames.avi"}))
            (src / "frames.avi").write_bytes(junk)
        out = root / "out"
        capsys.readouterr()
        code = main(["demo", str(src), "--headless", "--out", str(out), "--json", "--max-frames", "8"])
        _, err = capsys.readouterr()
        assert "Traceback" not in err and "internal error" not in err, err
        if code == 0:
            names = {p.name for p in out.iterdir()}
            assert {"summary.json", "log.jsonl", "annotated.mp4"} <= names, names
            assert not [n for n in names if "partial" in n], names
            return "completed"
        assert code == 1 and err.startswith("cardlens: error:"), (code, err)
        left = [p for p in out.rglob("*") if p.is_file()] if out.exists() else []
        assert not left, f"partial output left behind: {left}"
        return "refused"

    fuzz("cli-demo", variant, demo_sources(), check, bound_s=120)


def test_zero_frame_videos_are_refused(tmp_path, capsys):
    import cv2

    from cardlens.cli import main

    for ext, fourcc in ((".mp4", "mp4v"), (".avi", "MJPG"), (".avi", "FFV1")):
        path = tmp_path / f"zero{fourcc}{ext}"
        cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10, (64, 48)).release()
        assert main(["demo", str(path), "--headless", "--out", str(tmp_path / "o")]) == 1
        err = capsys.readouterr().err
        assert "no frames" in err or "cannot open video" in err, err
        assert not (tmp_path / "o").exists()


def test_scan_never_crashes_on_random_path_names(tmp_path, capsys):
    from cardlens.cli import main

    rng = random.Random(3)
    names = ["x" * 5000, "a\x00b", "/dev/null", "/proc/self/status", str(tmp_path), "", "~nonexistent/user.png"]
    names += ["".join(rng.choice(string.printable) for _ in range(20)) for _ in range(5)]
    for name in names:
        code = main(["scan", name])
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("cardlens: error:") and "Traceback" not in err, (name, code, err)


def test_demo_failing_midway_leaves_no_partial_output(tmp_path, capsys):
    """Three good frames then a corrupt one: the run fails with the file named; the annotated video, log
    and recording it had started are removed, folders it made are removed, a user's file stays."""
    import cv2

    from cardlens.cli import main
    from cardlens.demo.synthetic_video import synthetic_frames

    src = tmp_path / "frames"
    src.mkdir()
    for i, f in zip(range(3), synthetic_frames(1), strict=False):
        cv2.imwrite(str(src / f"{i:03d}.png"), f)
    (src / "003.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    out, rec = tmp_path / "existing-out", tmp_path / "new" / "rec"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["demo", str(src), "--headless", "--out", str(out), "--record", str(rec)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("cardlens: error:") and "003.png" in err and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    assert not (tmp_path / "new").exists()
    # the same folder without the bad frame completes, with final names only
    (src / "003.png").unlink()
    assert main(["demo", str(src), "--headless", "--out", str(out), "--record", str(rec)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["annotated.mp4", "keep.txt", "log.jsonl", "summary.json"]
    assert sorted(p.name for p in rec.iterdir()) == ["frames.avi", "results.jsonl", "session.json"]


def test_eval_with_a_corrupt_image_fails_typed_and_writes_no_report(tmp_path, capsys):
    import shutil

    from hardening_support import EXAMPLE_IMAGE

    from cardlens.cli import main

    data = tmp_path / "set"
    (data / "images").mkdir(parents=True)
    shutil.copyfile(EXAMPLE_IMAGE, data / "images" / "a.jpg")
    (data / "images" / "b.jpg").write_bytes(EXAMPLE_IMAGE.read_bytes()[:5000])  # truncated JPEG
    (data / "labels.jsonl").write_text("".join(json.dumps({"file": f"images/{n}", "number": None}) + "\n"
                                               for n in ("a.jpg", "b.jpg")))
    assert main(["eval", "scan", "--data", str(data), "--no-progress", "--out", str(tmp_path / "report")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("cardlens: error:") and "b.jpg" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set"]
