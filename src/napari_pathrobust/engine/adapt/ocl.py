"""Output contrastive loss (OCL) for test-time adaptation of segmentation networks.

Per pixel the class probabilities are L2-normalised, ``z = softmax(s) / ||softmax(s)||``
(for a one-logit nucleus head the 2-class softmax of ``[0, l]``, i.e. ``[1-p, p]``).
The positive term pulls the views of a pixel together, ``-mean_i <z_i^a, z_i^b>``; the
negative term is the high-temperature limit of the InfoNCE denominator, the mean of
the all-pairs Gram matrix of one view, computed exactly in linear time as the squared
norm of the mean normalised prediction: ``(1/M^2) sum_ij <z_i, z_j> = ||mean_i z_i||^2``.
Weights 3 : 1 as in the released code.
"""

from __future__ import annotations

from itertools import combinations
from typing import Sequence

import torch


def normalised_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) logits -> L2-normalised class probabilities; C == 1 means a
    single sigmoid logit, treated as the 2-class softmax of ``[0, l]``."""
    if logits.shape[1] == 1:
        p = torch.sigmoid(logits)
        probs = torch.cat([1 - p, p], dim=1)
    else:
        probs = torch.softmax(logits, dim=1)
    return probs / probs.norm(dim=1, keepdim=True).clamp_min(1e-12)


def positive_term(views: Sequence[torch.Tensor]) -> torch.Tensor:
    """Minus the mean cosine between the aligned views of each pixel (over view pairs)."""
    terms = [-(a * b).sum(dim=1).mean() for a, b in combinations(views, 2)]
    return torch.stack(terms).mean()


def negative_term(views: Sequence[torch.Tensor], stride: int = 1) -> torch.Tensor:
    """Mean over views and images of ``||mean_i z_i||^2`` (pixels subsampled by stride)."""
    terms = []
    for z in views:
        zs = z[:, :, ::stride, ::stride]
        terms.append(zs.mean(dim=(2, 3)).pow(2).sum(dim=1).mean())
    return torch.stack(terms).mean()


def negative_term_all_pairs(views: Sequence[torch.Tensor], stride: int = 1) -> torch.Tensor:
    """The same negative term through the explicit M x M Gram matrix (for tests only)."""
    terms = []
    for z in views:
        for img in z[:, :, ::stride, ::stride]:
            flat = img.reshape(img.shape[0], -1)  # C x M
            terms.append((flat.T @ flat).mean())
    return torch.stack(terms).mean()


def ocl_loss(views: Sequence[torch.Tensor], pos_weight: float = 3.0, neg_weight: float = 1.0,
             stride: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, positive, negative) for aligned normalised predictions of >= 2 views."""
    if len(views) < 2:
        raise ValueError("OCL needs at least two views")
    pos = positive_term(views)
    neg = negative_term(views, stride)
    return pos_weight * pos + neg_weight * neg, pos, neg


def binary_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Mean per-pixel entropy of sigmoid(logits) (TENT's objective for a 1-logit head)."""
    p = torch.sigmoid(logits)
    return (torch.nn.functional.softplus(logits) - logits * p).mean()
