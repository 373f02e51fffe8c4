import json

import numpy as np
from scipy import ndimage as ndi

from napari_pathrobust.engine.methods.classical import ClassicalMethod, ClassicalParams
from napari_pathrobust.engine.metrics import aji
from napari_pathrobust.engine.synthetic import synthetic_he_tile


def _mean_aji(seeds, **kw):
    scores = []
    for s in seeds:
        rgb, gt = synthetic_he_tile((256, 256), seed=s, **kw)
        scores.append(aji(gt, ClassicalMethod().segment_tile(rgb)))
    return float(np.mean(scores))


def test_synthetic_aji_default_sizes():
    # measured 0.656 (seeds 0-4, radius 5-10 px: small nuclei, touching pairs merge)
    assert _mean_aji(range(5)) >= 0.60


def test_synthetic_aji_40x_sizes():
    # measured 0.785 (seeds 0-4, radius 8-16 px ~ 40x nuclei)
    assert _mean_aji(range(5), radius_range=(8, 16), n_nuclei=30) >= 0.72


def test_output_contract_and_describe():
    rgb, _ = synthetic_he_tile((128, 128), seed=4)
    m = ClassicalMethod(h_um=0.375)
    lab = m.segment_tile(rgb)  # fits on the tile when never fitted
    assert lab.dtype == np.int32 and lab.shape == (128, 128)
    ids = np.unique(lab)
    assert np.array_equal(ids, np.arange(0, lab.max() + 1))
    d = json.loads(json.dumps(m.describe()))
    assert d["name"] == "classical" and d["params"]["h_um"] == 0.375
    assert d["pixels"]["h"] == 1.5
    assert d["fitted_threshold"] is not None and m.halo >= 64


def test_params_and_overrides():
    m = ClassicalMethod(ClassicalParams(sigma_um=0.5), min_area_um2=2.5)
    assert m.params.sigma_um == 0.5 and m.params.min_area_um2 == 2.5
    assert m.px.sigma == 2.0 and m.px.min_area == 40  # pixels at 0.25 um/px
    try:
        ClassicalMethod(nonsense=1)
    except TypeError:
        pass
    else:
        raise AssertionError("unknown parameter accepted")


def test_blank_tile_gives_no_nuclei():
    rgb = np.full((64, 64, 3), 235, np.uint8)
    assert ClassicalMethod(threshold=0.3).segment_tile(rgb).max() == 0


def test_deterministic():
    rgb, _ = synthetic_he_tile((200, 200), seed=11)
    a = ClassicalMethod().segment_tile(rgb)
    b = ClassicalMethod().segment_tile(rgb.copy())
    assert np.array_equal(a, b)


def test_locality_crop_matches_full_image():
    rgb, _ = synthetic_he_tile((600, 600), seed=5, radius_range=(6, 14))
    m = ClassicalMethod().fit(rgb)
    full = m.segment_tile(rgb)
    r0, c0, c1 = 100, 50, 550  # crop cut on top, left and right; bottom = image edge
    crop = m.segment_tile(rgb[r0:, c0:c1])
    halo = m.halo
    checked = 0
    for i, slc in enumerate(ndi.find_objects(full), start=1):
        if slc is None:
            continue
        rs, cs = slc
        if rs.start - r0 <= halo or cs.start - c0 <= halo or c1 - cs.stop <= halo:
            continue
        obj = full == i
        sub = obj[r0:, c0:c1]
        vals = np.unique(crop[sub])
        assert len(vals) == 1 and vals[0] > 0
        assert np.array_equal(crop == vals[0], sub)
        checked += 1
    assert checked >= 5


def test_split_of_a_clump_ignores_other_components():
    """Watershed ties (a symmetric clump) break the same way whatever else the array
    holds: the reason `classical` split 2-4 nuclei differently when only the tile size
    changed (issue 14, bug 11)."""
    from napari_pathrobust.engine.morphology import split_touching
    from napari_pathrobust.engine.tiled.tiling import canonical_relabel

    yy, xx = np.mgrid[:200, :200]

    def disc(cy, cx, r):
        return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r

    clump = disc(50, 40, 12) | disc(50, 60, 12) | disc(30, 50, 11)
    alone = split_touching(clump, h=2.0, dist_sigma=1.0, min_area=30)
    rng = np.random.default_rng(0)
    crowd = clump.copy()
    for _ in range(40):  # unrelated nuclei and pairs below the clump
        crowd |= disc(rng.integers(100, 195), rng.integers(5, 195), rng.integers(5, 12))
        cy, cx = rng.integers(100, 195), rng.integers(5, 195)
        crowd |= disc(cy, cx, rng.integers(5, 12)) | disc(cy, cx + rng.integers(8, 16),
                                                           rng.integers(5, 12))
    together = split_touching(crowd, h=2.0, dist_sigma=1.0, min_area=30)
    assert len(np.unique(alone)) > 2  # the clump is split
    np.testing.assert_array_equal(canonical_relabel(np.where(clump, together, 0)),
                                  canonical_relabel(alone))


def test_sizes_are_microns_and_pixel_names_still_work():
    m = ClassicalMethod(sigma=2.0, min_area=40)  # former pixel names, at 0.25 um/px
    assert m.params.sigma_um == 0.5 and m.params.min_area_um2 == 2.5
    half = ClassicalMethod(working_mpp=0.5)  # same microns, half the pixels
    assert half.px.sigma == 0.5 and half.px.min_area == 8 and half.working_mpp == 0.5
    default = ClassicalMethod().px  # the former pixel defaults at 0.25 um/px
    assert (default.sigma, default.min_area, default.max_hole_area, default.h,
            default.background_window, default.max_area) == (1.0, 30, 200, 2.0, 101, 11309)
