"""IHC detection: H-DAB vectors, the detection image, both methods with stain="ihc"."""

import numpy as np
import pytest

from napari_pathrobust.engine.ihc import (
    REFERENCE_VECTORS,
    HdabDetector,
    estimate_hdab_vectors,
    hdab_channels,
)
from napari_pathrobust.engine.ihc.detection import _angle
from napari_pathrobust.engine.methods.classical import ClassicalMethod
from napari_pathrobust.engine.metrics import centroids, detection_scores
from napari_pathrobust.engine.registry import get_method
from napari_pathrobust.engine.stain import RGB_FROM_HDX, od_to_rgb
from napari_pathrobust.engine.synthetic import PIGMENT_OD, synthetic_he_tile, synthetic_ihc_tile


def _disc(shape, cy, cx, r):
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


@pytest.mark.parametrize("rgb", [np.full((64, 64, 3), 255, np.uint8),
                                 np.full((64, 64, 3), 128, np.uint8),
                                 np.zeros((0, 0, 3), np.uint8)])
def test_vectors_fall_back_to_the_fixed_ones(rgb):
    assert np.array_equal(estimate_hdab_vectors(rgb), REFERENCE_VECTORS)


def test_vectors_estimated_on_a_slide():
    rgb, _, _ = synthetic_ihc_tile(size=256, seed=0)
    v = estimate_hdab_vectors(rgb)
    assert _angle(v[0], RGB_FROM_HDX[0]) < 1 and _angle(v[1], RGB_FROM_HDX[1]) < 4
    he, _ = synthetic_he_tile((256, 256), seed=0)  # no DAB: the fixed DAB vector
    assert np.allclose(estimate_hdab_vectors(he)[1], RGB_FROM_HDX[1])
    assert (hdab_channels(he)[1] < 0.1).mean() > 0.99  # eosin is not read as DAB


def test_he_results_unchanged():
    rgb, _ = synthetic_he_tile((256, 256), seed=3)
    default, he = ClassicalMethod(), ClassicalMethod(stain="he")
    assert he.measure_records is None and he.halo == default.halo
    assert np.array_equal(default.segment_tile(rgb), he.segment_tile(rgb))
    with pytest.raises(ValueError, match="stain"):
        ClassicalMethod(stain="pas")


def _scene():
    """Strong brown nuclei, a blue one with a brown cytoplasm ring, pigment specks."""
    shape = (160, 160)
    hema = np.full(shape, 0.04, np.float32)
    dab = np.zeros(shape, np.float32)
    strong = [(40, 40), (40, 120), (120, 40)]
    for cy, cx in strong:
        m = _disc(shape, cy, cx, 11)
        hema[m], dab[m] = 0.12, 0.85
    blue = _disc(shape, 115, 115, 11)
    ring = _disc(shape, 115, 115, 19) & ~blue
    hema[blue], dab[ring] = 0.6, 0.3
    pigment = np.zeros(shape, np.float32)
    specks = [(80, 80), (10, 80), (80, 10), (150, 80)]
    for cy, cx in specks:
        pigment[_disc(shape, cy, cx, 2.5)] = 1.3
    od = hema[..., None] * RGB_FROM_HDX[0] + dab[..., None] * RGB_FROM_HDX[1] \
        + pigment[..., None] * PIGMENT_OD
    return od_to_rgb(od.astype(np.float32)), strong + [(115, 115)], specks, blue


@pytest.mark.parametrize("name", ["classical", pytest.param("psm", marks=pytest.mark.slow)])
def test_brown_nuclei_found_rims_and_pigment_not(name):
    rgb, nuclei, specks, blue = _scene()
    method = get_method(name, stain="ihc", **({"device": "cpu"} if name == "psm" else {}))
    method.fit(rgb)
    labels = np.asarray(method.segment_tile(rgb) if name == "classical"
                        else method.segment_tile(rgb).labels)
    found = centroids(labels)
    assert detection_scores(np.array(nuclei, float), found, 6.0)["f1"] == 1.0
    assert all(labels[y, x] == 0 for y, x in specks)
    ring_cell = labels[115, 115]
    assert (labels == ring_cell).sum() < 1.3 * blue.sum()  # the rim is not nucleus


def test_strong_nuclei_need_dab_in_the_detection_image():
    rgb, labels, truth = synthetic_ihc_tile(size=256, seed=2)
    det = HdabDetector().fit(rgb)
    image = det.image(rgb)
    hema = hdab_channels(rgb, det.vectors)[0]
    strong = np.isin(labels, truth.label[truth.bin == 3])
    assert np.median(image[strong]) > max(0.5, 2 * np.median(hema[strong]))


def test_classical_ihc_detects_synthetic_cells():
    rgb, labels, _ = synthetic_ihc_tile(size=256, seed=0)
    pred = ClassicalMethod(stain="ihc").segment_tile(rgb)
    assert detection_scores(centroids(labels), centroids(pred), 6.0)["f1"] > 0.9


def test_sheet_option_flattens_brown_cytoplasm_sheets():
    """With ``sheet_um`` the inside of a wide brown sheet adds no DAB to detection, while
    a positive nucleus on a light ground keeps most of its DAB."""
    shape = (240, 240)
    hema = np.full(shape, 0.04, np.float32)
    dab = np.zeros(shape, np.float32)
    dab[20:220, 20:140] = 0.35  # a 50 um sheet of brown cytoplasm
    nucleus = _disc(shape, 120, 190, 14)
    dab[nucleus] = 0.6
    od = hema[..., None] * RGB_FROM_HDX[0] + dab[..., None] * RGB_FROM_HDX[1]
    rgb = od_to_rgb(od.astype(np.float32))
    plain, flat = HdabDetector().fit(rgb), HdabDetector(sheet_um=16).fit(rgb)
    inside = (slice(80, 160), slice(60, 100))
    assert plain.image(rgb)[inside].min() > 0.35
    assert flat.image(rgb)[inside].max() < 0.1
    assert np.median(flat.image(rgb)[nucleus]) > 0.4
