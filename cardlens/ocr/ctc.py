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


def log_likelihoods(probs: np.ndarray, allowed: list[int], texts: list[str]) -> np.ndarray:
    """log P(text | frames) for each text, summed over every CTC alignment (the forward algorithm), with
    the frames' probabilities renormalised over ``allowed`` as :func:`beam_search` does; -inf for a text
    that cannot be aligned to the frames. Vectorised over the texts: one pass over the frames."""
    p = np.asarray(probs, dtype=np.float64)[:, allowed]
    p = p / np.maximum(p.sum(axis=1, keepdims=True), 1e-300)
    col = {k: i for i, k in enumerate(allowed)}
    blank = col[BLANK]
    ext_len = [2 * len(t) + 1 for t in texts]
    s_max = max(ext_len, default=1)
    ext = np.full((len(texts), s_max), blank, dtype=np.int64)
    skip = np.zeros((len(texts), s_max), dtype=bool)   # s may be reached from s-2 (a character after a blank
    valid = np.zeros((len(texts), s_max), dtype=bool)  # between two different characters)
    for k, text in enumerate(texts):
        labels = [col[CHARSET.index(ch) + 1] for ch in text]
        ext[k, 1:2 * len(labels):2] = labels
        valid[k, :ext_len[k]] = True
        for j in range(1, len(labels)):
            skip[k, 2 * j + 1] = labels[j] != labels[j - 1]
    # probability space, each text's forward variables rescaled every frame (their log scale kept apart)
    emit = np.where(valid[None], p[:, ext], 0.0)                    # (T, texts, states)
    alpha = np.zeros((len(texts), s_max))
    alpha[:, :2] = emit[0, :, :2]
    log_scale = np.zeros(len(texts))
    step = np.empty_like(alpha)
    for t in range(1, p.shape[0]):
        step[:] = alpha
        step[:, 1:] += alpha[:, :-1]
        step[:, 2:] += np.where(skip[:, 2:], alpha[:, :-2], 0.0)
        alpha = step * emit[t]
        top = alpha.max(axis=1)
        top[top == 0] = 1.0
        alpha /= top[:, None]
        log_scale += np.log(top)
    rows = np.arange(len(texts))
    last = np.array(ext_len) - 1
    end = alpha[rows, last] + np.where(last >= 1, alpha[rows, np.maximum(last - 1, 0)], 0.0)
    with np.errstate(divide="ignore"):
        return np.log(end) + log_scale


def combined_beams(probs_per_crop: list[np.ndarray], allowed: list[int], beam: int = 16,
                   readings_per_crop: list[list[Reading]] | None = None) -> list[Reading]:
    """Readings of one field from several crops of it (margins), best first: every crop's beam readings
    are candidates, each scored by the product over crops of its CTC probability (the crops as independent
    looks), ``probability`` its share among the candidates. Character confidences are the mean over the
    crops whose beams held the reading. ``readings_per_crop``: each crop's :func:`beam_search` over
    ``allowed``, when already run."""
    per_crop = readings_per_crop or [beam_search(p, allowed, beam=beam) for p in probs_per_crop]
    if len(per_crop) == 1:
        return per_crop[0]
    texts = list(dict.fromkeys(r.text for readings in per_crop for r in readings))
    if not texts:
        return []
    score = np.sum([log_likelihoods(p, allowed, texts) for p in probs_per_crop], axis=0)
    finite = np.isfinite(score)
    if not finite.any():
        return per_crop[0]
    share = np.where(finite, np.exp(score - score[finite].max()), 0.0)
    share /= share.sum()
    confs: dict[str, list[tuple[float, ...]]] = {}
    for readings in per_crop:
        for r in readings:
            confs.setdefault(r.text, []).append(r.char_confidences)
    out = []
    for text, s in zip(texts, share, strict=True):
        c = np.mean(np.array(confs[text], dtype=np.float64), axis=0) if text else np.zeros(0)
        out.append(Reading(text, tuple(float(v) for v in c), float(s)))
    return sorted(out, key=lambda r: -r.probability)[:beam]
