"""Corruptions: determinism, change, shape/dtype, monotone severity, batching, tiling."""

import numpy as np
import pytest

from napari_pathrobust.engine.corrupt import (
    BENCHMARK_KINDS,
    available_corruptions,
    corrupt,
    corrupt_batch,
    corrupt_tiled,
    get_corruption,
    severity_table_markdown,
)
from napari_pathrobust.engine.corrupt.photometric import rgb_to_hsv
from napari_pathrobust.engine.synthetic import synthetic_he_tile

KINDS = available_corruptions()


@pytest.fixture(scope="module")
def tile():
    rgb, _ = synthetic_he_tile((160, 192), seed=3)
    return rgb


def test_catalogue_has_the_11_benchmark_kinds():
    assert list(BENCHMARK_KINDS) == ["brightness", "contrast", "saturation", "hue", "defocus",
                                     "resolution", "markup", "deformation", "incompleteness",
                                     "rotation", "flipping"]
    assert {"stain_shift", "jpeg", "motion_blur", "air_bubbles", "sensor_noise",
            "uneven_illumination", "tissue_fold"} <= set(KINDS)
    assert all(len(get_corruption(k).severities) == 5 for k in KINDS)
    assert severity_table_markdown().count("\n") == len(KINDS) + 1
    with pytest.raises(ValueError, match="unknown corruption"):
        get_corruption("nope")
    with pytest.raises(ValueError, match="severity"):
        get_corruption("hue").params(6)


@pytest.mark.parametrize("kind", KINDS)
def test_deterministic_changed_shape_dtype(tile, kind):
    a = corrupt(tile, kind, 1, seed=5, device="cpu")
    b = corrupt(tile, kind, 1, seed=5, device="cpu")
    assert a.shape == tile.shape and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - tile).sum() > 0  # severity 1 is not the identity
    c = corrupt(tile, kind, 5, seed=5, device="cpu")
    assert c.shape == tile.shape and c.dtype == np.uint8


def _hf(img):
    g = img.astype(float).mean(-1)
    return float((np.diff(g, axis=0) ** 2).mean() + (np.diff(g, axis=1) ** 2).mean())


def _mean_hue_shift(a, b):
    import torch

    def hue(x):
        t = torch.as_tensor(x).permute(2, 0, 1)[None].float() / 255
        return rgb_to_hsv(t)[0].numpy().ravel()
    d = (hue(b) - hue(a) + 0.5) % 1.0 - 0.5
    return float(np.abs(d).mean())


STATS = {
    "defocus": lambda o, x: -_hf(o), "resolution": lambda o, x: -_hf(o),
    "motion_blur": lambda o, x: -_hf(o), "sensor_noise": lambda o, x: _hf(o),
    "hue": lambda o, x: _mean_hue_shift(x, o),
    "brightness": lambda o, x: o.mean(), "contrast": lambda o, x: -o.astype(float).std(),
    "markup": lambda o, x: (np.abs(o.astype(int) - x).sum(-1) > 12).mean(),
    "incompleteness": lambda o, x: (np.abs(o.astype(int) - x).sum(-1) > 12).mean(),
    "air_bubbles": lambda o, x: np.abs(o.astype(int) - x).mean(),
    "tissue_fold": lambda o, x: (np.abs(o.astype(int) - x).sum(-1) > 12).mean(),
    "deformation": lambda o, x: np.abs(o.astype(int) - x).mean(),
    "rotation": lambda o, x: np.abs(o.astype(int) - x).mean(),
    "saturation": lambda o, x: rgb_to_hsv(
        __import__("torch").as_tensor(o).permute(2, 0, 1)[None].float() / 255)[1].mean().item(),
    "jpeg": lambda o, x: np.abs(o.astype(int) - x).mean(),
    "stain_shift": lambda o, x: np.abs(o.astype(int) - x).mean(),
    "uneven_illumination": lambda o, x: np.abs(o.astype(int) - x).mean(),
}


@pytest.mark.parametrize("kind", sorted(STATS))
def test_monotone_in_severity(tile, kind):
    vals = [STATS[kind](corrupt(tile, kind, s, seed=2, device="cpu"), tile) for s in range(1, 6)]
    assert all(b >= a - 1e-9 for a, b in zip(vals, vals[1:])), vals
    assert vals[-1] > vals[0]


@pytest.mark.parametrize("kind", KINDS)
def test_batch_equals_per_image(kind):
    imgs = np.stack([synthetic_he_tile((96, 112), seed=s)[0] for s in (1, 2, 3)])
    batch = corrupt_batch(imgs, kind, 4, seeds=[7, 8, 9], device="cpu")
    for i, s in enumerate((7, 8, 9)):
        single = corrupt(imgs[i], kind, 4, seed=s, device="cpu")
        diff = np.abs(batch[i].astype(int) - single)
        assert diff.max() <= 1 and (diff > 0).mean() < 1e-3, kind


@pytest.mark.parametrize("kind", KINDS)
def test_tiles_stitch_to_the_whole_image(kind):
    rgb, _ = synthetic_he_tile((200, 232), seed=4)
    whole = corrupt(rgb, kind, 4, seed=11, device="cpu")
    tiled = corrupt_tiled(rgb, kind, 4, seed=11, tile=64, device="cpu")
    diff = np.abs(tiled.astype(int) - whole)
    # exact for per-pixel kinds; FFT filters / bilinear resampling: float32 rounding only
    assert diff.max() <= 1 and (diff > 0).mean() < 2e-3, (kind, diff.max(), (diff > 0).mean())
    if get_corruption(kind).apply is not None and kind not in (
            "defocus", "resolution", "motion_blur"):
        np.testing.assert_array_equal(tiled, whole)


def test_box_equals_crop_of_whole(tile):
    whole = corrupt(tile, "markup", 5, seed=1, device="cpu")
    part = corrupt(tile, "markup", 5, seed=1, device="cpu", box=(30, 40, 80, 110))
    np.testing.assert_array_equal(part, whole[30:80, 40:110])
