"""IHC mode: DAB-positive / negative cell classes from clustering, end to end."""

import numpy as np
import pytest

from napari_pathrobust.engine.io import slide_from_array
from napari_pathrobust.engine.methods import get_method
from napari_pathrobust.engine.pipeline import segment_slide
from napari_pathrobust.engine.psm.ihc import NEGATIVE, POSITIVE, DabClassifier
from napari_pathrobust.engine.stain import RGB_FROM_HED, od_to_rgb
from napari_pathrobust.engine.synthetic import synthetic_he_tile


def ihc_tile(seed=0):
    """Hematoxylin in every nucleus, DAB in the even-numbered ones (a Ki-67-like tile)."""
    _, labels = synthetic_he_tile(shape=(320, 320), seed=seed, radius_range=(8, 12))
    nuclei = labels > 0
    positive = nuclei & (labels % 2 == 0)
    h = np.where(nuclei, 0.5, 0.03).astype(np.float32)
    d = np.where(positive, 0.6, 0.0).astype(np.float32)
    od = h[..., None] * RGB_FROM_HED[0] + d[..., None] * RGB_FROM_HED[2]
    return od_to_rgb(od.astype(np.float32)), labels


def test_dab_classifier_separates_positive_cells():
    rgb, labels = ihc_tile()
    classes = DabClassifier().fit(rgb).classify(rgb, labels)
    expected = {i: POSITIVE if i % 2 == 0 else NEGATIVE for i in np.unique(labels) if i}
    assert classes == expected


def test_no_dab_means_all_negative():
    rgb, labels = synthetic_he_tile(shape=(256, 256), seed=1)
    clf = DabClassifier().fit(rgb)
    assert set(clf.classify(rgb, labels).values()) == {NEGATIVE}
    assert clf.describe()["cut"] is None


def test_psm_ihc_records_carry_classes():
    rgb, _ = ihc_tile(seed=2)
    result = segment_slide(slide_from_array(rgb), get_method("psm", device="cpu", stain="ihc"),
                           tile=128, keep_records=True)
    classes = {r.classification for r in result.records}
    assert classes == {POSITIVE, NEGATIVE}
    assert result.info["parameters"]["fitted"]["dab"]["cut"] is not None


def test_stain_is_validated():
    with pytest.raises(ValueError, match="stain"):
        get_method("psm", device="cpu", stain="pas")
