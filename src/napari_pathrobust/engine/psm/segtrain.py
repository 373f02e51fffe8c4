"""Training the downstream nucleus network on pseudo-label targets (PSM stage D).

Training items are a fixed, seeded pool of crop windows (``windows_per_image`` random
windows per image). Each step draws a batch of windows, augments them (flips, 90-degree
rotations, and stain jitter in hematoxylin/eosin optical density space, so the network
generalises to other labs' staining) and minimises the strategy's class loss on the
nucleus channel (``erm``: ``BCE(nucleus, target; ignore 255)``) plus
``dist_weight * MSE(distance, target)`` on the pixels that are not ignored
(strategies: :mod:`.seg_strategies`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional, Sequence

import numpy as np
import torch

from ..models.ssl_net import normalise
from ..models.unet import CompactUNet
from ..progress import Reporter
from ..stain import HED_FROM_RGB, RGB_FROM_HED
from .pseudolabels import Targets
from .seg_strategies import class_targets, make_seg_strategy
from .step_runner import StepRunner


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
    windows_per_image: int = 64
    strategy: str = "erm"
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


class CropPool:
    """A fixed, seeded set of crop windows over the training images and their targets.

    Window ``i`` is an item for strategies that track samples (DAR's probe);
    :meth:`batch` returns augmented tensors for a list of window indices.
    """

    def __init__(self, images: Sequence[np.ndarray], targets: Sequence[Targets], crop: int,
                 per_image: int, rng: np.random.Generator, jitter: float = 0.0):
        self.images, self.targets, self.crop, self.jitter = images, targets, crop, jitter
        windows = []
        for j, img in enumerate(images):
            ys = rng.integers(0, img.shape[0] - crop + 1, size=per_image)
            xs = rng.integers(0, img.shape[1] - crop + 1, size=per_image)
            windows += [(j, int(y), int(x)) for y, x in zip(ys, xs)]
        self.windows = np.asarray(windows, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.windows)

    def class_counts(self) -> np.ndarray:
        """Background / nucleus pixel counts of the pseudo-labels (for reweighting)."""
        fg = [t.fg for t in self.targets]
        return np.array([sum(int((f == c).sum()) for f in fg) for c in (0, 1)])

    def arrays(self, idx: Sequence[int], rng: np.random.Generator):
        """Flipped/rotated crops: rgb uint8 (n,c,c,3), fg uint8 (n,c,c), dist (n,c,c)."""
        n, crop = len(idx), self.crop
        xs = np.empty((n, crop, crop, 3), np.uint8)
        fgs = np.empty((n, crop, crop), np.uint8)
        ds = np.empty((n, crop, crop), np.float32)
        for i, w in enumerate(idx):
            j, y, x = self.windows[w]
            img, tgt = self.images[j], self.targets[j]
            sl = (slice(y, y + crop), slice(x, x + crop))
            k = int(rng.integers(4))
            flip = bool(rng.integers(2))
            parts = [np.rot90(a, k) for a in (img[sl][..., :3], tgt.fg[sl], tgt.dist[sl])]
            if flip:
                parts = [a[:, ::-1] for a in parts]
            xs[i], fgs[i], ds[i] = parts
        return xs, fgs, ds

    def batch(self, idx: Sequence[int], rng: np.random.Generator, gen: torch.Generator,
              device: torch.device):
        """Network input (stain-jittered, normalised), pseudo-labels and distance targets."""
        xs, fgs, ds = self.arrays(idx, rng)
        x = normalise(stain_jitter(torch.from_numpy(xs).to(device), gen, self.jitter))
        return x, torch.from_numpy(fgs).to(device), torch.from_numpy(ds).to(device)


def train_segmentation(images: Sequence[np.ndarray], targets: Sequence[Targets],
                       config: Optional[SegTrainConfig] = None,
                       device: str | torch.device = "cpu",
                       reporter: Optional[Reporter] = None,
                       init: Optional[CompactUNet] = None) -> tuple[CompactUNet, dict]:
    """Train a :class:`CompactUNet` on pseudo-label targets with the configured
    strategy, from scratch or from the weights of ``init`` (same width and depth; it is
    not modified); returns the network and a log for the model card."""
    config = config or SegTrainConfig()
    reporter = reporter or Reporter()
    if not images or len(images) != len(targets):
        raise ValueError("need one target per training image")
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    device = torch.device(device)
    net = CompactUNet(width=config.width, depth=config.depth)
    if init is not None:
        try:
            net.load_state_dict(init.state_dict())
        except RuntimeError:
            raise ValueError(f"the starting network does not have width {config.width} and "
                             f"depth {config.depth}") from None
    net = net.to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr,
                                                total_steps=max(1, config.steps))
    pool = CropPool(images, targets, config.crop, config.windows_per_image, rng,
                    config.stain_jitter)
    strategy = make_seg_strategy(config.strategy, config.dist_weight)
    strategy.setup(net, pool, device, config.steps, config.seed)
    net.train()
    run = StepRunner(opt, sched, config.steps, reporter)
    for step in range(config.steps):
        idx = rng.integers(len(pool), size=config.batch)
        x, fg, dist = pool.batch(idx, rng, gen, device)
        loss = strategy.loss(step, idx, net(x), class_targets(fg), dist)
        run(step, loss, before_step=lambda s=step: strategy.before_step(s, net))
    net.eval()
    log = dict(run.log(device), config=asdict(config), strategy=strategy.describe())
    return net.cpu(), log
