"""The export job and the GeoJSON reader (issue 14, bugs 1, 5 and 6)."""

import json
import tracemalloc

import numpy as np
from skimage.draw import disk

from napari_pathrobust._reader import read_geojson
from napari_pathrobust._writer import export_geojson, write_labels_geojson


def test_geojson_export_writes_a_nucleus_across_a_band_boundary_once(tmp_path):
    """Bug 1: nuclei crossing a 2048-row band boundary were written twice."""
    labels = np.zeros((2300, 200), np.uint32)
    for label, (cy, cx) in enumerate([(2048, 50), (2040, 120), (2060, 170), (30, 30),
                                      (4096 - 1800, 100)], start=1):
        rr, cc = disk((cy, cx), 9, shape=labels.shape)
        labels[rr, cc] = label
    labels[2047, 190] = 6  # one pixel just above the boundary
    labels[2048, 195] = 7  # one pixel just below it
    path = export_geojson(tmp_path / "tall.geojson", labels, metadata={})
    feats = json.loads(path.read_text())["features"]
    found = [f["properties"]["label"] for f in feats]
    assert found == [1, 2, 3, 4, 5, 6, 7]
    assert len({f["id"] for f in feats}) == 7
    ring = np.array(feats[0]["geometry"]["coordinates"][0])
    assert ring[:, 1].min() < 2048 < ring[:, 1].max()  # whole, not cut at the boundary


def test_exporting_a_layer_twice_gives_the_same_ids(tmp_path):
    """Bug 6: ids are uuid5(run id, label); a layer keeps the run id it was exported with."""
    labels = np.zeros((64, 64), np.uint32)
    labels[5:15, 5:15], labels[30:40, 30:45] = 1, 2
    metadata = {"mpp": 0.5}
    meta = {"metadata": metadata, "scale": (0.5, 0.5), "translate": (0, 0)}
    write_labels_geojson(str(tmp_path / "a.geojson"), labels, meta)
    write_labels_geojson(str(tmp_path / "b.geojson"), labels, meta)
    a = json.loads((tmp_path / "a.geojson").read_text())
    b = json.loads((tmp_path / "b.geojson").read_text())
    assert [f["id"] for f in a["features"]] == [f["id"] for f in b["features"]]
    assert metadata["run_id"] == a["pathrobust"]["run_id"]  # stored in the layer metadata
    # a reopened export keeps its ids; another result (other run id) gets other ids
    (data, kwargs, _), = read_geojson(tmp_path / "a.geojson")
    export_geojson(tmp_path / "c.geojson", data, kwargs["features"], kwargs["metadata"])
    c = json.loads((tmp_path / "c.geojson").read_text())
    assert [f["id"] for f in c["features"]] == [f["id"] for f in a["features"]]
    export_geojson(tmp_path / "d.geojson", labels, metadata={"mpp": 0.5})
    d = json.loads((tmp_path / "d.geojson").read_text())
    assert not {f["id"] for f in d["features"]} & {f["id"] for f in a["features"]}


def _square(x, y, side, label):
    ring = [[x, y], [x + side, y], [x + side, y + side], [x, y + side], [x, y]]
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {"objectType": "detection", "label": label,
                           "classification": {"name": "Tumor"}}}


def test_slide_level_geojson_opens_lazily(tmp_path):
    """Bug 5: opening allocated one dense canvas the size of the polygons' extent."""
    path = tmp_path / "slide.geojson"
    far = 100_000
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        _square(10, 20, 10, 1), _square(far, far + 5, 12, 2)]}))
    tracemalloc.start()
    try:
        (data, kwargs, kind), = read_geojson(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert kind == "labels" and peak < 200 * 2**20
    level0 = data[0] if kwargs.get("multiscale") else data
    assert tuple(level0.shape) == (far + 5 + 12 + 1, far + 12 + 1)
    corner = np.asarray(level0[0:64, 0:64])
    assert corner.dtype == np.uint32
    assert set(np.unique(corner)) == {0, 1} and int((corner == 1).sum()) == 100
    assert (corner[20:30, 10:20] == 1).all()
    far_block = np.asarray(level0[far:far + 40, far - 20:far + 20])
    assert int((far_block == 2).sum()) == 144 and (far_block[5:17, 20:32] == 2).all()
    if kwargs.get("multiscale"):
        small = np.asarray(data[-1])
        assert max(small.shape) <= 2048 and small.dtype == np.uint32
    features = kwargs["features"]
    assert features["label"] == [1, 2] and features["area"] == [100, 144]
    assert features["x"][1] == 100_005.5 and features["y"][0] == 24.5


def test_a_tiff_exported_again_without_cells_does_not_pick_up_the_old_table(tmp_path):
    """The sidecar is attached only to the labels it was written with."""
    from napari_pathrobust._reader import read_slide
    from napari_pathrobust.engine.jobs.export import export_labels_tiff, tiff_sidecar

    labels = np.zeros((16, 16), np.uint32)
    labels[2:6, 2:6], labels[9:13, 9:13] = 1, 2
    features = {"label": [1, 2], "x": [3.5, 10.5], "y": [3.5, 10.5], "area": [16, 16],
                "classification": ["Tumor", "Nucleus"], "status": ["rejected", "accepted"]}
    path = tmp_path / "x.tif"
    export_labels_tiff(path, labels, {}, features)
    (_, kwargs, _), = read_slide(str(path))
    assert list(kwargs["features"]["status"]) == ["rejected", "accepted"]
    export_labels_tiff(path, (labels > 0).astype(np.uint32), {})  # no cells this time
    assert tiff_sidecar(path).exists()  # the earlier table is still there...
    (data, kwargs, _), = read_slide(str(path))
    assert "features" not in kwargs  # ...but it is not this TIFF's
    assert set(np.unique(data)) == {0, 1}
