"""The fast CPU path of PSM (issue 18): same results, less work.

Folded batch norm and the ONNX Runtime engine must give torch's outputs; networks
changed in place are never served from a stale engine. No timing asserts here (see
benchmarks/bench_segment_cpu.py and benchmarks/bench_cpu_inference.py).
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from napari_pathrobust.engine.io import slide_from_array
from napari_pathrobust.engine.models.inference import (
    NetworkRunner,
    fold_batchnorm,
    onnxruntime_available,
)
from napari_pathrobust.engine.models.unet import CompactUNet
from napari_pathrobust.engine.registry import get_method
from napari_pathrobust.engine.synthetic import synthetic_he_tile
from napari_pathrobust.engine.tiled.pipeline import segment_slide

needs_ort = pytest.mark.skipif(not onnxruntime_available(), reason="onnxruntime not installed")


@pytest.fixture(scope="module")
def he_tile():
    return synthetic_he_tile(shape=(400, 400), seed=3)[0]


def _random_bn_unet(seed: int = 0) -> CompactUNet:
    torch.manual_seed(seed)
    net = CompactUNet(width=8, depth=3)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return net.eval()


def test_folded_batchnorm_gives_the_same_outputs():
    net = _random_bn_unet()
    folded = fold_batchnorm(net)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())  # a copy
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        np.testing.assert_allclose(folded(x).numpy(), net(x).numpy(), atol=1e-5)


@needs_ort
def test_onnxruntime_matches_torch_on_any_shape():
    net = _random_bn_unet(1)
    ort = NetworkRunner(net, torch.device("cpu"), "onnxruntime", threads=1)
    ref = NetworkRunner(net, torch.device("cpu"), "torch", threads=1)
    assert (ort.describe(), ref.describe()) == ("onnxruntime", "torch")
    for shape in ((1, 3, 64, 64), (2, 3, 40, 72)):  # dynamic batch and sides
        x = torch.rand(*shape)
        np.testing.assert_allclose(ort(x).numpy(), ref(x).numpy(), atol=1e-5)


@needs_ort
def test_psm_labels_equal_with_either_runtime(he_tile):
    slide = slide_from_array(he_tile)
    labels = {}
    for runtime in ("torch", "onnxruntime"):
        method = get_method("psm", device="cpu", maps=False, runtime=runtime)
        labels[runtime] = segment_slide(slide, method, workers=1).labels
        assert method.describe()["network_runtime"] == runtime
    assert labels["torch"].max() > 5
    np.testing.assert_array_equal(labels["torch"], labels["onnxruntime"])


def test_runtime_choices_are_checked():
    with pytest.raises(ValueError, match="runtime"):
        get_method("psm", runtime="tensorrt")
    net = _random_bn_unet()
    with pytest.raises(ValueError, match="CPU only"):
        NetworkRunner(net, torch.device("cpu"), "onnxruntime", amp_dtype=torch.bfloat16)
    auto = NetworkRunner(net, torch.device("cpu"), "auto", amp_dtype=torch.bfloat16)
    assert auto.describe() == "torch"  # reduced precision runs under torch autocast


def test_engine_follows_in_place_weight_changes(he_tile):
    method = get_method("psm", device="cpu", maps=False)
    before = method.network_outputs(he_tile)[0]
    with torch.no_grad():
        method.seg_net.out.bias.add_(5.0)  # e.g. test-time adaptation steps
    after = method.network_outputs(he_tile)[0]
    assert after.mean() > before.mean() + 0.1
    fresh = get_method("psm", device="cpu", maps=False)  # the file's weights again
    np.testing.assert_array_equal(fresh.network_outputs(he_tile)[0], before)


def test_psm_method_pickles_after_use(he_tile):
    method = get_method("psm", device="cpu", maps=False)
    method.fit(he_tile)
    labels = method.segment_tile(he_tile)
    clone = pickle.loads(pickle.dumps(method))
    np.testing.assert_array_equal(clone.segment_tile(he_tile), labels)
