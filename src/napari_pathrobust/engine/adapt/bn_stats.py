"""BatchNorm statistics re-estimation on the slide (AdaBN-style, no gradient).

Each BatchNorm layer's running mean and variance are re-measured on tiles of the slide
(train-mode forward passes, cumulative average over tiles, no gradient, no weight
touched) and mixed with the source statistics: ``weight`` is the share of the slide's.
Only the ``running_mean`` / ``running_var`` buffers change.
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn


def batchnorm_layers(model: nn.Module) -> list[nn.BatchNorm2d]:
    return [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]


@torch.no_grad()
def reestimate_bn(model: nn.Module, batches: Iterable[torch.Tensor], weight: float = 1.0
                  ) -> int:
    """Re-estimate ``model``'s BatchNorm statistics on ``batches`` (normalised network
    inputs) in place; returns the number of batches seen. ``model`` is left in eval mode."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError("weight must lie in [0, 1]")
    layers = batchnorm_layers(model)
    saved = [(m.running_mean.clone(), m.running_var.clone(), m.momentum,
              m.num_batches_tracked.clone() if m.num_batches_tracked is not None else None)
             for m in layers]
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches
    model.train()
    n = 0
    try:
        for x in batches:
            model(x)
            n += 1
    finally:
        model.eval()
        for m, (mean, var, momentum, tracked) in zip(layers, saved):
            m.momentum = momentum
            if n == 0:
                m.running_mean.copy_(mean)
                m.running_var.copy_(var)
            else:
                m.running_mean.mul_(weight).add_(mean, alpha=1 - weight)
                m.running_var.mul_(weight).add_(var, alpha=1 - weight)
            if tracked is not None:
                m.num_batches_tracked.copy_(tracked)
    return n
