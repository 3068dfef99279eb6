"""``cardlens demo [SOURCE]``: live scanning with overlays for QA; headless, record and replay."""

from __future__ import annotations

import argparse
import json


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "demo", help="live webcam / video demo for QA",
        description="Scan frames from a webcam (default 0), a video file, an image folder or a recording, "
                    "with overlays: card outline and corners, field boxes, masked number/expiry/name with "
                    "low-confidence characters in red, the multi-frame vote, FPS and per-stage ms. Keys: space "
                    "pause, r reset, s screenshot, m reveal (window only, never saved), b backend, h help, q quit.")
    p.add_argument("source", nargs="?", default="0", help="webcam index, video file, image folder or recording")
    p.add_argument("--headless", action="store_true", help="no window; needs --out")
    p.add_argument("--out", default=None, help="write annotated.mp4, log.jsonl and summary.json here")
    p.add_argument("--record", default=None, help="record raw frames + masked per-frame results into DIR")
    p.add_argument("--replay", default=None, help="play a recording through the current models; report differences")
    p.add_argument("--backend", default="onnx", help="onnx (default), torch, or bundle:<name> with --bundle")
    p.add_argument("--bundle", default=None, help="an export bundle folder (onnx-* or tflite-*) to offer as a backend")
    p.add_argument("--agree", type=int, default=3, help="agreeing reads that finish a card (default 3)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds before a card's session gives up")
    p.add_argument("--max-frames", type=int, default=None)
    p.add_argument("--screenshot-after", type=int, default=None, help="save a screenshot after N frames and stop")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--events", default=None, metavar="FILE",
                   help="append privacy-safe session events (JSON lines) to FILE for `cardlens report sessions`")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cardlens.demo.app import run_demo
    from cardlens.session import SessionConfig

    summary = run_demo(args.source, headless=args.headless, out=args.out, record=args.record, replay=args.replay,
                       backend=args.backend, bundle=args.bundle,
                       config=SessionConfig(agree=args.agree, timeout_s=args.timeout),
                       max_frames=args.max_frames, screenshot_after=args.screenshot_after, events=args.events,
                       log=(lambda *a: None) if args.json else print)
    if args.json:
        print(json.dumps(summary.to_dict()))
    else:
        print(f"{summary.frames} frames in {summary.seconds:.1f} s ({summary.fps:.1f} fps); cards read: "
              f"{', '.join(r or '?' for r in summary.results) or 'none'}")
        if args.replay:
            print(f"replay: {len(summary.differences)} frame(s) differ from the recording")
    return 1 if args.replay and summary.differences else 0
