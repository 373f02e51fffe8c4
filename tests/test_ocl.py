"""Test-time adaptation (OCL / TENT / none): loss identity, restoration, adaptation,
collapse guard, CLI end to end. Small networks and tiles: fast on CPU."""

import csv
import warnings

import numpy as np
import pytest
import torch

from napari_pathrobust.engine.adapt import (
    AdaptConfig,
    TestTimeAdapter,
    apply_view,
    negative_term,
    negative_term_all_pairs,
    normalised_probabilities,
    ocl_loss,
    undo_view,
)
from napari_pathrobust.engine.models.unet import CompactUNet


def _net(seed=0):
    torch.manual_seed(seed)
    return CompactUNet(width=4, depth=2, outputs=2).eval()


def _all_pairs_infonce_limit(views):
    """Reference: per-pixel -<z_i^a, z_i^b> + mean_j <z_i, z_j> summed the slow way."""
    a, b = (v[0].reshape(v.shape[1], -1).T for v in views)  # M x C
    pos = -(a * b).sum(1).mean()
    neg = 0.5 * ((a @ a.T).mean() + (b @ b.T).mean())
    return 3 * pos + neg


def test_loss_equals_all_pairs_form():
    g = torch.Generator().manual_seed(0)
    for channels in (1, 3):
        logits = [torch.randn(1, channels, 5, 7, generator=g) for _ in range(2)]
        z = [normalised_probabilities(v) for v in logits]
        assert torch.allclose(z[0].norm(dim=1), torch.ones(1, 5, 7), atol=1e-6)
        loss, _, neg = ocl_loss(z)
        assert torch.allclose(loss, _all_pairs_infonce_limit(z), atol=1e-6)
        assert torch.allclose(neg, negative_term_all_pairs(z), atol=1e-6)
        for stride in (2, 3):
            assert torch.allclose(negative_term(z, stride), negative_term_all_pairs(z, stride),
                                  atol=1e-6)
    p = torch.sigmoid(logits[0][:, :1])  # one logit: the 2-class softmax of [0, l]
    soft = torch.softmax(torch.cat([torch.zeros_like(p), logits[0][:, :1]], 1), 1)
    assert torch.allclose(soft[:, 1:], p, atol=1e-6)


def test_views_round_trip():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    for v in ("identity", "hflip", "vflip", "rot90", "rot180", "rot270"):
        assert torch.equal(undo_view(apply_view(x, v), v), x)
    with pytest.raises(ValueError):
        AdaptConfig(views=("hflip", "vflip"))


def _params(net):
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def test_restoration_p1_returns_source_p0_changes_nothing():
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    for p in (1.0, 0.0):
        adapter = TestTimeAdapter(_net(), AdaptConfig(lr=0.5, restore_p=0.0, guard=False))
        adapter.adapt(x)
        adapted = _params(adapter.model)
        assert any(not torch.equal(adapted[k], adapter.source_state[k]) for k in adapted)
        adapter.restore(p)
        after = _params(adapter.model)
        for k in after:
            expect = adapter.source_state[k] if p == 1.0 else adapted[k]
            assert torch.equal(after[k], expect), (p, k)


def test_reset_and_none_keep_source():
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    none = TestTimeAdapter(_net(), AdaptConfig(method="none"))
    out = none.adapt(x)
    assert torch.allclose(out, _net()(x), atol=1e-6)
    adapter = TestTimeAdapter(_net(), AdaptConfig(lr=0.5, guard=False))
    adapter.adapt(x)
    adapter.reset()
    for k, v in _params(adapter.model).items():
        assert torch.equal(v, adapter.source_state[k])


def test_tent_adapts_only_batchnorm_affine():
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    adapter = TestTimeAdapter(_net(), AdaptConfig(method="tent", lr=0.5, guard=False))
    adapter.adapt(x)
    changed = {k for k, v in _params(adapter.model).items()
               if not torch.equal(v, adapter.source_state[k])}
    bn = {f"{name}.{p}" for name, m in adapter.model.named_modules()
          if isinstance(m, torch.nn.BatchNorm2d) for p in ("weight", "bias")}
    assert changed and changed <= bn, changed - bn
    assert np.isfinite(adapter.log[-1]["loss"])


def _mse_to(pred, target):
    return float(((pred - target) ** 2).mean())


def test_adaptation_moves_shifted_prediction_towards_unshifted():
    """BatchNorm calibrated on a clean synthetic tile (the source domain); the tile is
    then colour-shifted. OCL steps on the shifted tile bring the prediction closer to
    the clean one (constructed case; see docs/benchmarks.md for real tiles)."""
    from napari_pathrobust.engine.models.ssl_net import normalise
    from napari_pathrobust.engine.synthetic import synthetic_he_tile

    torch.manual_seed(0)
    net = CompactUNet(width=4, depth=2, outputs=1).eval()
    rgb, _ = synthetic_he_tile((64, 64), seed=3)
    clean = normalise(torch.from_numpy(rgb)[None])
    with torch.no_grad():
        net.train()
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.momentum = None
        net(clean)
        net.eval()
        target = torch.sigmoid(net(clean))
        shifted = clean * 0.6 + torch.tensor([0.3, -0.2, 0.1]).view(1, 3, 1, 1)
        before = _mse_to(torch.sigmoid(net(shifted)), target)
    adapter = TestTimeAdapter(net, AdaptConfig(method="ocl", lr=1e-3, steps=10,
                                               predict="post", restore_p=0.0, guard=False))
    after = _mse_to(torch.sigmoid(adapter.adapt(shifted)), target)
    assert after < 0.85 * before, (before, after)
    assert [r["step"] for r in adapter.log] == list(range(1, 11))


def test_collapse_guard_rolls_back():
    net = _net()
    adapter = TestTimeAdapter(net, AdaptConfig(lr=1e-4, max_drift=0.2))
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    adapter.adapt(x)
    assert adapter.rollbacks == 0
    with torch.no_grad():  # construct a collapse: everything becomes "nucleus"
        adapter.model.out.bias[0] += 100.0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = adapter.adapt(x)
    assert adapter.rollbacks == 1
    assert any("rolled back" in str(w.message) for w in caught)
    assert adapter.log[-1]["event"].startswith("rollback")
    assert torch.equal(adapter.model.out.bias, adapter.source_state["out.bias"])
    with torch.no_grad():
        assert torch.allclose(out, (net(x) + net(x.flip(-1)).flip(-1)) / 2, atol=1e-5)


@pytest.mark.slow
def test_tile_stream_adaptation_job_end_to_end(tmp_path):
    """The tile-stream (continual OCL) file job; ``pathrobust adapt`` now runs the
    slide-level default (tests/test_adapt_saved.py)."""
    from napari_pathrobust.engine.io import slide_from_array
    from napari_pathrobust.engine.jobs import JobOptions
    from napari_pathrobust.engine.jobs.adapt import adapt_to_files
    from napari_pathrobust.engine.synthetic import synthetic_he_tile

    rgb, _ = synthetic_he_tile((160, 160), seed=2)
    out = tmp_path / "out"
    result = adapt_to_files(slide_from_array(rgb, name="tile"), out,
                            AdaptConfig(method="ocl", steps=2, lr=1e-4),
                            JobOptions(method="psm", device="cpu", tile=96))
    assert result.n_nuclei >= 0
    names = {p.name for p in out.iterdir()}
    assert {"tile_labels.tif", "tile_points.csv", "tile.geojson", "tile_overlay.png",
            "tile_run.json", "tile_adapt_log.csv"} <= names
    rows = list(csv.DictReader(open(out / "tile_adapt_log.csv")))
    assert len(rows) >= 2 and all(float(r["fraction"]) >= 0 for r in rows)
