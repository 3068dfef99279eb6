"""CTC decoding in numpy: greedy, and prefix beam search restricted to an alphabet.

Inputs are per-frame class probabilities ``(T, C)`` (softmax of the network's logits, class 0 blank).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cardlens.ocr.charset import BLANK, CHARSET


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class Reading:
    text: str
    char_confidences: tuple[float, ...]   # per character: the best frame's probability of that character
    probability: float                    # sequence probability (beam: summed over alignments)


def greedy(probs: np.ndarray, allowed: list[int] | None = None) -> Reading:
    p = np.asarray(probs, dtype=np.float64)
    if allowed is not None:
        mask = np.zeros(p.shape[1], bool)
        mask[allowed] = True
        p = np.where(mask[None, :], p, 0.0)
        p = p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12)
    best = p.argmax(axis=1)
    text, confs, prev = [], [], BLANK
    for t, k in enumerate(best):
        if k != BLANK and k != prev:
            text.append(CHARSET[k - 1])
            confs.append(float(p[t, k]))
        elif k != BLANK and k == prev and confs:
            confs[-1] = max(confs[-1], float(p[t, k]))
        prev = k
    return Reading("".join(text), tuple(confs), float(np.prod(p[np.arange(len(best)), best])))


def _merge(beams: dict, prefix: str, pb: float, pnb: float, confs: tuple) -> None:
    e = beams.get(prefix)
    if e is None:
        beams[prefix] = [pb, pnb, confs]
        return
    e[0] += pb
    e[1] += pnb
    if len(confs) == len(e[2]):
        e[2] = tuple(max(a, b) for a, b in zip(e[2], confs, strict=True))


def beam_search(probs: np.ndarray, allowed: list[int], beam: int = 16, prune: float = 1e-4) -> list[Reading]:
    """CTC prefix beam search over ``allowed`` classes; readings best first.

    Probabilities are renormalised over the allowed classes per frame (a number line is searched over
    digits and space only), and over the surviving beams after every frame, so each reading's
    ``probability`` is its share of the probability mass the beam kept.
    """
    p = np.asarray(probs, dtype=np.float64)[:, allowed]
    p = p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12)
    blank_i = allowed.index(BLANK)
    chars = [None if k == BLANK else CHARSET[k - 1] for k in allowed]
    beams: dict[str, list] = {"": [1.0, 0.0, ()]}  # prefix -> [p ending in blank, p ending in char, confs]
    for t in range(p.shape[0]):
        row = p[t]
        cand = [i for i in range(len(allowed)) if row[i] > prune] or [int(row.argmax())]
        nxt: dict[str, list] = {}
        for prefix, (pb, pnb, confs) in beams.items():
            for i in cand:
                pi = row[i]
                if i == blank_i:
                    _merge(nxt, prefix, (pb + pnb) * pi, 0.0, confs)
                elif prefix and prefix[-1] == chars[i]:
                    # the same character again: collapses unless a blank separated it
                    _merge(nxt, prefix, 0.0, pnb * pi, confs[:-1] + (max(confs[-1], pi),))
                    _merge(nxt, prefix + chars[i], 0.0, pb * pi, confs + (pi,))
                else:
                    _merge(nxt, prefix + chars[i], 0.0, (pb + pnb) * pi, confs + (pi,))
        ranked = sorted(nxt.items(), key=lambda kv: -(kv[1][0] + kv[1][1]))[:beam]
        norm = sum(v[0] + v[1] for _, v in ranked) or 1.0
        beams = {k: [v[0] / norm, v[1] / norm, v[2]] for k, v in ranked}
    out = [Reading(k, tuple(float(c) for c in v[2]), float(v[0] + v[1])) for k, v in beams.items()]
    return sorted(out, key=lambda r: -r.probability)
