"""Loss strategies for training the downstream nucleus network (DAR issue, part b).

The U-Net's first output channel is a nucleus logit; as a two-class problem (background,
nucleus) its per-pixel cross-entropy equals the binary cross-entropy, so every strategy
of :mod:`..training` applies to it unchanged: ``erm`` (cross-entropy), ``focal``,
``gce``, ``reweight`` (inverse pixel frequency of the pseudo-labels) and ``dar``. The
distance channel is a regression on the same (noisy) pseudo-instances and keeps its
squared error under every strategy.

DAR on pixels (choices made a priori, documented in docs/dar.md):

* items are the fixed crop windows of the pool (:class:`CropPool`); during the warm-up
  (the first ``warmup`` fraction of the steps) every forward pass records each window's
  mean loss per class, and the probe is the ``probe_per_class`` windows per class with
  the lowest early loss (a background item keeps only its background pixels, a nucleus
  item only its nucleus pixels);
* the reference gradient is the gradient, at the current weights, of the class-balanced
  probe loss plus the distance term on the probe pixels, computed on a synchronised copy
  of the network so the main network's BatchNorm statistics are untouched;
* the update: per output unit (conv filter, norm element) of the encoder (contracting
  path) and the head (expanding path and output layer), a unit whose noisy gradient
  points against the reference (cosine < ``threshold``) takes the reference direction.
"""

from __future__ import annotations

import copy
from typing import Optional

import numpy as np
import torch

from ..training.dar import DARStrategy, balanced_loss
from ..training.losses import IGNORE_INDEX, get_loss
from ..training.probe import EarlyLossRecorder, probe_targets, sample_class_loss, select_probe
from .training_options import SEG_STRATEGIES

N_CLASSES = 2


def class_targets(fg: torch.Tensor) -> torch.Tensor:
    """Pseudo-label tensor in {0, 1, 255} -> class ids in {0, 1, IGNORE_INDEX}."""
    y = fg.long()
    return torch.where(y > 1, torch.full_like(y, IGNORE_INDEX), y)


def two_class_logits(out: torch.Tensor) -> torch.Tensor:
    """``(B, 2, H, W)`` logits (background fixed at 0) from the U-Net's nucleus channel."""
    logit = out[:, 0]
    return torch.stack([torch.zeros_like(logit), logit], dim=1)


class SegStrategy:
    """Loss strategy for the nucleus network: class loss by name + distance MSE."""

    def __init__(self, name: str = "erm", dist_weight: float = 1.0, **loss_kwargs):
        if name not in SEG_STRATEGIES:
            raise ValueError(f"strategy {name!r}: expected one of {', '.join(SEG_STRATEGIES)}")
        self.name = name
        self.dist_weight = float(dist_weight)
        self.loss_kwargs = loss_kwargs
        self.loss_fn = None

    def setup(self, net: torch.nn.Module, pool, device: torch.device, steps: int,
              seed: int) -> None:
        loss = {"erm": "ce", "dar": "ce"}.get(self.name, self.name)
        counts = pool.class_counts() if loss == "reweight" else None
        self.loss_fn = get_loss(loss, counts=counts, **self.loss_kwargs)

    def pixel_loss(self, out: torch.Tensor, y: torch.Tensor, dist: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-pixel class loss and distance loss (both 0 on ignored pixels)."""
        valid = y != IGNORE_INDEX
        cls = self.loss_fn(two_class_logits(out), y)
        mse = (torch.sigmoid(out[:, 1]) - dist) ** 2 * valid
        return cls, mse

    def loss(self, step: int, idx: np.ndarray, out: torch.Tensor, y: torch.Tensor,
             dist: torch.Tensor) -> torch.Tensor:
        """Mean over the labelled pixels of class loss + ``dist_weight`` * distance loss."""
        cls, mse = self.pixel_loss(out, y, dist)
        valid = (y != IGNORE_INDEX).sum().clamp_min(1)
        return (cls + self.dist_weight * mse).sum() / valid

    def before_step(self, step: int, net: torch.nn.Module) -> None:
        """Hook between ``backward`` and the optimiser step (DAR rectifies here)."""

    def describe(self) -> dict:
        return {"strategy": self.name, **self.loss_kwargs}


class DenseDAR(SegStrategy):
    """DAR for the nucleus network (see the module docstring)."""

    def __init__(self, dist_weight: float = 1.0, warmup: float = 0.25,
                 probe_per_class: int = 16, probe_batch: int = 8,
                 threshold: tuple[float, float] = (0.0, 0.0),
                 rule: str = "reference"):
        super().__init__("dar", dist_weight)
        self.warmup = float(warmup)
        self.probe_per_class = int(probe_per_class)
        self.probe_batch = int(probe_batch)
        self.dar = DARStrategy(crucial=(0.0, 0.0), encoder_rule=rule, head_rule=rule,
                               threshold=threshold, probe_filter="none")
        self.probe: Optional[tuple[np.ndarray, np.ndarray]] = None
        self.history: list[dict] = []

    def setup(self, net, pool, device, steps, seed) -> None:
        super().setup(net, pool, device, steps, seed)
        self.pool, self.device = pool, device
        self.warmup_steps = max(1, int(round(self.warmup * steps)))
        self.recorder = EarlyLossRecorder(len(pool), N_CLASSES)
        self.rng = np.random.default_rng(seed + 7919)   # probe stream; ERM's stays the same
        self.gen = torch.Generator().manual_seed(seed + 7919)
        self.dar.bind(net, N_CLASSES)

    def loss(self, step, idx, out, y, dist) -> torch.Tensor:
        if step < self.warmup_steps:
            cls = self.loss_fn(two_class_logits(out), y)
            self.recorder.add(torch.as_tensor(idx), sample_class_loss(cls, y, N_CLASSES))
        return super().loss(step, idx, out, y, dist)

    def _select_probe(self, net: torch.nn.Module) -> None:
        self.probe = select_probe(self.recorder.mean(), self.probe_per_class)
        self.aux = copy.deepcopy(net)

    def reference_gradients(self, net: torch.nn.Module) -> list[torch.Tensor]:
        """Gradient of the balanced probe loss at the main network's weights."""
        self.aux.load_state_dict(net.state_dict())
        self.aux.train()
        items, classes = self.probe
        pick = self.rng.choice(len(items), size=min(self.probe_batch, len(items)),
                               replace=False)
        x, fg, dist = self.pool.batch(items[pick], self.rng, self.gen, self.device)
        y = probe_targets(class_targets(fg), torch.as_tensor(classes[pick]))
        out = self.aux(x)
        cls, mse = self.pixel_loss(out, y, dist)
        valid = (y != IGNORE_INDEX).sum().clamp_min(1)
        loss = balanced_loss(cls, y, N_CLASSES) + self.dist_weight * mse.sum() / valid
        grads = torch.autograd.grad(loss, list(self.aux.parameters()), allow_unused=True)
        return [torch.zeros_like(p) if g is None else g
                for p, g in zip(self.aux.parameters(), grads)]

    def before_step(self, step, net) -> None:
        if step < self.warmup_steps:
            return
        if self.probe is None:
            self._select_probe(net)
        ref = self.reference_gradients(net)
        omegas = self.dar.apply_rectification(list(net.parameters()), ref)
        if (step - self.warmup_steps) % 50 == 0:   # a record every 50 DAR steps
            self.history.append({"step": step, **self.dar.pop_rectified(),
                                 "mean_omega": float(torch.cat(omegas).mean())})

    def describe(self) -> dict:
        return {"strategy": "dar", "warmup": self.warmup,
                "probe_per_class": self.probe_per_class, "probe_batch": self.probe_batch,
                "threshold": list(self.dar.threshold), "rule": self.dar.rules[0],
                "probe_items": None if self.probe is None else int(len(self.probe[0])),
                "rectified": self.history[-5:]}


def make_seg_strategy(name: str, dist_weight: float = 1.0) -> SegStrategy:
    """The strategy ``name`` (one of :data:`SEG_STRATEGIES`) for the nucleus network."""
    if name == "dar":
        return DenseDAR(dist_weight=dist_weight)
    return SegStrategy(name, dist_weight)
