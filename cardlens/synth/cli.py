"""``cardlens synth detector|fields|lines|scans|preview|examples`` (wired into the main CLI via :func:`register`)."""

from __future__ import annotations

import argparse
import json


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("synth", help="render synthetic card datasets")
    sub = p.add_subparsers(dest="synth_cmd", required=True)
    for name, helptext in (("detector", "YOLO-pose card detector set"), ("fields", "rectified cards + field boxes"),
                           ("lines", "text-line crops + manifest.jsonl"),
                           ("scans", "whole scenes + labels.jsonl in realcards-dev's format (eval scan)")):
        s = sub.add_parser(name, help=helptext)
        s.add_argument("--out", required=True)
        s.add_argument("--n", type=int, default=1000)
        s.add_argument("--seed", type=int, default=0)
        s.add_argument("--workers", type=int, default=1)
        s.add_argument("--val-fraction", type=float, default=0.1)
        if name in ("detector", "scans"):
            s.add_argument("--imgsz", type=int, default=640)
        if name in ("lines", "fields"):
            s.add_argument("--scene-size", type=int, default=960, help="photo size the cards are cut from")
            s.add_argument("--card-scale", type=float, nargs=2, default=(0.6, 0.95), metavar=("MIN", "MAX"),
                           help="card size in the photo (share of the frame)")
            s.add_argument("--corner-error", type=float, default=0.012, help="corner noise (share of the diagonal)")
        if name == "lines":
            s.add_argument("--crops", choices=["jitter", "located"], default="jitter",
                           help="jitter: printed field boxes with random margins; located: the boxes the shipped "
                                "field locator finds, cut as the reader cuts them")
        if name == "scans":
            s.add_argument("--framing", choices=["scene", "fill"], default="scene",
                           help="scene: a card somewhere in a photo; fill: the card cut out to an image it fills "
                                "(artwork, a scan, a cropped photo)")
        if name == "detector":
            s.add_argument("--negatives", type=float, default=0.1,  # writers.DEFAULT_NEGATIVES (not imported: cv2)
                           help="share of scenes without a card (default 0.1)")
            s.add_argument("--closeups", type=float, default=0.0,
                           help="share of scenes framed as close-ups: the card held near the camera fills a "
                                "frame that need not be square, its edges maybe cut off (default 0)")
        s.add_argument("--no-progress", action="store_true")
        s.add_argument("--json", action="store_true", help="print the summary as JSON")
    s = sub.add_parser("preview", help="contact sheet with labels drawn")
    s.add_argument("--out", required=True)
    s.add_argument("--n", type=int, default=16)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--json", action="store_true")
    s = sub.add_parser("examples", help="regenerate examples/card_photo.jpg and docs/preview_sheet.png")
    s.add_argument("--root", default=".")
    s.add_argument("--json", action="store_true")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from cardlens import synth

    cmd = args.synth_cmd
    progress = not getattr(args, "no_progress", False)
    if cmd == "detector":
        res = synth.write_detector_set(args.out, args.n, args.seed, args.workers, imgsz=args.imgsz,
                                       val_fraction=args.val_fraction, negatives=args.negatives, progress=progress,
                                       closeups=args.closeups)
    elif cmd == "fields":
        res = synth.write_field_set(args.out, args.n, args.seed, args.workers, val_fraction=args.val_fraction,
                                    progress=progress, scene_size=args.scene_size, card_scale=tuple(args.card_scale),
                                    corner_error=args.corner_error)
    elif cmd == "lines":
        res = synth.write_line_set(args.out, args.n, args.seed, args.workers, val_fraction=args.val_fraction,
                                   progress=progress, scene_size=args.scene_size, card_scale=tuple(args.card_scale),
                                   corner_error=args.corner_error, crops=args.crops)
    elif cmd == "scans":
        res = synth.write_scan_set(args.out, args.n, args.seed, args.workers, imgsz=args.imgsz, progress=progress,
                                   framing=args.framing)
    elif cmd == "preview":
        res = synth.write_preview(args.out, args.seed, args.n)
    else:
        res = synth.write_examples(args.root)
    d = res.to_dict()
    if args.json:
        print(json.dumps(d, sort_keys=True))
    else:
        print(" ".join(f"{k}={v}" for k, v in d.items()))
    return 0


def main(argv=None) -> int:  # standalone: python -m cardlens.synth.cli detector --out ...
    parser = argparse.ArgumentParser(prog="cardlens")
    register(parser.add_subparsers(dest="cmd", required=True))
    args = parser.parse_args(["synth", *(argv if argv is not None else __import__("sys").argv[1:])])
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
