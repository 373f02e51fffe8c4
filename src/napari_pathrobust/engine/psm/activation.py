"""Prior self-activation maps (PSM stage B), computed tile by tile without seams.

Grad-CAM over the blocks of the network's shallowest stage: per block l the map is
``M_l = sum_k alpha_lk A_lk`` with ``alpha_lk`` the mean gradient of the pretext output
with respect to channel k. Grad-CAM's spatial means make a map depend on the whole
input, so here the channel weights ``alpha`` and the per-block normalisation (robust
1st/99th percentiles) are *fitted once* on a sample of the whole slide; a tile then
needs only a forward pass through the stem and stage 1, which is local (receptive
field < :attr:`SelfActivation.context`), and tiles agree with the untiled map.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from ..models.ssl_net import ActivationNet, normalise

STRIDE = 4  # stage 1 runs at 1/4 resolution


@dataclass
class ActivationFit:
    """Fitted, JSON-serialisable state: channel weights and block normalisation."""

    alpha: list[list[float]] = field(default_factory=list)
    lo: list[float] = field(default_factory=list)
    hi: list[float] = field(default_factory=list)


class SelfActivation:
    """Compute self-activation maps with fitted Grad-CAM weights."""

    #: pixels of context a tile needs for an exact map (receptive field of stem+stage 1)
    context = 64

    def __init__(self, net: ActivationNet, device: torch.device | str = "cpu"):
        self.net = net.eval().to(device)
        self.device = torch.device(device)
        self.fitted: Optional[ActivationFit] = None

    def _target(self, logits: torch.Tensor) -> torch.Tensor:
        """Pretext output whose gradient defines the map (upright-rotation logit)."""
        return logits[:, 0].sum()

    def fit(self, sample_rgb: np.ndarray, patch: int = 256, max_patches: int = 8,
            seed: int = 0) -> "SelfActivation":
        """Fit channel weights and normalisation on an RGB sample of the whole slide."""
        patches = _patches(sample_rgb, patch, max_patches, seed)
        grads_sum: list[torch.Tensor] = []
        maps_raw: list[list[torch.Tensor]] = []
        for start in range(0, len(patches), 8):
            batch = torch.from_numpy(np.stack(patches[start:start + 8])).to(self.device)
            x = normalise(batch)
            acts = self.net.shallow(x)
            for a in acts:
                a.retain_grad()
            feats = acts[-1]
            for stage in (self.net.stage2, self.net.stage3):
                feats = stage(feats)
            logits = self.net.head(feats.mean(dim=(2, 3)))
            self.net.zero_grad(set_to_none=True)
            self._target(logits).backward()
            g = [a.grad.sum(dim=(0, 2, 3)).detach() for a in acts]
            grads_sum = g if not grads_sum else [s + gi for s, gi in zip(grads_sum, g)]
            maps_raw.append([a.detach() for a in acts])
        n_pix = sum(m[0].shape[0] * m[0].shape[2] * m[0].shape[3] for m in maps_raw)
        alpha = [g / n_pix for g in grads_sum]
        lo, hi = [], []
        for layer, a in enumerate(alpha):
            values = torch.cat([(m[layer] * a[None, :, None, None]).sum(1).flatten()
                                for m in maps_raw])
            sub = values[torch.randperm(values.numel(), generator=torch.Generator().manual_seed(
                seed))[:200_000].to(values.device)]
            lo.append(float(torch.quantile(sub.float(), 0.01)))
            hi.append(float(torch.quantile(sub.float(), 0.99)))
        self.fitted = ActivationFit([a.cpu().tolist() for a in alpha], lo, hi)
        return self

    @torch.no_grad()
    def map_tile(self, rgb: np.ndarray) -> np.ndarray:
        """float32 (H, W) map in [0, 1] for one RGB tile (fits on it if never fitted)."""
        if self.fitted is None:
            self.fit(rgb)
        fit = self.fitted
        h, w = rgb.shape[:2]
        pad_h, pad_w = (-h) % STRIDE, (-w) % STRIDE
        pixels = np.require(rgb[..., :3], requirements=["C", "W"])
        x = normalise(torch.from_numpy(pixels)[None].to(self.device))
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect")
        total = None
        for layer, a in enumerate(self.net.shallow(x)):
            alpha = torch.tensor(fit.alpha[layer], device=a.device)[None, :, None, None]
            m = (a * alpha).sum(1, keepdim=True)
            m = ((m - fit.lo[layer]) / max(fit.hi[layer] - fit.lo[layer], 1e-12)).clamp(0, 1)
            total = m if total is None else total + m
        total = total / len(fit.alpha)
        up = F.interpolate(total, scale_factor=STRIDE, mode="bilinear", align_corners=False)
        return up[0, 0, :h, :w].float().cpu().numpy()


def _patches(rgb: np.ndarray, patch: int, max_patches: int, seed: int) -> list[np.ndarray]:
    """Seeded non-overlapping patches of an RGB sample (the whole sample if small)."""
    h, w = rgb.shape[:2]
    if h < patch or w < patch:
        side = (min(h, w) // STRIDE) * STRIDE
        return [np.ascontiguousarray(rgb[:side, :side])]
    grid = [(y, x) for y in range(0, h - patch + 1, patch) for x in range(0, w - patch + 1, patch)]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(grid))[:max_patches]
    return [np.ascontiguousarray(rgb[grid[i][0]:grid[i][0] + patch,
                                     grid[i][1]:grid[i][1] + patch]) for i in sorted(order)]
