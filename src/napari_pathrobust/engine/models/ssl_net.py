"""The self-supervised activation network of PSM: a compact ResNet-style CNN.

Stem (stride 2) + stage 1 (stride 4, several residual blocks: the shallow layer whose
gradients give the prior self-activation map) + deeper stages + global pooling + a
small head. Small enough to train and run on a laptop CPU.
"""

from __future__ import annotations

import torch
from torch import nn


class ResidualBlock(nn.Module):
    """3x3 conv - BN - ReLU - 3x3 conv - BN, plus a (projected) identity."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.skip = None
        if stride != 1 or cin != cout:
            self.skip = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                      nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + (x if self.skip is None else self.skip(x)))


class ActivationNet(nn.Module):
    """Compact ResNet for the pretext task; ``stage1`` is the shallow target stage."""

    def __init__(self, width: int = 32, blocks: tuple[int, int, int] = (3, 2, 2),
                 outputs: int = 4):
        super().__init__()
        self.config = {"width": width, "blocks": list(blocks), "outputs": outputs}
        self.stem = nn.Sequential(
            nn.Conv2d(3, width, 3, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width),
            nn.ReLU(inplace=True))
        self.stage1 = nn.Sequential(ResidualBlock(width, width, 2),
                                    *[ResidualBlock(width, width) for _ in range(blocks[0] - 1)])
        self.stage2 = nn.Sequential(ResidualBlock(width, 2 * width, 2),
                                    *[ResidualBlock(2 * width, 2 * width)
                                      for _ in range(blocks[1] - 1)])
        self.stage3 = nn.Sequential(ResidualBlock(2 * width, 4 * width, 2),
                                    *[ResidualBlock(4 * width, 4 * width)
                                      for _ in range(blocks[2] - 1)])
        self.head = nn.Linear(4 * width, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, outputs) for an input batch normalised by :func:`normalise`."""
        x = self.stage3(self.stage2(self.stage1(self.stem(x))))
        return self.head(x.mean(dim=(2, 3)))

    def shallow(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Activations of every block of stage 1 (stride 4)."""
        x = self.stem(x)
        outs = []
        for block in self.stage1:
            x = block(x)
            outs.append(x)
        return outs


def normalise(rgb_uint8: torch.Tensor) -> torch.Tensor:
    """(B, H, W, 3) uint8 -> (B, 3, H, W) float in [-1, 1] (one convention everywhere)."""
    return rgb_uint8.permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
