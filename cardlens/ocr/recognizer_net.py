"""The card text recognizer network: a small CNN whose columns become CTC frames (torch; training/export).

Only layers that convert cleanly to ONNX, TFLite and CoreML: Conv2d, BatchNorm, ReLU, MaxPool and a
final 1×1 convolution (no RNN, no reshape of dynamic size). Input ``(N, 1, 32, W)`` grey in [0, 1];
output logits ``(N, W/4, C)`` with class 0 the CTC blank.
"""

from __future__ import annotations

import torch
from torch import nn

from cardlens.ocr.charset import CHARSET

NUM_CLASSES = len(CHARSET) + 1


def _block(cin: int, cout: int, k=3) -> list[nn.Module]:
    pad = (k[0] // 2, k[1] // 2) if isinstance(k, tuple) else k // 2
    return [nn.Conv2d(cin, cout, k, padding=pad, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class LineRecognizer(nn.Module):
    def __init__(self, width: int = 1, num_classes: int = NUM_CLASSES):
        super().__init__()
        c = [int(v * width) for v in (16, 32, 64, 96, 128)]
        self.features = nn.Sequential(
            *_block(1, c[0]), nn.MaxPool2d(2, 2),                        # 16 x W/2
            *_block(c[0], c[1]), nn.MaxPool2d(2, 2),                     # 8 x W/4
            *_block(c[1], c[2]), nn.MaxPool2d((2, 1), (2, 1)),           # 4 x W/4
            *_block(c[2], c[3]), *_block(c[3], c[3]), nn.MaxPool2d((2, 1), (2, 1)),  # 2 x W/4
            nn.Conv2d(c[3], c[4], (2, 1), bias=False), nn.BatchNorm2d(c[4]), nn.ReLU(inplace=True),  # 1 x W/4
            # context along the line: wide kernels across frames (a 2-D conv of height 1)
            *_block(c[4], c[4], (1, 5)), *_block(c[4], c[4], (1, 5)),
        )
        self.head = nn.Conv2d(c[4], num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.head(self.features(x))       # (N, C, 1, T)
        return y.squeeze(2).permute(0, 2, 1)  # (N, T, C)
