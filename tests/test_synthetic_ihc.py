"""The synthetic IHC generator: deterministic, truth consistent with the image."""

import numpy as np

from napari_pathrobust.engine.ihc import hdab_channels
from napari_pathrobust.engine.synthetic import IHC_DAB_LEVELS, synthetic_ihc_tile


def test_deterministic_and_truth_consistent():
    rgb, labels, truth = synthetic_ihc_tile(size=256, seed=5)
    rgb2, labels2, truth2 = synthetic_ihc_tile(size=256, seed=5)
    assert np.array_equal(rgb, rgb2) and np.array_equal(labels, labels2)
    assert truth.equals(truth2)
    assert rgb.dtype == np.uint8 and rgb.shape == (256, 256, 3) and labels.dtype == np.int32
    assert list(truth.columns[:6]) == ["label", "y", "x", "positive", "bin", "dab_level"]
    assert truth.label.tolist() == list(range(1, labels.max() + 1))
    assert (truth.positive == (truth.bin > 0)).all()
    for b, (lo, hi) in IHC_DAB_LEVELS.items():
        levels = truth.dab_level[truth.bin == b]
        assert ((levels >= lo) & (levels <= hi)).all()
    for row in truth.itertuples():  # centroids are the labels' own
        yy, xx = np.nonzero(labels == row.label)
        assert abs(yy.mean() - row.y) < 1e-6 and abs(xx.mean() - row.x) < 1e-6
    assert set(truth.bin) == {0, 1, 2, 3}


def test_distractors_are_brown_but_not_nuclei():
    rgb, labels, _ = synthetic_ihc_tile(size=256, seed=1, cytoplasm_fraction=1.0)
    hema, dab = hdab_channels(rgb)
    background = labels == 0
    assert (dab[background] > 0.15).sum() > 500  # brown cytoplasm rims, not labelled
    assert (hema[background] > 0.4).sum() > 5  # dark pigment specks, not labelled
