"""Element-wise losses and noise / imbalance injection utilities."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from napari_pathrobust.engine.training.losses import (
    class_weights,
    cross_entropy,
    focal_loss,
    gce_loss,
    get_loss,
)
from napari_pathrobust.engine.training.noise import (
    balanced_accuracy,
    long_tail_counts,
    long_tail_indices,
    symmetric_noise,
)


def test_cross_entropy_matches_torch_and_ignores():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 4, 5, generator=g)
    y = torch.randint(0, 3, (2, 4, 5), generator=g)
    y[0, 0, 0] = -1
    ours = cross_entropy(logits, y)
    ref = F.cross_entropy(logits, y, ignore_index=-1, reduction="none")
    assert ours.shape == y.shape
    assert torch.allclose(ours, ref, atol=1e-6)
    assert ours[0, 0, 0] == 0


def test_focal_gamma0_is_ce_and_downweights_easy():
    logits = torch.tensor([[4.0, 0.0], [0.2, 0.0]])
    y = torch.tensor([0, 0])
    assert torch.allclose(focal_loss(logits, y, gamma=0.0), cross_entropy(logits, y))
    ratio = focal_loss(logits, y, gamma=2.0) / cross_entropy(logits, y)
    assert ratio[0] < 0.01 < ratio[1]


def test_gce_bounded_and_limits():
    logits = torch.tensor([[-20.0, 20.0], [20.0, -20.0]])
    y = torch.tensor([0, 0])
    loss = gce_loss(logits, y, q=0.7)
    assert loss[0] <= 1 / 0.7 + 1e-6 and loss[1] < 1e-6
    # q -> 0 approaches CE
    mid = torch.tensor([[0.3, 0.1]])
    assert torch.allclose(gce_loss(mid, torch.tensor([0]), q=1e-4),
                          cross_entropy(mid, torch.tensor([0])), atol=1e-3)
    with pytest.raises(ValueError):
        gce_loss(mid, torch.tensor([0]), q=0.0)


def test_class_weights_inverse_frequency():
    w = class_weights([100, 10, 0])
    assert w[2] == 0
    assert torch.isclose(w[1] / w[0], torch.tensor(10.0))
    assert torch.isclose(w[:2].mean(), torch.tensor(1.0))
    rw = get_loss("reweight", counts=[100, 10])
    logits = torch.zeros(2, 2)
    out = rw(logits, torch.tensor([0, 1]))
    assert out[1] / out[0] == pytest.approx(10.0, rel=1e-5)
    with pytest.raises(ValueError):
        get_loss("reweight")


def test_long_tail_and_symmetric_noise():
    counts = long_tail_counts(100, 5, 0.02)
    assert counts[0] == 100 and counts[-1] == 2 and np.all(np.diff(counts) <= 0)
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(5), 200)
    keep = long_tail_indices(y, 0.1, rng, n_max=150)
    assert np.bincount(y[keep]).tolist() == long_tail_counts(150, 5, 0.1).tolist()
    big = np.repeat(np.arange(4), 5000)
    noisy = symmetric_noise(big, 0.4, 4, np.random.default_rng(1))
    flipped = noisy != big
    assert abs(flipped.mean() - 0.4) < 0.02
    # flips go to the other classes uniformly
    share = np.bincount(noisy[flipped & (big == 0)], minlength=4)[1:]
    assert share.min() / share.max() > 0.85
    assert balanced_accuracy(np.array([0, 0, 0, 1]), np.array([0, 0, 0, 0]), 2) == 0.5
