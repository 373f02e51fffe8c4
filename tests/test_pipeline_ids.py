"""Canonical ids (issue 14, bug 11): labels, ids and records never depend on the tile
size, the worker count or where tiles run."""

from pathlib import Path

import numpy as np
import pytest

from napari_pathrobust.engine.io import slide_from_array
from napari_pathrobust.engine.registry import get_method
from napari_pathrobust.engine.synthetic import synthetic_he_tile
from napari_pathrobust.engine.tiled.pipeline import segment_slide
from napari_pathrobust.engine.tiled.tiling import canonical_relabel


def _corner_image():
    """Synthetic H&E with nuclei centred on the corners and edges of 256 and 384 grids."""
    centers = [(256, 256), (256, 512), (512, 256), (512, 512), (384, 384), (384, 768 - 10),
               (259, 128), (128, 510), (511, 552), (384, 256), (256, 384), (640, 384)]
    return synthetic_he_tile(shape=(768, 768), seed=3, centers=centers,
                             radius_range=(6, 14))[0]


def _demo():
    from napari_pathrobust._sample_data import demo_crop

    (data, _kwargs, _), = demo_crop()
    return np.asarray(data)


def _key(rec):
    """Everything a record carries, for exact comparison."""
    return (rec.label, rec.y0, rec.x0, rec.mask.shape, rec.mask.tobytes(), rec.area,
            rec.centroid_y, rec.centroid_x, tuple(sorted(rec.measurements.items())),
            rec.classification, tuple(rec.polygon or ()))


def _runs(rgb, method_name, tiles, **kwargs):
    slide = slide_from_array(rgb, name="ids")
    out = {}
    for tile, workers in tiles:
        res = segment_slide(slide, get_method(method_name, **kwargs), tile=tile or max(rgb.shape),
                            workers=workers, keep_records=True)
        out[(tile, workers)] = res
    return out


def _assert_identical(runs):
    (ref_key, ref), *others = runs.items()
    assert ref.n_nuclei > 20
    ids = np.unique(ref.labels)
    assert list(ids[1:]) == list(range(1, ref.n_nuclei + 1))  # dense 1..N
    for key, res in others:
        assert res.n_nuclei == ref.n_nuclei, (key, ref_key)
        np.testing.assert_array_equal(res.labels, ref.labels, err_msg=f"{key} vs {ref_key}")
        assert [_key(r) for r in res.records] == [_key(r) for r in ref.records], key


def _assert_raster_order(result):
    """Final ids follow the raster order of each object's first pixel."""
    flat = np.asarray(result.labels).ravel()
    ids, first = np.unique(flat, return_index=True)
    order = ids[1:][np.argsort(first[1:])]
    assert list(order) == list(range(1, result.n_nuclei + 1))
    assert [r.label for r in result.records] == list(range(1, result.n_nuclei + 1))


def test_classical_ids_independent_of_tiles_and_workers():
    runs = _runs(_corner_image(), "classical",
                 [(None, 1), (512, 1), (384, 2), (256, 1), (256, 2)])
    _assert_identical(runs)
    _assert_raster_order(runs[(256, 2)])
    labels = runs[(256, 1)].labels
    for cy, cx in [(256, 256), (512, 512), (384, 384)]:  # corner straddlers: one id each
        ids = np.unique(labels[cy - 2:cy + 3, cx - 2:cx + 3])
        assert len(ids[ids > 0]) == 1


def test_classical_real_tissue_ids_independent_of_tiles():
    _assert_identical(_runs(_demo(), "classical", [(None, 1), (256, 2), (200, 1), (128, 2)]))


def test_psm_ids_independent_of_tiles_and_workers():
    runs = _runs(_demo(), "psm", [(None, 1), (384, 1), (256, 2), (128, 1)], device="cpu")
    _assert_identical(runs)
    _assert_raster_order(runs[(128, 1)])


def test_default_tile_size_does_not_follow_workers():
    # 256 MB used to give 1280 px tiles with 1 worker and 768 with 2
    rgb = synthetic_he_tile(shape=(1400, 200), seed=2)[0]
    slide = slide_from_array(rgb)
    one = segment_slide(slide, get_method("classical"), workers=1, memory_budget_mb=256)
    two = segment_slide(slide, get_method("classical"), workers=2, memory_budget_mb=256)
    assert one.info["tile"] == two.info["tile"]
    np.testing.assert_array_equal(one.labels, two.labels)


class _Sink:
    """A sink recording what the pipeline hands it."""

    def __init__(self):
        self.added, self.luts = [], []

    def add(self, records):
        self.added.extend((r.label, r.centroid_y, r.centroid_x) for r in records)

    def renumber(self, lut):
        self.luts.append(np.asarray(lut).copy())


def test_sinks_get_provisional_ids_then_one_lookup_table():
    rgb = _corner_image()
    sink = _Sink()
    res = segment_slide(slide_from_array(rgb), get_method("classical"), tile=256, workers=2,
                        sinks=[sink], keep_records=True)
    assert len(sink.luts) == 1
    lut = sink.luts[0]
    assert lut[0] == 0 and sorted(lut[1:]) == list(range(1, res.n_nuclei + 1))
    final = {(r.centroid_y, r.centroid_x): r.label for r in res.records}
    for provisional, cy, cx in sink.added:
        assert lut[provisional] == final[(cy, cx)]


def test_zarr_canvas_is_relabelled_chunk_by_chunk():
    zarr = pytest.importorskip("zarr")
    rgb = _corner_image()
    slide = slide_from_array(rgb)
    canvas = zarr.zeros(rgb.shape[:2], chunks=(100, 100), dtype="uint32")
    res = segment_slide(slide, get_method("classical"), tile=256, workers=2, canvas=canvas)
    ref = segment_slide(slide, get_method("classical"), tile=384, workers=1)
    np.testing.assert_array_equal(np.asarray(res.labels[:]), ref.labels)


MONUSEG = Path(__file__).resolve().parents[2] / "shared" / "data" / "monuseg-train" / "images"


@pytest.mark.skipif(not (MONUSEG / "TCGA-18-5592-01Z-00-DX1.tif").exists(),
                    reason="shared MoNuSeg images not available")
def test_classical_real_slide_splits_nuclei_the_same_with_tiles():
    """The case reported in issue 14: tile 512 split one clump differently."""
    from napari_pathrobust.engine.io import open_image

    slide = open_image(MONUSEG / "TCGA-18-5592-01Z-00-DX1.tif")
    whole = segment_slide(slide, get_method("classical"), tile=1000, workers=1)
    tiled = segment_slide(slide, get_method("classical"), tile=512, workers=2)
    assert whole.n_nuclei == tiled.n_nuclei > 400
    np.testing.assert_array_equal(canonical_relabel(tiled.labels),
                                  canonical_relabel(whole.labels))
