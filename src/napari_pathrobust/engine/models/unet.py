"""A compact U-Net for nucleus segmentation (CPU-friendly).

Outputs two channels at full resolution: a nucleus logit and a normalised
distance-to-boundary regression (0 at the border of a nucleus, 1 at its centre),
which separates touching nuclei at inference (marker watershed).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .ssl_net import normalise


def padded_input(rgb: np.ndarray, multiple: int, device: torch.device) -> torch.Tensor:
    """(1, 3, H', W') normalised network input of an RGB array, reflect-padded at the
    bottom/right to multiples of ``multiple`` (crop outputs back to H x W)."""
    h, w = rgb.shape[:2]
    pixels = np.require(rgb[..., :3], requirements=["C", "W"])
    x = normalise(torch.from_numpy(pixels)[None].to(device))
    if (-h) % multiple or (-w) % multiple:
        x = F.pad(x, (0, (-w) % multiple, 0, (-h) % multiple), mode="reflect")
    return x


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class CompactUNet(nn.Module):
    """Encoder-decoder with skip connections; ``encoder``/``head`` split for training."""

    def __init__(self, width: int = 16, depth: int = 4, outputs: int = 2):
        super().__init__()
        self.config = {"width": width, "depth": depth, "outputs": outputs}
        chans = [width * 2 ** i for i in range(depth)]
        self.down = nn.ModuleList()
        cin = 3
        for c in chans:
            self.down.append(_block(cin, c))
            cin = c
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for c in reversed(chans[:-1]):
            self.up.append(nn.ConvTranspose2d(cin, c, 2, 2))
            self.dec.append(_block(2 * c, c))
            cin = c
        self.out = nn.Conv2d(cin, outputs, 1)

    @property
    def multiple(self) -> int:
        """Input sides must be multiples of this (pad before, crop after)."""
        return 2 ** (len(self.down) - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else self.pool(x))
            skips.append(x)
        for up, dec, skip in zip(self.up, self.dec, reversed(skips[:-1])):
            x = dec(torch.cat([up(x), skip], dim=1))
        return self.out(x)

    def encoder_parameters(self):
        """Parameters of the contracting path (for decoupled training strategies)."""
        return [p for m in self.down for p in m.parameters()]

    def head_parameters(self):
        """Parameters of the expanding path and output layer."""
        ids = {id(p) for p in self.encoder_parameters()}
        return [p for p in self.parameters() if id(p) not in ids]
