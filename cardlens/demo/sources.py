"""Where frames come from: a webcam index, a video file, an image folder, or a recording."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from cardlens.errors import CardlensError
from cardlens.imageio import IMAGE_SUFFIXES, read_image


class DemoError(CardlensError):
    """A source, display or recording problem the user can act on."""


@dataclass
class FrameSource:
    name: str
    fps: float
    live: bool
    frames: Iterator[tuple[np.ndarray, float]]   # (BGR frame, seconds since the start)
    recording: Path | None = None

    def __iter__(self):
        return self.frames


def _video_frames(cap, fps: float):
    i = 0
    try:
        while True:
            ok, frame = cap.read()
            if not ok or frame is None:
                break
            yield frame, i / fps
            i += 1
    finally:
        cap.release()


def _camera_frames(cap):
    import time

    t0 = time.monotonic()
    try:
        while True:
            ok, frame = cap.read()
            if not ok or frame is None:
                raise DemoError("the camera stopped delivering frames")
            yield frame, time.monotonic() - t0
    finally:
        cap.release()


def _open_video(path: Path, name: str) -> FrameSource:
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise DemoError(f"cannot open video {path}: not a readable video file")
    fps = cap.get(cv2.CAP_PROP_FPS) or 15.0
    first_ok, first = cap.read()
    if not first_ok or first is None:
        cap.release()
        raise DemoError(f"video {path} has no frames")
    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
    return FrameSource(name, float(fps if 1 <= fps <= 240 else 15.0), False, _video_frames(cap, fps or 15.0))


def open_source(spec: str | int) -> FrameSource:
    """``0`` (webcam index), ``video.mp4``, ``folder/`` of images, or a ``--record`` folder."""
    if isinstance(spec, int) or (isinstance(spec, str) and spec.isdigit()):
        index = int(spec)
        cap = cv2.VideoCapture(index)
        if not cap.isOpened():
            raise DemoError(f"camera {index} could not be opened (no camera, or it is in use); "
                            "pass a video file or an image folder instead")
        return FrameSource(f"camera {index}", cap.get(cv2.CAP_PROP_FPS) or 30.0, True, _camera_frames(cap))
    path = Path(spec)
    if not path.exists():
        raise DemoError(f"source not found: {path}")
    if path.is_dir() and (path / "session.json").is_file():
        meta = json.loads((path / "session.json").read_text())
        src = _open_video(path / meta.get("video", "frames.avi"), f"recording {path}")
        src.recording = path
        return src
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DemoError(f"{path} holds no images")

        def frames():
            for i, f in enumerate(files):
                yield read_image(f), i / 10.0

        return FrameSource(f"images {path}", 10.0, False, frames())
    return _open_video(path, f"video {path}")
