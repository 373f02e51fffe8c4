"""Network batching across worker threads and reduced-precision inference (issue 8)."""

import pickle
import threading

import numpy as np
import pytest
import torch

from napari_pathrobust.engine.io import slide_from_array
from napari_pathrobust.engine.methods.psm import autocast_dtype
from napari_pathrobust.engine.metrics import aji
from napari_pathrobust.engine.models.batching import MicroBatcher
from napari_pathrobust.engine.registry import get_method
from napari_pathrobust.engine.synthetic import synthetic_he_tile
from napari_pathrobust.engine.tiled.pipeline import segment_slide


def _concurrent(batcher, inputs):
    results = [None] * len(inputs)
    barrier = threading.Barrier(len(inputs))

    def work(i):
        barrier.wait()
        results[i] = batcher(inputs[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


def test_micro_batcher_batches_concurrent_calls_and_returns_each_its_own():
    calls = []

    def fn(x):
        calls.append(len(x))
        return x * 2 + torch.arange(len(x)).view(-1, 1) * 0

    batcher = MicroBatcher(fn, max_batch=4, wait_s=0.5)
    inputs = [torch.full((1, 3), float(i)) for i in range(6)]
    out = _concurrent(batcher, inputs)
    for i, o in enumerate(out):
        assert torch.equal(o, inputs[i] * 2)
    assert sum(calls) == 6 and max(calls) > 1 and max(calls) <= 4
    assert sorted(batcher.batch_sizes) == sorted(calls)


def test_micro_batcher_keeps_shapes_apart_and_passes_errors_on():
    batcher = MicroBatcher(lambda x: x + 1, max_batch=4, wait_s=0.2)
    out = _concurrent(batcher, [torch.zeros(1, 2), torch.zeros(1, 3), torch.zeros(1, 2)])
    assert [o.shape[1] for o in out] == [2, 3, 2]

    def broken(x):
        raise RuntimeError("device lost")

    failing = MicroBatcher(broken, max_batch=2, wait_s=0.2)
    with pytest.raises(RuntimeError, match="device lost"):
        failing(torch.zeros(1, 2))


@pytest.fixture(scope="module")
def slide():
    rgb, truth = synthetic_he_tile(shape=(512, 512), seed=4, radius_range=(6, 11))
    return slide_from_array(rgb, name="synthetic"), truth


def _labels(slide, workers, **params):
    method = get_method("psm", device="cpu", maps=False, **params)
    return np.asarray(segment_slide(slide, method, tile=256, workers=workers).labels), method


def test_batched_tiles_give_the_same_labels(slide):
    image, _ = slide
    single, _ = _labels(image, 1)
    batched, method = _labels(image, 2, batch_tiles=4)
    assert np.array_equal(single, batched)
    assert sum(method.batcher.batch_sizes) >= 4        # every tile went through it
    pickle.loads(pickle.dumps(method))                  # the lock is not pickled


def test_bf16_inference_stays_within_tolerance(slide):
    image, truth = slide
    full, _ = _labels(image, 1, precision="fp32")
    half, method = _labels(image, 1, precision="bf16")
    assert method.describe()["network_dtype"] == "bfloat16"
    assert aji(full, half) > 0.95
    assert abs(aji(truth, half) - aji(truth, full)) < 0.02


def test_precision_choices():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert autocast_dtype("auto", cpu) is None and autocast_dtype("auto", cuda) == torch.float16
    assert autocast_dtype("bf16", cpu) == torch.bfloat16
    with pytest.raises(ValueError, match="needs a GPU"):
        autocast_dtype("fp16", cpu)
    with pytest.raises(ValueError, match="expected auto"):
        autocast_dtype("int8", cpu)
