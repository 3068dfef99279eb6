"""The demo loop: frames → :class:`ScanSession` → overlay; window or headless; record and replay.

Recordings hold the raw frames (``frames.avi``, lossless FFV1), one masked JSON line per frame (``results.jsonl``)
and ``session.json``; the full card number is never written — reveal (``m``) only changes what the
window shows while it is on, never a file. Outputs are written under ``.<name>.partial<ext>`` names and
renamed when the run ends (``q``, end of source, ``--max-frames`` or Ctrl-C); a run that fails (an
unreadable frame, a camera that stops) removes them, so no half-written file is left behind.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from cardlens._version import __version__
from cardlens.demo.overlay import draw
from cardlens.demo.sources import DemoError, open_source
from cardlens.session import ScanSession, SessionConfig

WINDOW = "cardlens demo"
COMPARED = ("status", "leader", "final_number", "final_expiry", "final_name")


@dataclass
class DemoSummary:
    frames: int = 0
    seconds: float = 0.0
    fps: float = 0.0
    results: list = field(default_factory=list)      # masked final numbers, in order
    resets: int = 0
    differences: list = field(default_factory=list)  # replay: frames whose outcome changed
    outputs: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"frames": self.frames, "seconds": round(self.seconds, 2), "fps": round(self.fps, 2),
                "results": self.results, "resets": self.resets, "differences": self.differences[:50],
                "differing_frames": len(self.differences), "outputs": self.outputs}


def make_backends(bundle: str | None = None) -> dict:
    """name → factory of a CardScanner. The shipped ONNX models first, torch, then an export bundle."""
    from cardlens.scanner import CardScanner

    def shipped(runtime):
        def build():
            from cardlens.detector.model import CardDetector
            from cardlens.ocr.card_reader import CardReader
            from cardlens.ocr.field_locator import FieldLocator
            from cardlens.ocr.recognizer import TextRecognizer

            reader = CardReader(FieldLocator.load(runtime=runtime), TextRecognizer.load(runtime=runtime))
            return CardScanner(locator=CardDetector.load(runtime=runtime), reader=reader)
        return build

    backends = {"onnx": shipped("onnx"), "torch": shipped("torch")}
    if bundle:
        from cardlens.export.bundle import bundle_scanner

        backends[f"bundle:{Path(bundle).name}"] = lambda: bundle_scanner(Path(bundle))
    return backends


def _row(i: int, t: float, update) -> dict:
    f = update.final
    return {"frame": i, "t": round(t, 3), "status": update.status, "leader": update.leader,
            "votes": update.leader_votes, "reset": update.reset, "card_found": update.frame.card_found,
            "final_number": f.number.masked if f and f.number else None,
            "final_expiry": str(f.expiry) if f and f.expiry else None,
            "final_name": f.name.value if f and f.name else None,
            "ms": {k: round(v, 1) for k, v in update.frame.timings_ms.items()}}


def run_demo(source: str | int = 0, headless: bool = False, out: str | None = None, record: str | None = None,
             replay: str | None = None, backend: str = "onnx", bundle: str | None = None,
             config: SessionConfig | None = None, max_frames: int | None = None, screenshot_after: int | None = None,
             log=print, events: str | None = None) -> DemoSummary:
    if replay:
        if not (Path(replay) / "session.json").is_file():
            raise DemoError(f"{replay} is not a recording (no session.json); make one with --record DIR")
        source = replay
    src = open_source(source)
    if not headless and not os.environ.get("DISPLAY") and os.name != "nt" and not _is_macos():
        raise DemoError("no display: set DISPLAY, or run with --headless --out DIR")
    if headless and not out:
        raise DemoError("--headless needs --out DIR for the annotated video and log")
    backends = make_backends(bundle)
    if backend not in backends:
        raise DemoError(f"unknown backend {backend!r}: choose from {', '.join(backends)}")
    names = list(backends)
    scanner = backends[backend]()
    sink = None
    if events:
        from cardlens.monitoring import JsonlSink

        sink = JsonlSink(events)
    session = ScanSession(scanner, config or SessionConfig(), sink=sink)
    recorded = []
    if replay:
        recorded = [json.loads(line) for line in (Path(replay) / "results.jsonl").open()]
    writers: dict = {}
    logs: dict = {}
    summary = DemoSummary()
    reveal = paused = show_help = False
    t_start = time.perf_counter()
    fps, last_t = 0.0, t_start
    frame = update = None
    shot_dir = Path(out) if out else Path.cwd()
    pending: dict[Path, Path] = {}  # partial file → its final name, renamed once the run completes
    created: list[Path] = []        # folders this run made (removed again, if empty, when it fails)

    def partial(folder: Path, name: str) -> Path:
        created.extend(d for d in (folder, *folder.parents) if not d.exists())
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / name
        pending[folder / f".{final.stem}.partial{final.suffix}"] = final
        return folder / f".{final.stem}.partial{final.suffix}"

    def writer(key, folder: Path, name: str, shape):
        if key not in writers:
            path = partial(folder, name)
            h, w = shape[:2]
            # recordings are lossless (FFV1): a replay must see the very pixels the recording scanned
            codec = "FFV1" if name.endswith(".avi") else "mp4v"
            vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), src.fps, (w, h))
            if not vw.isOpened():
                raise DemoError(f"cannot write video {folder / name}")
            writers[key] = vw
        return writers[key]

    def logfile(key, path: Path):
        if key not in logs:
            logs[key] = partial(path.parent, path.name).open("w")
        return logs[key]

    completed, i = False, 0
    try:
        if not headless:
            cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL)
        frames = iter(src)
        i = 0
        while max_frames is None or i < max_frames:
            if not paused or frame is None:
                try:
                    frame, t = next(frames)
                except StopIteration:
                    break
                update = session.update(frame, now=None if src.live else t)
                row = _row(i, t, update)
                if update.reset:
                    summary.resets += 1
                if "result_accepted" in update.events:
                    summary.results.append(row["final_number"])
                    log(f"frame {i}: card read {row['final_number']} in {update.time_to_scan_s:.1f} s")
                if replay and i < len(recorded):
                    diff = {k: (recorded[i].get(k), row[k]) for k in COMPARED if recorded[i].get(k) != row[k]}
                    if diff:
                        summary.differences.append({"frame": i, **{k: {"recorded": a, "now": b}
                                                                    for k, (a, b) in diff.items()}})
                now = time.perf_counter()
                fps = 0.8 * fps + 0.2 / max(now - last_t, 1e-6) if i else 0.0
                last_t = now
                if record:
                    writer("rec", Path(record), "frames.avi", frame.shape).write(frame)
                    logfile("rec", Path(record) / "results.jsonl").write(json.dumps(row) + "\n")
                if out:
                    logfile("out", Path(out) / "log.jsonl").write(json.dumps(row) + "\n")
                i += 1
            annotated = draw(frame, update, fps, names[names.index(backend)] if backend in names else backend,
                             reveal=reveal and not headless, paused=paused, show_help=show_help)
            if out and (not paused):
                writer("out", Path(out), "annotated.mp4", annotated.shape).write(
                    annotated if not reveal else draw(frame, update, fps, backend, False, paused, show_help))
            if headless:
                continue
            cv2.imshow(WINDOW, annotated)
            if screenshot_after is not None and i >= screenshot_after:
                _screenshot(annotated if not reveal else draw(frame, update, fps, backend), shot_dir, log)
                break
            key = cv2.waitKey(1 if not paused else 30) & 0xFF
            if key == ord("q"):
                break
            if key == ord(" "):
                paused = not paused
            elif key == ord("r"):
                session.reset()
                log("session reset")
            elif key == ord("s"):
                _screenshot(draw(frame, update, fps, backend, False, paused, show_help), shot_dir, log)
            elif key == ord("m"):
                reveal = not reveal
            elif key == ord("h"):
                show_help = not show_help
            elif key == ord("b"):
                backend = names[(names.index(backend) + 1) % len(names)]
                scanner = backends[backend]()
                session = ScanSession(scanner, session.config, sink=sink)
                log(f"backend: {backend}")
        summary.frames, completed = i, True
    except KeyboardInterrupt:  # Ctrl-C ends a run (a headless camera has no q key): its outputs are kept
        summary.frames, completed = i, True
    finally:
        for w in writers.values():
            w.release()
        for f in logs.values():
            f.close()
        if not completed:
            _discard(pending, created)
        if sink is not None:
            sink.close()
        if not headless:
            cv2.destroyAllWindows()
    for part, final in pending.items():
        part.replace(final)
    summary.seconds = time.perf_counter() - t_start
    summary.fps = summary.frames / summary.seconds if summary.seconds else 0.0
    if record:
        Path(record).mkdir(parents=True, exist_ok=True)
        _write_atomic(Path(record, "session.json"), json.dumps({
            "video": "frames.avi", "log": "results.jsonl", "frames": summary.frames, "fps": src.fps,
            "source": src.name, "backend": backend, "cardlens_version": __version__,
            "config": vars(session.config)}, indent=2) + "\n")
        summary.outputs["recording"] = str(record)
    if events:
        summary.outputs["events"] = str(events)
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        _write_atomic(Path(out, "summary.json"), json.dumps(summary.to_dict(), indent=2) + "\n")
        summary.outputs.update(annotated=str(Path(out, "annotated.mp4")), log=str(Path(out, "log.jsonl")))
    return summary


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(text)
    tmp.replace(path)


def _discard(pending: dict, created: list) -> None:
    for part in pending:
        part.unlink(missing_ok=True)
    for folder in sorted(set(created), key=lambda d: len(d.parts), reverse=True):
        try:
            folder.rmdir()  # only if empty: never a folder that holds anything else
        except OSError:
            pass


def _screenshot(img, folder: Path, log) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"cardlens-demo-{time.strftime('%Y%m%d-%H%M%S')}.png"
    cv2.imwrite(str(path), img)
    log(f"screenshot: {path}")
    return path


def _is_macos() -> bool:
    import sys

    return sys.platform == "darwin"
