"""Gradient test-time objectives on a slide's sample tiles: TENT (entropy of the
nucleus head, BatchNorm affine parameters only) and OCL (output contrastive loss over
flip views, every parameter, the landed settings). Both run ``epochs`` passes over the
tiles in a seeded order and leave the network in eval mode."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .ocl import binary_entropy, normalised_probabilities, ocl_loss
from .views import apply_view, undo_view

#: SGD learning rates (momentum 0.9); OCL's is the landed default
OBJECTIVE_LR = {"tent": 1e-3, "ocl": 1e-4}


def _trainable(model: nn.Module, objective: str) -> list[nn.Parameter]:
    model.requires_grad_(False)
    if objective == "ocl":
        model.requires_grad_(True)
        return list(model.parameters())
    params = []
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.requires_grad_(True)
            params += [m.weight, m.bias]
    return params


def optimise(model: nn.Module, tiles: Sequence[torch.Tensor], objective: str,
             epochs: int = 1, lr: float | None = None, seed: int = 0,
             channel: int = 0) -> list[float]:
    """Adapt ``model`` in place on ``tiles`` (normalised inputs); per-step losses."""
    if objective not in OBJECTIVE_LR:
        raise ValueError(f"unknown objective {objective!r}")
    params = _trainable(model, objective)
    opt = torch.optim.SGD(params, lr=OBJECTIVE_LR[objective] if lr is None else lr,
                          momentum=0.9, weight_decay=5e-4 if objective == "ocl" else 0.0)
    gen = torch.Generator().manual_seed(seed)
    model.eval()
    losses = []
    for _ in range(epochs):
        for i in torch.randperm(len(tiles), generator=gen).tolist():
            x = tiles[i]
            if objective == "tent":
                loss = binary_entropy(model(x)[:, channel:channel + 1])
            else:
                views = [undo_view(model(apply_view(x, v)), v)[:, channel:channel + 1]
                         for v in ("identity", "hflip")]
                loss = ocl_loss([normalised_probabilities(v) for v in views])[0]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
    model.requires_grad_(False)
    return losses
