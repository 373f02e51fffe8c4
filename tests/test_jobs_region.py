"""The in-memory region job behind the widgets (Qt-free)."""

import numpy as np
import pytest

from napari_pathrobust.engine.jobs.region import (
    FeatureSink,
    RegionOptions,
    clip_box,
    segment_region,
)
from napari_pathrobust.engine.nucleus_records import NucleusRecord
from napari_pathrobust.engine.tiled.tiling import Box


def _record(label: int, y: float, x: float, area: int) -> NucleusRecord:
    return NucleusRecord(label, int(y), int(x), np.ones((2, 2), bool), y, x, area,
                         {"perimeter": float(area) / 2})


def test_feature_sink_renumbers_to_final_ids_in_order():
    sink = FeatureSink()
    sink.add([_record(1, 50.0, 5.0, 10), _record(2, 10.0, 7.0, 20)])
    sink.add([_record(3, 30.0, 9.0, 30)])
    lut = np.array([0, 3, 1, 2])  # final = lut[provisional]: raster order of first pixels
    sink.renumber(lut)
    table = sink.table()
    assert list(table["label"]) == [1, 2, 3]
    assert list(table["area"]) == [20, 30, 10] and list(table["y"]) == [10.0, 30.0, 50.0]
    np.testing.assert_allclose(table["perimeter"], [10.0, 15.0, 5.0])
    assert len(sink) == 3


def test_feature_sink_table_is_sorted_without_renumber():
    sink = FeatureSink()
    sink.add([_record(2, 1.0, 1.0, 4), _record(1, 2.0, 2.0, 5)])
    assert list(sink.table()["label"]) == [1, 2]


def test_clip_box():
    assert clip_box(-3.5, 10.2, 40.1, 500, (32, 64)) == Box(0, 10, 32, 64)
    assert clip_box(0, 0, 10, 64, (32, 64)) is None  # under 16 px a side


def test_region_equals_segmenting_the_crop(demo_image):
    from napari_pathrobust.engine.io import open_image, slide_from_array
    from napari_pathrobust.engine.registry import get_method
    from napari_pathrobust.engine.tiled.pipeline import segment_slide

    rgb = np.asarray(open_image(demo_image).data)
    box = Box(100, 50, 356, 306)
    result = segment_region(rgb, box, RegionOptions(method="classical", seed=3),
                            name="demo", metadata={"source_layer": "demo"})
    crop = segment_slide(slide_from_array(rgb[box.slices]), get_method("classical"), seed=3)
    np.testing.assert_array_equal(result.labels, crop.labels)
    meta = result.metadata
    assert meta["region"] == [100, 50, 356, 306] and meta["source_layer"] == "demo"
    assert meta["method"] == "classical" and meta["seed"] == 3 and "parameters" in meta
    labels = np.unique(result.labels)[1:]
    assert result.n_nuclei == len(labels) > 20
    np.testing.assert_array_equal(result.table["label"], labels)


def test_a_bad_method_is_the_jobs_error():
    with pytest.raises(ValueError, match="unknown method"):
        segment_region(np.zeros((64, 64, 3), np.uint8), (0, 0, 64, 64),
                       RegionOptions(method="nope"))
