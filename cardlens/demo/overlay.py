"""What the demo draws on a frame. :func:`overlay_lines` is the text content (tested);
:func:`draw` renders it with the card outline, corners, field boxes and the vote's progress."""

from __future__ import annotations

import cv2
import numpy as np

FIELD_COLORS = {"number": (0, 0, 255), "number_group": (0, 170, 0), "expiry": (255, 120, 0), "name": (0, 200, 220)}
LOW_CONFIDENCE = 0.6
HELP = ("space pause", "r reset", "s screenshot", "m reveal (not saved)", "b backend", "h help", "q quit")


def number_text(update, reveal: bool) -> tuple[str, tuple[float, ...]]:
    """The number to show (final if any, else this frame's) and its per-character confidences."""
    res = update.final or update.frame
    n = res.number
    if n is None:
        return "", ()
    return (n.formatted(reveal=reveal), n.char_confidences)


def overlay_lines(update, fps: float, backend: str, reveal: bool = False, paused: bool = False) -> list[str]:
    res = update.final or update.frame
    lines = []
    if not update.frame.card_found and update.final is None:
        lines.append("no card - hold a card in front of the camera")
    text, _ = number_text(update, reveal)
    lines.append(f"number: {text or '-'}" + (" (valid)" if res.number is not None and res.number.valid else ""))
    printed = f"{res.printed_expiry} (not a date)" if res.printed_expiry else "-"
    lines.append(f"expiry: {res.expiry if res.expiry else printed}")
    lines.append(f"name:   {res.name.value if res.name else '-'}")
    lines.append(f"vote:   {update.leader_votes}/{update.needed} {update.status}")
    if update.final is not None:
        lines.append(f"DONE in {update.time_to_scan_s:.1f} s")
    if update.reset:
        lines.append(f"reset: {update.reset}")
    stages = " ".join(f"{k} {v:.0f}" for k, v in update.frame.timings_ms.items() if k != "load")
    lines.append(f"{fps:.1f} fps [{backend}] ms: {stages}")
    if paused:
        lines.append("PAUSED")
    return lines


def _put(img, text, org, scale=0.55, color=(255, 255, 255), thick=1):
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, color, thick, cv2.LINE_AA)


def draw(frame: np.ndarray, update, fps: float, backend: str, reveal: bool = False, paused: bool = False,
         show_help: bool = False) -> np.ndarray:
    img = frame.copy()
    res = update.frame
    if res.card_found and res.corners:
        pts = np.array(res.corners, np.int32)
        cv2.polylines(img, [pts], True, (0, 255, 0) if update.final else (0, 220, 255), 2, cv2.LINE_AA)
        for i, (x, y) in enumerate(pts):
            cv2.circle(img, (int(x), int(y)), 5, (0, 0, 255) if i == 0 else (255, 255, 255), -1)
        for kind, quad, _conf in res.fields:
            cv2.polylines(img, [np.array(quad, np.int32)], True, FIELD_COLORS.get(kind, (200, 200, 200)), 1)
    lines = overlay_lines(update, fps, backend, reveal, paused)
    y = 22
    for line in lines:
        if line.startswith("number:"):
            _draw_number(img, update, reveal, (10, y))
        else:
            _put(img, line, (10, y), color=(0, 255, 0) if line.startswith("DONE") else (255, 255, 255))
        y += 22
    w = img.shape[1]
    bar = int((w - 20) * update.progress)
    cv2.rectangle(img, (10, img.shape[0] - 16), (w - 10, img.shape[0] - 6), (80, 80, 80), 1)
    cv2.rectangle(img, (10, img.shape[0] - 16), (10 + bar, img.shape[0] - 6), (0, 220, 0), -1)
    if show_help:
        for i, h in enumerate(HELP):
            _put(img, h, (w - 220, 22 + 20 * i), 0.5, (255, 255, 0))
    return img


def _draw_number(img, update, reveal: bool, org) -> None:
    """The number with low-confidence characters in red (masked characters carry no confidence)."""
    text, confs = number_text(update, reveal)
    x, y = org
    _put(img, "number: ", (x, y))
    x += 80
    if not text:
        _put(img, "-", (x, y))
        return
    i = 0
    for ch in text:
        color = (255, 255, 255)
        if ch.isdigit() or ch == "*":
            if i < len(confs) and confs[i] < LOW_CONFIDENCE:
                color = (0, 0, 255)
            i += 1
        _put(img, ch, (x, y), color=color)
        x += 12
