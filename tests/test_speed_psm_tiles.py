"""Work PSM no longer does twice (issue 18): a small image is one tile whose network runs
once (the fit's result is reused), and the activation network is loaded only when maps
need it. No timing asserts (see benchmarks/bench_segment_cpu.py)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_pathrobust.engine.io import slide_from_array
from napari_pathrobust.engine.registry import get_method
from napari_pathrobust.engine.synthetic import synthetic_he_tile
from napari_pathrobust.engine.tiled.pipeline import segment_slide


@pytest.fixture(scope="module")
def he_tile():
    return synthetic_he_tile(shape=(400, 400), seed=3)[0]


def test_small_image_is_one_tile_and_runs_the_network_once():
    # before: a 1000 x 1000 image was cut into four 512-px tiles, and the network ran on
    # the whole image for the fit, then again on every tile window
    rgb = synthetic_he_tile(shape=(1000, 1000), seed=5)[0]
    method = get_method("psm", device="cpu", maps=False)
    psm = getattr(method, "psm", method)  # (the normalisation gate's squares: not here)
    calls = []
    original = psm._network
    psm._network = lambda x: calls.append(tuple(x.shape)) or original(x)
    result = segment_slide(slide_from_array(rgb), method, workers=2)
    assert result.info["n_tiles"] == 1
    assert calls == [(1, 3, 1000, 1000)]
    tiled = segment_slide(slide_from_array(rgb), get_method("psm", device="cpu", maps=False),
                          tile=512, workers=2)
    np.testing.assert_array_equal(result.labels, tiled.labels)


def test_activation_network_is_loaded_only_when_maps_need_it(he_tile):
    method = get_method("psm", device="cpu", maps=False)
    method.fit(he_tile)
    method.segment_tile(he_tile)
    assert method._activation is None
    assert method.describe()["model_hash"]["ssl"]  # still recorded for the run
    with_maps = get_method("psm", device="cpu", maps=True)
    assert set(with_maps.segment_tile(he_tile).maps) == {"activation", "pseudomask"}
