"""Training the downstream nucleus network on pseudo-label targets (PSM stage D).

Each step draws random crops of the training images with their targets, augments
them (flips, 90-degree rotations, and stain jitter in hematoxylin/eosin optical
density space, so the network generalises to other labs' staining) and minimises
``BCE(nucleus, target; ignore 255) + dist_weight * MSE(distance, target)`` on the
pixels that are not ignored.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..models.ssl_net import normalise
from ..models.unet import CompactUNet
from ..progress import Reporter
from ..stain import HED_FROM_RGB, RGB_FROM_HED
from ._steps import StepRunner
from .pseudolabels import IGNORE, Targets


@dataclass
class SegTrainConfig:
    """Hyper-parameters of downstream training (recorded in the model card)."""

    steps: int = 2000
    batch: int = 8
    crop: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-4
    width: int = 16
    depth: int = 4
    dist_weight: float = 1.0
    stain_jitter: float = 0.15
    seed: int = 0


def stain_jitter(rgb: torch.Tensor, gen: torch.Generator, amount: float) -> torch.Tensor:
    """Random per-image scaling/shift of H, E and residual concentrations (Beer-Lambert).

    ``rgb``: (B, H, W, 3) uint8 tensor on any device; returns the same shape and dtype.
    """
    if amount <= 0:
        return rgb
    dev = rgb.device
    b = rgb.shape[0]
    hed = torch.tensor(HED_FROM_RGB, dtype=torch.float32, device=dev)
    rgb_from = torch.tensor(RGB_FROM_HED, dtype=torch.float32, device=dev)
    od = -torch.log10((rgb.float() + 1.0) / 256.0)
    conc = od @ hed
    alpha = (1 + amount * (2 * torch.rand(b, 1, 1, 3, generator=gen) - 1)).to(dev)
    beta = (amount / 3 * (2 * torch.rand(b, 1, 1, 3, generator=gen) - 1)).to(dev)
    od2 = ((conc * alpha + beta) @ rgb_from).clamp_min(0)
    return (256.0 * torch.pow(10.0, -od2) - 1.0).round().clamp(0, 255).to(torch.uint8)


def sample_batch(images: Sequence[np.ndarray], targets: Sequence[Targets], n: int, crop: int,
                 rng: np.random.Generator):
    """Random flipped/rotated crops: rgb uint8 (n,c,c,3), fg uint8 (n,c,c), dist (n,c,c)."""
    xs = np.empty((n, crop, crop, 3), np.uint8)
    fgs = np.empty((n, crop, crop), np.uint8)
    ds = np.empty((n, crop, crop), np.float32)
    for i in range(n):
        j = int(rng.integers(len(images)))
        img, tgt = images[j], targets[j]
        y = int(rng.integers(0, img.shape[0] - crop + 1))
        x = int(rng.integers(0, img.shape[1] - crop + 1))
        sl = (slice(y, y + crop), slice(x, x + crop))
        rgb, fg, dist = img[sl][..., :3], tgt.fg[sl], tgt.dist[sl]
        k = int(rng.integers(4))
        flip = bool(rng.integers(2))
        parts = [np.rot90(a, k) for a in (rgb, fg, dist)]
        if flip:
            parts = [a[:, ::-1] for a in parts]
        xs[i], fgs[i], ds[i] = parts
    return xs, fgs, ds


def pixel_losses(out: torch.Tensor, fg: torch.Tensor, dist: torch.Tensor,
                 dist_weight: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel loss (B, H, W) and the valid-pixel mask (ignore label excluded)."""
    valid = fg != IGNORE
    target = (fg == 1).float()
    bce = F.binary_cross_entropy_with_logits(out[:, 0], target, reduction="none")
    mse = (torch.sigmoid(out[:, 1]) - dist) ** 2
    return (bce + dist_weight * mse) * valid, valid


def train_segmentation(images: Sequence[np.ndarray], targets: Sequence[Targets],
                       config: Optional[SegTrainConfig] = None,
                       device: str | torch.device = "cpu",
                       reporter: Optional[Reporter] = None) -> tuple[CompactUNet, dict]:
    """Train a :class:`CompactUNet` from scratch on pseudo-label targets."""
    config = config or SegTrainConfig()
    reporter = reporter or Reporter()
    if not images or len(images) != len(targets):
        raise ValueError("need one target per training image")
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    device = torch.device(device)
    net = CompactUNet(width=config.width, depth=config.depth).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr,
                                                total_steps=max(1, config.steps))
    net.train()
    run = StepRunner(opt, sched, config.steps, reporter)
    for step in range(config.steps):
        xs, fgs, ds = sample_batch(images, targets, config.batch, config.crop, rng)
        x = normalise(stain_jitter(torch.from_numpy(xs).to(device), gen, config.stain_jitter))
        fg = torch.from_numpy(fgs).to(device)
        dist = torch.from_numpy(ds).to(device)
        per_pixel, valid = pixel_losses(net(x), fg, dist, config.dist_weight)
        run(step, per_pixel.sum() / valid.sum().clamp_min(1))
    net.eval()
    log = dict(run.log(device), config=asdict(config))
    return net.cpu(), log
