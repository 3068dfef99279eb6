"""What a card localizer returns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cardlens.geometry import CORNER_ORDER  # noqa: F401  (re-exported: part of the detector's API)


@dataclass(frozen=True, eq=False)
class CardDetection:
    """One card: box (x1, y1, x2, y2) and four corners (design order) in image pixels."""

    corners: np.ndarray                   # (4, 2) float32
    confidence: float
    method: str
    box: tuple[float, float, float, float] | None = None
    corner_confidences: tuple[float, ...] = ()
    card_score: float | None = None       # the card verifier's probability that it is a payment card
    localization: float = 0.0             # share of the card's four sides the edge fitting found (0: network only)

    def __post_init__(self):
        if self.box is None:
            c = np.asarray(self.corners, dtype=np.float32).reshape(4, 2)
            object.__setattr__(self, "box", (float(c[:, 0].min()), float(c[:, 1].min()),
                                             float(c[:, 0].max()), float(c[:, 1].max())))

    @property
    def box_score(self) -> float:
        """How far to trust this box's placement, for ranking boxes: the network's confidence, halved for a
        box no side of which was fitted to the card's edges and whole when all four were
        (``confidence × (1 + localization) / 2``). A fitted side is measured on the image; an unfitted one
        is the network's estimate, a few per cent of the card off. ``cardlens eval detector`` ranks boxes by
        it for the detector's box mAP (and reports the ranking by ``confidence`` beside it); which boxes are
        kept is still decided by ``confidence`` and the verifier."""
        return self.confidence * (1.0 + self.localization) / 2.0

    def to_dict(self) -> dict:
        return {"box": [round(v, 2) for v in self.box], "confidence": round(self.confidence, 4),
                "corners": np.round(np.asarray(self.corners, dtype=float), 2).tolist(),
                "corner_confidences": [round(c, 4) for c in self.corner_confidences], "method": self.method,
                "localization": round(self.localization, 4), "box_score": round(self.box_score, 4),
                **({} if self.card_score is None else {"card_score": round(self.card_score, 4)})}
