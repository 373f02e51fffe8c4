"""Training strategies (ERM, focal, GCE, reweighting, DAR) for the nucleus network."""

import numpy as np
import pytest
import torch

from napari_pathrobust.engine.psm.pseudolabels import IGNORE, build_targets
from napari_pathrobust.engine.psm.seg_strategies import (
    DenseDAR,
    SegStrategy,
    class_targets,
    two_class_logits,
)
from napari_pathrobust.engine.psm.segtrain import CropPool, SegTrainConfig, train_segmentation
from napari_pathrobust.engine.synthetic import synthetic_he_tile


@pytest.fixture(scope="module")
def data():
    rgb, truth = synthetic_he_tile(shape=(160, 160), seed=1, radius_range=(6, 10))
    return [rgb], [build_targets(truth > 0)]


def test_two_class_cross_entropy_is_the_binary_one():
    out = torch.randn(2, 2, 8, 8)
    fg = torch.randint(0, 2, (2, 8, 8), dtype=torch.uint8)
    fg[0, 0, :3] = IGNORE
    y = class_targets(fg)
    assert (y[0, 0, :3] == -1).all()
    cls, _ = _erm().pixel_loss(out, y, torch.zeros(2, 8, 8))
    bce = torch.nn.functional.binary_cross_entropy_with_logits(
        out[:, 0], (fg == 1).float(), reduction="none")
    valid = y != -1
    assert torch.allclose(cls[valid], bce[valid], atol=1e-6)
    assert (cls[~valid] == 0).all()
    assert torch.equal(two_class_logits(out)[:, 0], torch.zeros(2, 8, 8))


def _erm():
    s = SegStrategy("erm")
    s.setup(None, None, torch.device("cpu"), 1, 0)
    return s


def test_crop_pool_is_seeded_and_in_bounds(data):
    images, targets = data
    a = CropPool(images, targets, 64, 10, np.random.default_rng(3))
    b = CropPool(images, targets, 64, 10, np.random.default_rng(3))
    assert np.array_equal(a.windows, b.windows) and len(a) == 10
    assert (a.windows[:, 1:] >= 0).all() and (a.windows[:, 1:] <= 160 - 64).all()
    x, fg, dist = a.batch([0, 3], np.random.default_rng(0), torch.Generator(), "cpu")
    assert x.shape == (2, 3, 64, 64) and fg.shape == dist.shape == (2, 64, 64)
    counts = a.class_counts()
    assert counts[0] > counts[1] > 0


@pytest.mark.parametrize("name", ["erm", "focal", "gce", "reweight", "dar"])
def test_every_strategy_trains_and_is_recorded(data, name):
    images, targets = data
    cfg = SegTrainConfig(steps=4, batch=2, crop=64, width=4, depth=2, windows_per_image=6,
                         strategy=name)
    net, log = train_segmentation(images, targets, cfg)
    assert log["strategy"]["strategy"] == name and log["config"]["strategy"] == name
    assert np.isfinite(log["final_loss"])
    again, _ = train_segmentation(images, targets, cfg)
    for p, q in zip(net.state_dict().values(), again.state_dict().values()):
        assert torch.equal(p, q)       # seeded, DAR's probe stream included


def test_dense_dar_probe_is_class_balanced_from_lowest_early_loss(data, monkeypatch):
    import napari_pathrobust.engine.psm.segtrain as segtrain

    images, targets = data
    cfg = SegTrainConfig(steps=6, batch=3, crop=64, width=4, depth=2, windows_per_image=12,
                         strategy="dar")
    strategy = DenseDAR(warmup=0.5, probe_per_class=3, probe_batch=2)
    monkeypatch.setattr(segtrain, "make_seg_strategy", lambda name, dist_weight: strategy)
    train_segmentation(images, targets, cfg)
    items, classes = strategy.probe
    assert np.bincount(classes, minlength=2).tolist() == [3, 3]
    early = strategy.recorder.mean()
    for c in (0, 1):
        seen = np.flatnonzero(np.isfinite(early[:, c]))
        chosen = items[classes == c]
        worst_chosen = early[chosen, c].max()
        others = np.setdiff1d(seen, chosen)
        assert not len(others) or worst_chosen <= early[others, c].min()
    assert strategy.history and 0 <= strategy.history[0]["rectified_encoder"] <= 1


def test_dense_dar_with_reference_equal_to_gradient_is_erm(data):
    """Rectification leaves a gradient alone where the reference agrees with it."""
    images, targets = data
    from napari_pathrobust.engine.models.unet import CompactUNet

    torch.manual_seed(0)
    net = CompactUNet(width=4, depth=2)
    pool = CropPool(images, targets, 64, 4, np.random.default_rng(0))
    dar = DenseDAR()
    dar.setup(net, pool, torch.device("cpu"), 10, 0)
    x, fg, dist = pool.batch([0, 1], np.random.default_rng(0), torch.Generator(), "cpu")
    dar.loss(5, np.array([0, 1]), net(x), class_targets(fg), dist).backward()
    before = [p.grad.clone() for p in net.parameters()]
    omegas = dar.dar.apply_rectification(list(net.parameters()), before)
    assert all(torch.allclose(o, torch.ones_like(o)) for o in omegas)
    assert all(torch.equal(p.grad, g) for p, g in zip(net.parameters(), before))
