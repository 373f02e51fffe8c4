"""Slides at other magnifications (issue 15): resampled to the method's working
resolution with their halo, labels back on the slide's grid, and tiled == untiled at
every scale, nuclei on tile corners included."""

import numpy as np
import pytest

from napari_pathrobust.engine.io import slide_from_array
from napari_pathrobust.engine.registry import get_method
from napari_pathrobust.engine.synthetic import synthetic_he_tile
from napari_pathrobust.engine.tiled.pipeline import segment_slide
from napari_pathrobust.engine.tiled.resample import (
    AxisMap,
    choose_level,
    resample_image,
    resample_labels,
    working_grid,
)
from napari_pathrobust.engine.tiled.tiling import Box


def _corner_image_at(mpp):
    """Synthetic 40x H&E with nuclei on the corners of 256/384 px grids, resampled to
    ``mpp``: the corners land on the corners of tiles of ``256 * 0.25 / mpp`` px."""
    centers = [(256, 256), (256, 512), (512, 256), (512, 512), (384, 384), (384, 758),
               (259, 128), (128, 510), (511, 552), (384, 256), (256, 384), (640, 384)]
    rgb = synthetic_he_tile(shape=(768, 768), seed=3, centers=centers,
                            radius_range=(6, 14))[0]
    return resample_image(rgb, 0.25, mpp)


def _key(rec):
    return (rec.label, rec.y0, rec.x0, rec.mask.tobytes(), rec.area, rec.centroid_y,
            rec.centroid_x, tuple(sorted(rec.measurements.items())), tuple(rec.polygon or ()))


def _assert_tiled_equals_untiled(slide, method_name, tiles, workers=2):
    ref = segment_slide(slide, get_method(method_name), tile=max(slide.shape), workers=1,
                        keep_records=True)
    assert ref.n_nuclei > 20 and ref.info["scale"] != 1
    for tile in tiles:
        res = segment_slide(slide, get_method(method_name), tile=tile, workers=workers,
                            keep_records=True)
        assert res.info["n_tiles"] > 1
        np.testing.assert_array_equal(res.labels, ref.labels, err_msg=f"tile {tile}")
        assert [_key(r) for r in res.records] == [_key(r) for r in ref.records]
    return ref


# 0.35 um/px: 40x corners at 256 and 512 px land at 182.9 and 365.7 slide px
@pytest.mark.parametrize("mpp, tiles", [(0.5, (128, 96)), (0.35, (183, 137)),
                                        (0.125, (512, 384))])
def test_classical_tiled_equals_untiled_at_other_scales(mpp, tiles):
    slide = slide_from_array(_corner_image_at(mpp), name="mpp", mpp=mpp)
    ref = _assert_tiled_equals_untiled(slide, "classical", tiles)
    side = tiles[0]
    for c in (side, 2 * side):  # a nucleus straddles these tile corners: one id each
        ids = np.unique(ref.labels[c - 1:c + 2, c - 1:c + 2])
        assert len(ids[ids > 0]) == 1


@pytest.mark.parametrize("mpp, tiles", [(0.5, (128,)), (0.35, (183,)), (0.125, (384,))])
def test_psm_tiled_equals_untiled_at_other_scales(mpp, tiles):
    slide = slide_from_array(_corner_image_at(mpp), name="mpp", mpp=mpp)
    ref = _assert_tiled_equals_untiled(slide, "psm", tiles)
    if mpp > 0.25:  # enlarged with the cubic kernel; nuclei on tile corners: one id each
        assert ref.info["interpolation"] == "cubic"
        for c in (tiles[0], 2 * tiles[0]):
            ids = np.unique(ref.labels[c - 1:c + 2, c - 1:c + 2])
            assert len(ids[ids > 0]) == 1


def test_outputs_are_in_slide_pixels_with_micron_measurements():
    mpp = 0.5
    slide = slide_from_array(_corner_image_at(mpp), name="mpp", mpp=mpp)
    res = segment_slide(slide, get_method("classical"), tile=128, keep_records=True)
    assert res.labels.shape == slide.shape and res.info["working_shape"] == [768, 768]
    assert res.info["mpp"] == 0.5 and res.info["working_mpp"] == 0.25
    assert not res.info["mpp_assumed"]
    for rec in res.records:
        assert rec.area == int((res.labels == rec.label).sum())
        assert 0 <= rec.centroid_y < slide.shape[0] and 0 <= rec.centroid_x < slide.shape[1]
        assert rec.measurements["area_um2"] == pytest.approx(rec.area * mpp * mpp)
        xs = [x for x, _ in rec.polygon]
        assert min(xs) >= rec.x0 - 0.5 and max(xs) <= rec.x0 + rec.mask.shape[1] + 0.5
    # the same tissue at 40x gives about the same nuclei (count and size in microns)
    ref = segment_slide(slide_from_array(_corner_image_at(0.25), mpp=0.25),
                        get_method("classical"), keep_records=True)
    assert abs(res.n_nuclei - ref.n_nuclei) <= 0.1 * ref.n_nuclei
    um2 = np.median([r.measurements["area_um2"] for r in res.records])
    um2_ref = np.median([r.measurements["area_um2"] for r in ref.records])
    assert um2 == pytest.approx(um2_ref, rel=0.15)


def test_unknown_or_near_working_pixel_size_is_used_as_read():
    rgb = _corner_image_at(0.25)
    plain = segment_slide(slide_from_array(rgb), get_method("classical"), tile=256)
    assert plain.info["mpp_assumed"] and "scale" not in plain.info
    near = segment_slide(slide_from_array(rgb, mpp=0.26), get_method("classical"), tile=256)
    assert not near.info["mpp_assumed"] and "scale" not in near.info
    np.testing.assert_array_equal(near.labels, plain.labels)


def test_pyramid_level_is_the_coarsest_still_fine_enough():
    rgb = _corner_image_at(0.125)  # 1536 px
    half = resample_image(rgb, 0.125, 0.25)
    slide = slide_from_array([rgb, half], name="pyr", mpp=0.125)
    assert choose_level(slide, 0.125, 0.25) == 1
    assert choose_level(slide, 0.125, 0.2) == 0  # level 1 would be too coarse
    grid = working_grid(slide, 0.125, 0.25)
    assert grid.level == 1 and grid.y.f_src == 1.0 and grid.shape == half.shape[:2]
    res = segment_slide(slide, get_method("classical"), tile=384, workers=2)
    ref = segment_slide(slide, get_method("classical"), tile=1536, workers=1)
    assert res.info["pyramid_level"] == 1 and res.labels.shape == rgb.shape[:2]
    np.testing.assert_array_equal(res.labels, ref.labels)


def test_working_pixels_do_not_depend_on_the_window():
    rgb = _corner_image_at(0.35)
    slide = slide_from_array(rgb, mpp=0.35)
    for mpp_work in (0.25, 0.5):
        grid = working_grid(slide, 0.35, mpp_work)
        whole = grid.read(Box(0, 0, *grid.shape))[0]
        for box in (Box(3, 7, 200, 151), Box(100, 0, 333, 90)):
            np.testing.assert_array_equal(grid.read(box)[0], whole[box.slices])


def test_axis_maps_and_nearest_labels():
    up = AxisMap(n_src=100, n_slide=100, f_src=2.0)
    assert up.n_work == 200 and list(up.working_of_slide(0, 3)) == [1, 3, 5]
    idx, w = up.taps(0, 4)
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    labels = np.arange(16).reshape(4, 4)
    np.testing.assert_array_equal(resample_labels(labels, 2.0)[::2, ::2], labels)
    np.testing.assert_array_equal(resample_labels(resample_labels(labels, 2.0), 0.5), labels)


def test_classes_and_max_area_on_the_working_grid():
    from napari_pathrobust.engine.methods import MethodBase, TileOutput

    class Toy(MethodBase):
        name, halo, max_area = "toy", 16, 400

        def segment_tile(self, rgb):
            labels = np.zeros(rgb.shape[:2], np.int32)
            labels[2:40, 2:40] = 1  # 1444 working px: over max_area, dropped
            labels[50:60, 50:60] = 2  # 100 working px = 25 slide px at 0.5 um/px
            return TileOutput(labels, {}, {1: "Big", 2: "Positive"})

    rgb = synthetic_he_tile(shape=(64, 64), seed=1)[0]  # tissue: not refused as blank
    res = segment_slide(slide_from_array(rgb, mpp=0.5), Toy(), keep_records=True)
    assert res.info["scale"] == 2 and res.labels.shape == (64, 64)
    (rec,) = res.records
    assert rec.classification == "Positive" and rec.area == 25
    assert (rec.y0, rec.x0) == (25, 25)
