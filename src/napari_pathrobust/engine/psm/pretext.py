"""Training the self-supervised activation network on unlabelled H&E images.

Pretexts:

* ``rotation`` (default, stronger): predict which of 0/90/180/270 degrees a crop was
  rotated by (4-way cross-entropy). It has no trivial solution: the network must
  recognise oriented tissue structure.
* ``rotation-similarity`` (the released PSM task): make the scalar output of a crop
  equal to that of its 180-degree rotation (L1); it has a trivial constant solution,
  but the paper reports shallow gradients stay informative.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..models.ssl_net import ActivationNet, normalise
from ..progress import Reporter
from .step_runner import StepRunner

PRETEXTS = ("rotation", "rotation-similarity")


@dataclass
class PretextConfig:
    """Hyper-parameters of pretext training (all recorded in the model card)."""

    pretext: str = "rotation"
    steps: int = 1500
    batch: int = 16
    crop: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-4
    width: int = 32
    seed: int = 0


def random_crops(images: Sequence[np.ndarray], n: int, crop: int,
                 rng: np.random.Generator) -> np.ndarray:
    """(n, crop, crop, 3) uint8 random crops with random flips from a list of images."""
    out = np.empty((n, crop, crop, 3), np.uint8)
    for i in range(n):
        img = images[int(rng.integers(len(images)))]
        y = int(rng.integers(0, img.shape[0] - crop + 1))
        x = int(rng.integers(0, img.shape[1] - crop + 1))
        patch = img[y:y + crop, x:x + crop, :3]
        if rng.random() < 0.5:
            patch = patch[:, ::-1]
        out[i] = patch
    return out


def train_pretext(images: Sequence[np.ndarray], config: Optional[PretextConfig] = None,
                  device: str | torch.device = "cpu",
                  reporter: Optional[Reporter] = None) -> tuple[ActivationNet, dict]:
    """Train an :class:`ActivationNet` from scratch; returns (net, training log)."""
    config = config or PretextConfig()
    reporter = reporter or Reporter()
    if config.pretext not in PRETEXTS:
        raise ValueError(f"pretext {config.pretext!r}: expected one of {PRETEXTS}")
    if not images:
        raise ValueError("no training images")
    small = [img.shape for img in images if min(img.shape[:2]) < config.crop]
    if small:
        raise ValueError(f"images must be at least {config.crop} px a side; got {small[0]}")
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    device = torch.device(device)
    outputs = 4 if config.pretext == "rotation" else 1
    net = ActivationNet(width=config.width, outputs=outputs).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr,
                                                total_steps=max(1, config.steps))
    net.train()
    run = StepRunner(opt, sched, config.steps, reporter, "pretext loss")
    for step in range(config.steps):
        crops = torch.from_numpy(random_crops(images, config.batch, config.crop, rng)).to(device)
        x = normalise(crops)
        if config.pretext == "rotation":
            k = torch.from_numpy(rng.integers(0, 4, config.batch)).to(device)
            x = torch.stack([torch.rot90(xi, int(ki), dims=(1, 2)) for xi, ki in zip(x, k)])
            loss = F.cross_entropy(net(x), k)
        else:
            loss = (net(x) - net(torch.rot90(x, 2, dims=(2, 3)))).abs().mean()
        run(step, loss)
    net.eval()
    log = run.log(device)
    return net.cpu(), log
