"""Geometric corruptions carry labels through the same transform as the image."""

import numpy as np
import pytest

from napari_pathrobust.engine.corrupt import corrupt, map_labels
from napari_pathrobust.engine.metrics import evaluate


def _square_image(shape=(120, 120)):
    rgb = np.full(shape + (3,), 230, np.uint8)
    lab = np.zeros(shape, np.int32)
    for i, (y, x) in enumerate([(20, 25), (70, 30), (40, 80), (90, 90)], 1):
        rgb[y - 6:y + 6, x - 6:x + 6] = (60, 30, 120)
        lab[y - 6:y + 6, x - 6:x + 6] = i
    return rgb, lab


@pytest.mark.parametrize("kind", ["deformation", "rotation", "flipping", "resolution"])
@pytest.mark.parametrize("severity", [1, 3, 5])
def test_labels_follow_the_image(kind, severity):
    rgb, lab = _square_image()
    out = corrupt(rgb, kind, severity, seed=3, device="cpu")
    mapped = map_labels(lab, kind, severity, seed=3)
    dark = out[..., 0] < 145  # the dark squares after the transform
    score = evaluate(mapped, np.where(dark, 1, 0))
    assert score["pixel_f1"] > (0.7 if kind == "resolution" else 0.9), (kind, severity)
    assert mapped.shape == lab.shape and mapped.dtype == lab.dtype
    assert set(np.unique(mapped)) <= set(np.unique(lab))


def test_flips_are_exact_mirrors():
    rgb, lab = _square_image((80, 80))
    np.testing.assert_array_equal(corrupt(rgb, "flipping", 1, device="cpu"), rgb[:, ::-1])
    np.testing.assert_array_equal(corrupt(rgb, "flipping", 2, device="cpu"), rgb[::-1])
    np.testing.assert_array_equal(corrupt(rgb, "flipping", 4, device="cpu"),
                                  rgb.transpose(1, 0, 2))
    np.testing.assert_array_equal(map_labels(lab, "flipping", 3), lab[::-1, ::-1])


def test_non_geometric_labels_unchanged():
    _, lab = _square_image()
    np.testing.assert_array_equal(map_labels(lab, "hue", 5), lab)
