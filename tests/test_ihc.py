"""IHC mode end to end: H-DAB detection, then cells classified and scored (engine)."""


import numpy as np
import pytest

from napari_pathrobust.engine.ihc import measure_labels
from napari_pathrobust.engine.ihc.scoring import (
    IhcThresholds,
    auto_thresholds,
    classify_cells,
    ihc_summary,
)
from napari_pathrobust.engine.jobs.region import RegionOptions, segment_region
from napari_pathrobust.engine.registry import get_method
from napari_pathrobust.engine.stain import RGB_FROM_HED, od_to_rgb
from napari_pathrobust.engine.synthetic import synthetic_he_tile, synthetic_ihc_tile


def ihc_tile(seed=0):
    """Hematoxylin in every nucleus, DAB in the even-numbered ones (a Ki-67-like tile)."""
    _, labels = synthetic_he_tile(shape=(320, 320), seed=seed, radius_range=(8, 12))
    nuclei = labels > 0
    positive = nuclei & (labels % 2 == 0)
    h = np.where(nuclei, 0.5, 0.03).astype(np.float32)
    d = np.where(positive, 0.6, 0.0).astype(np.float32)
    od = h[..., None] * RGB_FROM_HED[0] + d[..., None] * RGB_FROM_HED[2]
    return od_to_rgb(od.astype(np.float32)), labels


def truth_table(rgb, labels):
    """Cell table of the true nuclei with their measured DAB."""
    measured = measure_labels(labels, rgb)
    ids = sorted(measured)
    return {"label": np.array(ids), "status": np.array(["unreviewed"] * len(ids), object),
            "dab_nucleus_mean": np.array([measured[i]["dab_nucleus_mean"] for i in ids])}


def test_auto_cut_separates_positive_cells():
    """The per-slide 2-means (the former DabClassifier) is the ``auto`` option."""
    table = truth_table(*ihc_tile())
    th = IhcThresholds(auto=True, bins=(5.0, 5.5, 6.0))  # the set ones would call none
    classes = classify_cells(table, th)["classification"]
    expected = np.where(table["label"] % 2 == 0, "Positive", "Negative")
    assert list(classes) == list(expected)
    assert auto_thresholds(table, th).fitted_cut is not None


def test_no_dab_means_all_negative_even_with_auto():
    rgb, labels = synthetic_he_tile(shape=(256, 256), seed=1)
    table = truth_table(rgb, labels)
    for th in (IhcThresholds(), IhcThresholds(auto=True)):
        assert set(classify_cells(table, th)["classification"]) == {"Negative"}


@pytest.mark.parametrize("method", ["classical", "psm"])
def test_ihc_region_is_classified_and_scored(method):
    rgb, _labels, truth = synthetic_ihc_tile(size=256, seed=2)
    result = segment_region(rgb, (0, 0, 256, 256),
                            RegionOptions(method=method, device="cpu", stain="ihc", tile=256))
    table, summary = result.table, result.metadata["ihc_summary"]
    assert set(table["classification"]) == {"Positive", "Negative"}
    assert summary == ihc_summary(table, IhcThresholds())
    assert summary["n_cells"] == len(table["label"]) == result.n_nuclei
    assert abs(summary["labelling_index"] - 100 * truth.positive.mean()) < 15


def test_stain_is_validated():
    with pytest.raises(ValueError, match="stain"):
        get_method("psm", device="cpu", stain="pas")


@pytest.mark.parametrize("seed", range(8))
def test_synthetic_ki67_index_within_two_points(seed):
    """The synthetic IHC table's index target as a unit check (classical, the fast
    method; benchmarks/eval_ihc_synthetic.py gives both): weak, moderate and strong
    nuclei, brown rims, a cytoplasm sheet and pigment, index within 2 points."""
    rgb, _labels, truth = synthetic_ihc_tile(size=512, seed=seed)
    result = segment_region(rgb, (0, 0, 512, 512),
                            RegionOptions(method="classical", stain="ihc", tile=512))
    index = result.metadata["ihc_summary"]["labelling_index"]
    assert abs(index - 100 * truth.positive.mean()) <= 2.0
