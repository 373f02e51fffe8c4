"""Tile plans and seamless stitching: tiled == untiled, objects on corners included."""

import numpy as np
import pytest

from napari_pathrobust.engine.io import slide_from_array
from napari_pathrobust.engine.methods import MethodBase
from napari_pathrobust.engine.registry import get_method
from napari_pathrobust.engine.synthetic import synthetic_he_tile
from napari_pathrobust.engine.tiled.pipeline import segment_slide
from napari_pathrobust.engine.tiled.tiling import auto_tile_size, canonical_relabel, plan_tiles


def test_plan_covers_image_once():
    shape = (1000, 777)
    plan = plan_tiles(shape, 256, 32)
    cover = np.zeros(shape, int)
    for t in plan:
        y0, x0, y1, x1 = t.core
        cover[y0:y1, x0:x1] += 1
        wy0, wx0, wy1, wx1 = t.window
        assert wy0 == max(0, y0 - 32) and wx1 == min(777, x1 + 32)
    assert (cover == 1).all()


def test_plan_rejects_bad_sizes():
    with pytest.raises(ValueError):
        plan_tiles((10, 10), 0, 4)


def test_auto_tile_size_follows_memory_budget():
    small = auto_tile_size((100_000, 100_000), 64, memory_budget_mb=256)
    large = auto_tile_size((100_000, 100_000), 64, memory_budget_mb=4096)
    assert 512 <= small < large <= 4096
    assert auto_tile_size((300, 200), 64) == 300


def _corner_image(tile: int):
    """A synthetic tile with nuclei centred on tile corners and edges."""
    size = 3 * tile
    centers = [(tile, tile), (tile, 2 * tile), (2 * tile, tile), (2 * tile, 2 * tile),
               (tile + 3, tile // 2), (tile // 2, 2 * tile - 2), (2 * tile - 1, 2 * tile + 40)]
    return synthetic_he_tile(shape=(size, size), seed=3, centers=centers)


@pytest.mark.parametrize("tile", [96, 128])
def test_tiled_equals_untiled_with_corner_straddlers(tile):
    rgb, truth = _corner_image(tile)
    slide = slide_from_array(rgb, name="corners")
    method = get_method("classical")
    whole = segment_slide(slide, method, tile=max(rgb.shape), workers=1)
    tiled = segment_slide(slide, get_method("classical"), tile=tile, workers=2)
    assert whole.info["n_tiles"] == 1 and tiled.info["n_tiles"] == 9
    a, b = canonical_relabel(whole.labels), canonical_relabel(tiled.labels)
    assert whole.n_nuclei == tiled.n_nuclei > 10
    np.testing.assert_array_equal(a, b)
    # every nucleus that sits on a tile corner got exactly one label
    for cy, cx in [(tile, tile), (2 * tile, 2 * tile)]:
        ids = np.unique(tiled.labels[cy - 2:cy + 3, cx - 2:cx + 3])
        assert len(ids[ids > 0]) == 1


def test_ids_are_unique_and_sequential():
    rgb, _ = synthetic_he_tile(shape=(300, 300), seed=1)
    result = segment_slide(slide_from_array(rgb), get_method("classical"), tile=100,
                           keep_records=True)
    ids = np.unique(result.labels)
    assert list(ids[1:]) == list(range(1, result.n_nuclei + 1))
    assert [r.label for r in result.records] == list(range(1, result.n_nuclei + 1))


def test_cancel_stops_the_job():
    from napari_pathrobust.engine.errors import Cancelled
    from napari_pathrobust.engine.progress import Reporter

    rgb, _ = synthetic_he_tile(shape=(400, 400), seed=2)
    calls = []

    def progress(done, total, message):
        calls.append(done)

    reporter = Reporter(progress=progress, cancel=lambda: len(calls) >= 3)
    with pytest.raises(Cancelled):
        segment_slide(slide_from_array(rgb), get_method("classical"), tile=100,
                      reporter=reporter)


class _MapMethod(MethodBase):
    """A toy method returning labels plus a pointwise map (OD), to test map stitching."""

    name = "toy"
    halo = 8

    def fit(self, sample):
        return self

    def segment_tile(self, rgb):
        from napari_pathrobust.engine.methods import TileOutput
        from napari_pathrobust.engine.stain import hematoxylin_od

        od = hematoxylin_od(rgb)
        return TileOutput(np.zeros(rgb.shape[:2], np.int32),
                          {"od": od, "mask": (od > 0.3).astype(np.uint8)})

    def describe(self):
        return {"name": self.name}


def test_maps_are_stitched_seamlessly():
    from napari_pathrobust.engine.stain import hematoxylin_od

    rgb, _ = synthetic_he_tile(shape=(250, 190), seed=4)
    result = segment_slide(slide_from_array(rgb), _MapMethod(), tile=64)
    expected = hematoxylin_od(rgb)
    np.testing.assert_array_equal(result.maps["od"], expected)
    np.testing.assert_array_equal(result.maps["mask"], (expected > 0.3).astype(np.uint8))
    assert result.n_nuclei == 0
