import numpy as np
from scipy import ndimage as ndi

from napari_pathrobust.engine.stain import hematoxylin_od
from napari_pathrobust.engine.synthetic import synthetic_he_tile


def test_shapes_types_and_labels():
    rgb, lab = synthetic_he_tile((128, 160), seed=3)
    assert rgb.shape == (128, 160, 3) and rgb.dtype == np.uint8
    assert lab.shape == (128, 160) and lab.dtype == np.int32
    ids = np.unique(lab)
    assert ids[0] == 0 and np.array_equal(ids[1:], np.arange(1, lab.max() + 1))
    for i in range(1, lab.max() + 1):  # each label is one connected nucleus
        assert ndi.label(lab == i)[1] == 1


def test_deterministic_per_seed():
    a = synthetic_he_tile((96, 96), seed=7)
    b = synthetic_he_tile((96, 96), seed=7)
    c = synthetic_he_tile((96, 96), seed=8)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_forced_centers_and_hematoxylin_contrast():
    centers = [(0.0, 0.0), (64.0, 0.0), (10.0, 70.0)]
    rgb, lab = synthetic_he_tile((128, 128), n_nuclei=0, seed=1, centers=centers)
    assert lab.max() == 3
    for r, c in centers:
        assert lab[int(r), int(c)] > 0
    hem = hematoxylin_od(rgb)
    assert hem[lab > 0].mean() > hem[lab == 0].mean() + 0.3


def test_touching_pairs_exist():
    _, lab = synthetic_he_tile((256, 256), seed=0, touching_fraction=0.5)
    grown = ndi.grey_dilation(lab, size=3)
    assert np.any((lab > 0) & (grown != lab) & (grown > 0))
