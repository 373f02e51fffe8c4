"""DAR strategy: probe selection, Omega, ERM reduction, and a noisy long-tail toy problem."""

import numpy as np
import pytest
import torch
from torch import nn

from napari_pathrobust.engine.errors import Cancelled
from napari_pathrobust.engine.progress import Reporter
from napari_pathrobust.engine.training import (
    DARStrategy,
    TensorBatches,
    get_strategy,
    predict,
    split_parameters,
    train_model,
)
from napari_pathrobust.engine.training.dar import rectify, unit_cosine
from napari_pathrobust.engine.training.noise import (
    balanced_accuracy,
    long_tail_indices,
    symmetric_noise,
)
from napari_pathrobust.engine.training.probe import (
    knn_label_agreement,
    sample_class_loss,
    select_probe,
)


class Net(nn.Module):
    def __init__(self, d=2, c=4, h=32):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU())
        self.head = nn.Linear(h, c)

    def forward(self, x):
        return self.head(self.encoder(x))


def test_probe_is_class_balanced_lowest_loss():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], [50, 20, 8])
    loss = np.full((len(labels), 3), np.nan)
    loss[np.arange(len(labels)), labels] = rng.random(len(labels))
    samples, classes = select_probe(loss, n_per_class=5)
    assert np.bincount(classes).tolist() == [5, 5, 5]
    for c in range(3):
        own = np.flatnonzero(labels == c)
        lowest = own[np.argsort(loss[own, c])[:5]]
        assert set(samples[classes == c]) == set(lowest)
    # the rarest class caps the per-class count
    s2, c2 = select_probe(loss, n_per_class=30)
    assert np.bincount(c2).tolist() == [8, 8, 8]


def test_sample_class_loss_per_pixel():
    per = torch.tensor([[[1.0, 3.0], [5.0, 0.0]]])
    y = torch.tensor([[[0, 0], [1, -1]]])
    out = sample_class_loss(per, y, 3)
    assert out[0, 0] == 2.0 and out[0, 1] == 5.0 and torch.isnan(out[0, 2])


def test_omega_shape_range_and_erm_reduction():
    g = torch.Generator().manual_seed(0)
    grad = torch.randn(6, 3, 3, 3, generator=g)
    ref = torch.randn(6, 3, 3, 3, generator=g)
    omega = unit_cosine(grad, ref)
    assert omega.shape == (6,)                      # one value per output filter
    assert torch.all(omega.abs() <= 1 + 1e-6)
    assert torch.allclose(unit_cosine(grad, -grad), -torch.ones(6))
    theta = torch.randn(6, 3, 3, 3, generator=g)
    for rule in ("reverse", "project", "reference", "zero"):
        d, om, fix = rectify(grad, grad.clone(), theta, 0.0, rule, threshold=1.0)
        assert torch.equal(d, grad) and not fix.any()
        d, om, fix = rectify(grad, -grad, theta, 0.0, rule, threshold=0.0)
        assert fix.all()
    d, _, _ = rectify(grad, ref, theta, 0.0, "project", threshold=0.0)
    assert torch.all(unit_cosine(d, ref) >= -1e-5)


def _toy(seed=0, n=600, noise=0.4, imbalance=0.1):
    rng = np.random.default_rng(seed)
    centers = np.array([[2.0, 0], [0, 2.0], [-2.0, 0], [0, -2.0]])
    y = np.repeat(np.arange(4), n)
    x = centers[y] + rng.normal(0, 0.9, (len(y), 2))
    keep = long_tail_indices(y, imbalance, rng, n_max=n)
    ytr = symmetric_noise(y[keep], noise, 4, rng)
    yte = np.repeat(np.arange(4), 200)
    xte = centers[yte] + rng.normal(0, 0.9, (len(yte), 2))
    t = torch.from_numpy
    return t(x[keep]).float(), t(ytr), t(xte).float(), yte


def _fit(strategy, seed, x, y, epochs=40):
    torch.manual_seed(seed)
    model = Net()
    data = TensorBatches(x, y, batch_size=64)
    train_model(model, data, strategy, n_classes=4, epochs=epochs, lr=0.05, seed=seed)
    return model


def test_dar_with_identical_reference_equals_erm():
    x, y, _, _ = _toy()
    a = _fit(get_strategy("erm"), 0, x, y, epochs=3)

    class SameRef(DARStrategy):
        def reference_gradients(self, model):   # reference = the main gradient itself
            return [p.grad.detach().clone() for p in model.parameters()]

    b = _fit(SameRef(warmup_epochs=1), 0, x, y, epochs=3)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.allclose(pa, pb, atol=1e-6)


@pytest.fixture
def one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)          # tiny models: threads only add overhead
    yield
    torch.set_num_threads(old)


@pytest.mark.slow
def test_dar_beats_erm_on_noisy_long_tail_toy(one_thread):
    gains = []
    for seed in (0, 1, 2):
        x, y, xte, yte = _toy(seed)
        accs = []
        for strat in (get_strategy("erm"), get_strategy("dar", warmup_epochs=10)):
            model = _fit(strat, seed, x, y, epochs=20)
            accs.append(balanced_accuracy(yte, predict(model, xte).numpy(), 4))
        gains.append(accs[1] - accs[0])
    # default settings but warm-up 10 of 20 epochs: gains 0.6 / 3.7 / 0.9 points
    assert min(gains) > 0 and np.mean(gains) > 0.01, gains


def test_split_parameters_and_loop_reporting():
    net = Net()
    enc, head = split_parameters(net)
    assert len(enc) == 4 and len(head) == 2
    plain = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2))
    enc2, head2 = split_parameters(plain)
    assert head2[0] is plain[2].weight and len(enc2) == 2
    x, y, _, _ = _toy()
    seen = []
    rep = Reporter(progress=lambda d, t, m: seen.append((d, t)))
    res = train_model(Net(), TensorBatches(x, y, 64), get_strategy("dar", warmup_epochs=1),
                      n_classes=4, epochs=2, seed=3, reporter=rep)
    assert seen[-1][0] == seen[-1][1] and res.history[-1]["phase"] == "dar"
    assert res.params["strategy"] == "dar" and res.params["seed"] == 3
    with pytest.raises(Cancelled):
        train_model(Net(), TensorBatches(x, y, 64), get_strategy("erm"), n_classes=4,
                    epochs=2, reporter=Reporter(cancel=lambda: True))


def test_segmentation_shapes_run():
    class Seg(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
            self.head = nn.Conv2d(8, 2, 1)

        def forward(self, x):
            return self.head(self.encoder(x))

    g = torch.Generator().manual_seed(0)
    x = torch.rand(12, 3, 16, 16, generator=g)
    y = (x[:, 0] > 0.7).long()
    y[:, 0, 0] = -1
    for name in ("erm", "focal", "gce", "reweight", "dar"):
        kw = {"warmup_epochs": 1, "probe_per_class": 3} if name == "dar" else {}
        res = train_model(Seg(), TensorBatches(x, y, 4), get_strategy(name, **kw),
                          n_classes=2, epochs=2, seed=0)
        assert np.isfinite(res.history[-1]["loss"])


def test_knn_label_agreement_flags_flipped_labels():
    rng = np.random.default_rng(0)
    feats = np.concatenate([rng.normal(0, 0.3, (40, 3)), rng.normal(5, 0.3, (40, 3))])
    labels = np.repeat([0, 1], 40)
    labels[[3, 50]] = [1, 0]                     # two flipped labels
    agree = knn_label_agreement(feats, labels, k=8)
    assert agree.shape == (80,)
    assert agree[3] <= 0.125 and agree[50] <= 0.125
    others = np.setdiff1d(np.arange(80), [3, 50])
    assert agree[others].min() >= 0.75


def test_select_probe_with_trust_adapts_per_class_and_drops_unreliable():
    labels = np.repeat([0, 1, 2], [30, 10, 6])
    loss = np.full((len(labels), 3), np.nan)
    loss[np.arange(len(labels)), labels] = np.linspace(0, 1, len(labels))
    trust = np.ones(len(labels))
    trust[30:37] = 0.1                           # class 1: only 3 trusted items
    trust[40:45] = 0.2                           # class 2: only 1 trusted item
    s, c = select_probe(loss, 5, trust, min_trust=0.5, min_items=2)
    assert np.bincount(c, minlength=3).tolist() == [5, 3, 0]
    assert np.all(trust[s] >= 0.5)
    assert set(s[c == 1]) == {37, 38, 39}
    s2, c2 = select_probe(loss, 5, trust, min_trust=0.5, min_items=1)
    assert np.bincount(c2, minlength=3).tolist() == [5, 3, 1] and s2[c2 == 2][0] == 45


def test_rectify_keep_forces_plain_gradient():
    g = torch.Generator().manual_seed(1)
    grad, ref, theta = (torch.randn(4, 5, generator=g) for _ in range(3))
    keep = torch.tensor([False, True, False, False])
    d, _, fix = rectify(grad, -grad, theta, 0.0, "reference", threshold=1.0, keep=keep)
    assert torch.equal(d[1], grad[1]) and not fix[1]
    assert torch.equal(d[[0, 2, 3]], -grad[[0, 2, 3]]) and fix[[0, 2, 3]].all()


def test_unreliable_class_rows_take_erm_gradient():
    x, y, _, _ = _toy()
    strat = get_strategy("dar", warmup_epochs=1)
    net = Net()
    train_model(net, TensorBatches(x, y, 64), strat, n_classes=4, epochs=2, seed=0)
    strat.reliable = np.array([True, False, True, True])
    params = list(net.parameters())
    g = torch.Generator().manual_seed(2)
    for p in params:
        p.grad = torch.randn(p.shape, generator=g)
    grads = [p.grad.clone() for p in params]
    ref = [torch.randn(p.shape, generator=g) for p in params]
    strat.apply_rectification(params, ref)
    w, b = net.head.weight, net.head.bias          # head rule "reference", threshold 1
    iw, ib = [next(i for i, p in enumerate(params) if p is q) for q in (w, b)]
    assert torch.equal(w.grad[1], grads[iw][1]) and torch.equal(b.grad[1], grads[ib][1])
    for row in (0, 2, 3):
        assert torch.equal(w.grad[row], ref[iw][row])


def test_dar_without_reliable_probe_is_erm():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 2, generator=g)
    y = torch.randint(0, 4, (200,), generator=g)      # labels carry no signal
    a = _fit(get_strategy("erm"), 0, x, y, epochs=3)
    strat = get_strategy("dar", warmup_epochs=1, probe_filter="knn", min_trust=0.9)
    b = _fit(strat, 0, x, y, epochs=3)
    assert strat.reliable.sum() == 0
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.allclose(pa, pb, atol=1e-6)
