"""The card verifier's network: six 3×3 conv + BN + ReLU blocks, global average pool, one logit.

Only layers that every export target converts plainly (conv, batch norm folded at export, ReLU, mean,
linear)."""

from __future__ import annotations

import torch
from torch import nn


def _block(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class CardVerifierNet(nn.Module):
    """(N, 3, 60, 96) RGB in [0, 1] → (N, 1) logit that the crop is a payment card."""

    def __init__(self, width: int = 8):
        super().__init__()
        w = int(width)
        self.width = w
        self.features = nn.Sequential(*_block(3, w, 2), *_block(w, 2 * w, 2), *_block(2 * w, 2 * w, 1),
                                      *_block(2 * w, 4 * w, 2), *_block(4 * w, 4 * w, 1), *_block(4 * w, 6 * w, 2))
        self.head = nn.Linear(6 * w, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=(2, 3)))
