"""Tests for engine.nucleus_records: records, measurements, polygons, feature tables."""

from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import Polygon
from skimage.draw import disk, ellipse
from skimage.draw import polygon as draw_polygon
from skimage.measure import regionprops

from napari_pathrobust.engine.errors import InputError
from napari_pathrobust.engine.nucleus_records import (
    NucleusRecord,
    features_table,
    hematoxylin_od,
    measure_objects,
    record_polygon,
)


def make_scene(seed: int = 0):
    """Labels (200 x 240) with separate ellipses and a few touching pairs + an RGB image."""
    rng = np.random.default_rng(seed)
    lab = np.zeros((200, 240), np.int32)
    n = 0
    for cy in range(20, 200, 40):
        for cx in range(20, 200, 40):
            n += 1
            rr, cc = ellipse(cy + rng.uniform(-2, 2), cx + rng.uniform(-2, 2),
                             rng.uniform(5, 12), rng.uniform(4, 10),
                             rotation=rng.uniform(0, np.pi), shape=lab.shape)
            lab[rr, cc] = n
    # touching pairs on the right: two discs whose masks share an edge
    for cy in (30, 90, 150):
        rr, cc = disk((cy, 215), 8, shape=lab.shape)
        n += 1
        lab[rr, cc] = n
        left = cc < 215
        n += 1
        lab[rr[left], cc[left]] = n
    rgb = rng.integers(150, 256, (*lab.shape, 3)).astype(np.uint8)
    rgb[lab > 0] = (80, 40, 140)
    return lab, rgb


def rasterise(ring, y0, x0, shape):
    """Pixels whose centres lie inside a QuPath-convention ring, as a (shape) mask at y0,x0."""
    pts = np.asarray(ring)
    rows = pts[:, 1] - 0.5 - y0
    cols = pts[:, 0] - 0.5 - x0
    out = np.zeros(shape, bool)
    rr, cc = draw_polygon(rows, cols, shape=shape)
    out[rr, cc] = True
    return out


def test_hematoxylin_od_properties():
    white = np.full((2, 2, 3), 255, np.uint8)
    assert hematoxylin_od(white).dtype == np.float32
    assert np.allclose(hematoxylin_od(white), 0)
    purple = np.array([[[80, 40, 140]]], np.uint8)
    pink = np.array([[[240, 150, 200]]], np.uint8)
    assert hematoxylin_od(purple)[0, 0] > hematoxylin_od(pink)[0, 0]
    assert hematoxylin_od(purple)[0, 0] > 0.3
    black = np.zeros((1, 1, 3), np.uint8)
    assert np.isfinite(hematoxylin_od(black)).all()
    with pytest.raises(ValueError):
        hematoxylin_od(np.zeros((3, 3), np.uint8))


def test_measure_known_shapes_exact():
    lab = np.zeros((40, 50), np.uint16)
    lab[5:15, 10:30] = 3      # 10 x 20 rectangle
    lab[20:23, 40:43] = 7     # 3 x 3 square
    recs = measure_objects(lab, None, offset=(1000, 2000))
    assert len(recs) == 2
    rect, sq = recs
    assert rect.area == 200 and rect.measurements["area"] == 200
    assert rect.centroid_y == pytest.approx(1000 + 9.5)
    assert rect.centroid_x == pytest.approx(2000 + 19.5)
    assert (rect.y0, rect.x0) == (1005, 2010)
    assert rect.mask.shape == (10, 20) and rect.mask.dtype == bool and rect.mask.all()
    assert rect.label == 0 and rect.classification == "Nucleus"
    assert rect.status == "unreviewed"
    assert rect.measurements["solidity"] == pytest.approx(1.0)
    assert sq.area == 9 and (sq.centroid_y, sq.centroid_x) == (1021.0, 2041.0)
    assert "mean_hematoxylin_od" not in rect.measurements
    for key in ("perimeter", "eccentricity", "solidity", "major_axis", "minor_axis"):
        assert key in rect.measurements


def test_measurements_match_skimage():
    lab, rgb = make_scene()
    recs = measure_objects(lab, rgb)
    od = hematoxylin_od(rgb)
    props = regionprops(lab, intensity_image=od)
    assert len(recs) == len(props) == lab.max()
    for rec, p in zip(recs, props):
        m = rec.measurements
        assert rec.area == p.area
        assert rec.centroid_y == pytest.approx(p.centroid[0])
        assert rec.centroid_x == pytest.approx(p.centroid[1])
        assert m["perimeter"] == pytest.approx(p.perimeter)
        assert m["eccentricity"] == pytest.approx(p.eccentricity, abs=1e-9)
        assert m["major_axis"] == pytest.approx(p.axis_major_length)
        assert m["minor_axis"] == pytest.approx(p.axis_minor_length, abs=1e-9)
        assert m["mean_hematoxylin_od"] == pytest.approx(p.intensity_mean, rel=1e-5)
        assert 0.5 < m["solidity"] <= 1.0
        np.testing.assert_array_equal(rec.mask, p.image)


def test_keep_filter_offset_and_mpp():
    lab, rgb = make_scene()
    core = (50, 150)
    recs = measure_objects(lab, rgb, offset=(300, 400),
                           keep=lambda r: core[0] <= r.centroid[0] < core[1], mpp=0.5)
    expected = [p for p in regionprops(lab) if core[0] <= p.centroid[0] < core[1]]
    assert len(recs) == len(expected) > 0
    for rec, p in zip(recs, expected):
        assert rec.centroid_y == pytest.approx(300 + p.centroid[0])
        assert rec.centroid_x == pytest.approx(400 + p.centroid[1])
        assert rec.y0 == 300 + p.bbox[0] and rec.x0 == 400 + p.bbox[1]
        assert rec.measurements["area_um2"] == pytest.approx(p.area * 0.25)


def test_large_label_values_and_empty():
    lab = np.zeros((20, 20), np.int64)
    lab[2:6, 2:6] = 10 ** 12
    lab[10:14, 10:12] = 5
    recs = measure_objects(lab, None)
    assert sorted(r.area for r in recs) == [8, 16]
    assert measure_objects(np.zeros((8, 8), np.int32), None) == []
    with pytest.raises(InputError):
        measure_objects(np.zeros((8, 8), float), None)
    with pytest.raises(InputError):
        measure_objects(np.zeros((8, 8), np.int32), np.zeros((4, 4, 3), np.uint8))


def test_polygon_rasterises_back_and_is_valid():
    lab, rgb = make_scene()
    recs = measure_objects(lab, rgb, offset=(17, 23))
    checked = 0
    for rec in recs:
        ring = record_polygon(rec)
        assert ring[0] == ring[-1]
        poly = Polygon(ring)
        assert poly.is_valid and poly.exterior.is_ccw
        assert poly.area == pytest.approx(rec.area, rel=0.15)
        if rec.area >= 30:
            back = rasterise(ring, rec.y0, rec.x0, rec.mask.shape)
            iou = (back & rec.mask).sum() / (back | rec.mask).sum()
            assert iou >= 0.95, (rec.area, iou)
            checked += 1
        # global coordinates: the ring lies on the record's bounding box
        xs, ys = zip(*ring)
        assert min(xs) >= rec.x0 and max(xs) <= rec.x0 + rec.mask.shape[1]
        assert min(ys) >= rec.y0 and max(ys) <= rec.y0 + rec.mask.shape[0]
    assert checked > 20


@pytest.mark.parametrize("mask", [
    np.ones((1, 1), bool),
    np.array([[1, 0], [0, 1]], bool),          # diagonal pixels: largest part kept
    np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], bool),  # ring with a hole
    np.ones((1, 7), bool),
])
def test_polygon_degenerate_masks(mask):
    rec = NucleusRecord(label=1, y0=5, x0=6, mask=mask, centroid_y=0, centroid_x=0,
                        area=int(mask.sum()), measurements={})
    for simplify in (0.0, 0.3):
        ring = record_polygon(rec, simplify=simplify)
        poly = Polygon(ring)
        assert poly.is_valid and poly.area > 0 and poly.exterior.is_ccw
        assert ring[0] == ring[-1]


def test_features_table_columns():
    lab, rgb = make_scene()
    recs = measure_objects(lab, rgb, mpp=0.25)
    for i, rec in enumerate(recs, start=1):
        rec.label = i
    recs[0].classification = "Tumor"
    table = features_table(recs)
    assert list(table)[:6] == ["label", "x", "y", "area", "classification", "status"]
    n = len(recs)
    assert all(len(col) == n for col in table.values())
    assert "mean_hematoxylin_od" in table and "area_um2" in table
    np.testing.assert_array_equal(table["label"], np.arange(1, n + 1))
    assert table["classification"][0] == "Tumor"
    np.testing.assert_allclose(table["x"], [r.centroid_x for r in recs])
    empty = features_table([])
    assert len(empty["label"]) == 0


def test_measure_typical_tile():
    """~1500 nuclei on a 1000 x 1000 tile: one record each (speed: bench_hot_paths.py)."""
    rng = np.random.default_rng(1)
    lab = np.zeros((1000, 1000), np.int32)
    n = 0
    for i in range(39):
        for j in range(39):
            n += 1
            rr, cc = ellipse(12 + i * 25, 12 + j * 25, rng.uniform(5, 10), rng.uniform(4, 9),
                             rotation=rng.uniform(0, 3), shape=lab.shape)
            lab[rr, cc] = n
    rgb = rng.integers(0, 256, (1000, 1000, 3), dtype=np.uint8)
    recs = measure_objects(lab, rgb, mpp=0.25)
    assert len(recs) == n
