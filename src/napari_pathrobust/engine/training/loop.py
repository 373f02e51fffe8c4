"""Generic, seeded training loop shared by every training strategy (ERM, focal, GCE,
class reweighting, DAR) and by every network of the project.

Data go through a tiny protocol (:class:`TensorBatches` implements it): ``len(data)``,
``data.epoch(generator)`` yielding ``(idx, x, y)`` mini-batches, and ``data.take(idx)``.
Targets are integer class ids shaped ``(N,)`` (classification) or ``(N, H, W)``
(segmentation, ``-1`` = ignore); the model maps ``x`` to logits ``(N, C, ...)``.
"""

from __future__ import annotations

import time
import tracemalloc
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional

import numpy as np
import torch

from ..errors import InputError
from ..progress import Reporter
from .losses import IGNORE_INDEX, LossFn, get_loss, valid_mask

Transform = Callable[[torch.Tensor, torch.Tensor, torch.Generator],
                     tuple[torch.Tensor, torch.Tensor]]


class TensorBatches:
    """In-memory dataset: shuffled mini-batches of ``(idx, x, y)``, optional augmentation."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int = 64,
                 transform: Optional[Transform] = None, drop_last: bool = False):
        if len(x) != len(y) or len(x) == 0:
            raise InputError("data", f"x has {len(x)} samples, y has {len(y)} (need equal, > 0)")
        self.x, self.y = x, y.long()
        self.batch_size = int(batch_size)
        self.transform = transform
        self.drop_last = drop_last

    def __len__(self) -> int:
        return len(self.x)

    def epoch(self, gen: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor,
                                                            torch.Tensor]]:
        order = torch.randperm(len(self), generator=gen)
        stop = len(self) - (len(self) % self.batch_size if self.drop_last else 0)
        for start in range(0, stop, self.batch_size):
            idx = order[start:start + self.batch_size]
            x, y = self.take(idx)
            if self.transform is not None:
                x, y = self.transform(x, y, gen)
            yield idx, x, y

    def take(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[idx], self.y[idx]

    def class_counts(self, n_classes: int) -> np.ndarray:
        y = self.y[self.y != IGNORE_INDEX].reshape(-1)
        return torch.bincount(y, minlength=n_classes).numpy()


def masked_mean(per_elem: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean of an element-wise loss over the labelled elements."""
    valid = valid_mask(targets)
    return (per_elem * valid).sum() / valid.sum().clamp_min(1)


class Strategy:
    """Plain empirical risk minimisation with a named element-wise loss.

    ``loss``: ``ce`` (ERM), ``focal``, ``gce`` or ``reweight`` (inverse class frequency
    of the training labels). Subclasses override :meth:`step` and the hooks.
    """

    def __init__(self, loss: str = "ce", **loss_kwargs):
        self.loss_name = loss
        self.loss_kwargs = loss_kwargs
        self.loss_fn: Optional[LossFn] = None
        self.n_classes = 0

    @property
    def name(self) -> str:
        return {"ce": "erm", "reweight": "reweight"}.get(self.loss_name, self.loss_name)

    def setup(self, model: torch.nn.Module, data, n_classes: int, device: torch.device,
              gen: torch.Generator) -> None:
        self.n_classes = n_classes
        counts = data.class_counts(n_classes) if self.loss_name == "reweight" else None
        self.loss_fn = get_loss(self.loss_name, counts=counts, **self.loss_kwargs)

    def on_epoch_start(self, epoch: int, model: torch.nn.Module, data) -> None:
        pass

    def on_epoch_end(self, epoch: int, model: torch.nn.Module, data) -> dict:
        return {}

    def step(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
             idx: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> float:
        optimizer.zero_grad(set_to_none=True)
        loss = masked_mean(self.loss_fn(model(x), y), y)
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    def describe(self) -> dict:
        return {"strategy": self.name, "loss": self.loss_name, **self.loss_kwargs}


@dataclass
class TrainResult:
    """What :func:`train_model` did: per-epoch history and timings."""

    epochs: int
    seconds: float
    seconds_per_epoch: float
    history: list = field(default_factory=list)
    params: dict = field(default_factory=dict)


def make_optimizer(params, name: str, lr: float, momentum: float, weight_decay: float):
    """SGD (with momentum) or Adam over ``params``."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"optimizer {name!r}: expected sgd or adam")


def train_model(model: torch.nn.Module, data, strategy: Strategy, *, n_classes: int,
                epochs: int = 10, lr: float = 0.05, optimizer: str = "sgd",
                momentum: float = 0.9, weight_decay: float = 5e-4, seed: int = 0,
                device: torch.device | str = "cpu", reporter: Optional[Reporter] = None,
                trace_memory: bool = False) -> TrainResult:
    """Train ``model`` in place on ``data`` with ``strategy`` for ``epochs`` epochs.

    Seeded (``torch.manual_seed(seed)`` plus a private shuffling generator); progress is
    reported per mini-batch and cancellation (``reporter``) raises ``Cancelled``.
    Batches are moved to ``device``. With ``trace_memory`` the peak Python-heap memory
    of the loop (tracemalloc; torch tensor storage not counted) is stored in ``params``.
    """
    if epochs < 1:
        raise InputError("epochs", f"must be >= 1, got {epochs}")
    reporter = reporter or Reporter()
    device = torch.device(device)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model.to(device).train()
    opt = make_optimizer(model.parameters(), optimizer, lr, momentum, weight_decay)
    strategy.setup(model, data, n_classes, device, gen)
    n_batches = -(-len(data) // getattr(data, "batch_size", len(data)))
    total = epochs * n_batches
    history, done = [], 0
    if trace_memory:
        tracemalloc.start()
    t0 = time.perf_counter()
    try:
        for epoch in range(epochs):
            strategy.on_epoch_start(epoch, model, data)
            losses = []
            for idx, x, y in data.epoch(gen):
                losses.append(strategy.step(model, opt, idx, x.to(device), y.to(device)))
                done += 1
                reporter.report(min(done, total), total,
                                f"{strategy.name} epoch {epoch + 1}/{epochs}")
            record = {"epoch": epoch + 1, "loss": float(np.mean(losses)) if losses else 0.0}
            record.update(strategy.on_epoch_end(epoch, model, data))
            history.append(record)
        peak = tracemalloc.get_traced_memory()[1] if trace_memory else None
    finally:
        if trace_memory:
            tracemalloc.stop()
    seconds = time.perf_counter() - t0
    params = {"seed": seed, "epochs": epochs, "lr": lr, "optimizer": optimizer,
              "momentum": momentum, "weight_decay": weight_decay, "device": str(device),
              **strategy.describe()}
    if peak is not None:
        params["peak_traced_bytes"] = int(peak)
    return TrainResult(epochs, seconds, seconds / epochs, history, params)


@torch.no_grad()
def predict(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 512,
            device: torch.device | str = "cpu") -> torch.Tensor:
    """Arg-max class predictions of ``model`` on ``x`` (evaluation mode, batched)."""
    was_training = model.training
    model.eval()
    out = [model(x[i:i + batch_size].to(device)).argmax(1).cpu()
           for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(out)
