"""Counts per class and status, in a box or a polygon, and the table's row filters."""

import numpy as np
import pandas as pd
import pytest

from napari_pathrobust.widgets._cell_counts import (
    counts_table,
    counts_text,
    filter_mask,
    inside_box,
    inside_polygon,
    text_filter,
)


def cells(n=2000, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "label": np.arange(1, n + 1),
        # centroids off the half-pixel grid so none sits on a test polygon's edge
        "x": rng.integers(0, 400, n) + 0.25, "y": rng.integers(0, 300, n) + 0.25,
        "area": rng.uniform(10, 100, n),
        "classification": rng.choice(["Tumor", "Stroma", "Nucleus"], n),
        "status": rng.choice(["unreviewed", "accepted", "rejected"], n),
    })


def brute_counts(frame, keep) -> dict:
    out: dict = {}
    for (cls, status), k in zip(zip(frame.classification, frame.status), keep):
        if k:
            out[(cls, status)] = out.get((cls, status), 0) + 1
    return out


def as_dict(table) -> dict:
    return {(c, s): int(table.loc[c, s]) for c in table.index if c != "total"
            for s in table.columns if s != "total" and table.loc[c, s]}


def test_counts_table_totals():
    frame = cells()
    table = counts_table(frame)
    assert list(table.columns) == ["unreviewed", "accepted", "rejected", "total"]
    assert list(table.index) == ["Nucleus", "Stroma", "Tumor", "total"]
    assert table.loc["total", "total"] == len(frame)
    assert table.loc["total"].drop("total").to_dict() == frame.status.value_counts().to_dict()
    assert table["total"].drop("total").to_dict() == \
        frame.classification.value_counts().to_dict()
    assert as_dict(table) == brute_counts(frame, np.ones(len(frame), bool))
    empty = counts_table(frame.iloc[:0])
    assert list(empty.index) == ["total"] and empty.to_numpy().sum() == 0


def test_missing_review_columns_default():
    frame = pd.DataFrame({"label": [1, 2], "x": [0.0, 1.0], "y": [0.0, 1.0]})
    assert counts_table(frame).loc["Nucleus", "unreviewed"] == 2
    assert counts_text(frame) == "2 cells | unreviewed 2 | Nucleus 2"


def test_box_count_equals_brute_force():
    frame = cells()
    box = (50, 120, 210.5, 333)
    mask = inside_box(frame, box)
    brute = np.array([50 <= y < 210.5 and 120 <= x < 333 for y, x in zip(frame.y, frame.x)])
    np.testing.assert_array_equal(mask, brute)
    assert as_dict(counts_table(frame[mask])) == brute_counts(frame, brute)


def test_polygon_count_equals_brute_force():
    frame = cells()
    poly = np.array([(20.0, 30.0), (280.0, 60.0), (150.0, 390.0), (100.0, 200.0)])  # (y, x)

    def inside(py, px):  # even-odd ray casting
        hit = False
        for (y0, x0), (y1, x1) in zip(poly, np.roll(poly, -1, axis=0)):
            if (y0 > py) != (y1 > py) and px < x0 + (py - y0) * (x1 - x0) / (y1 - y0):
                hit = not hit
        return hit

    brute = np.array([inside(y, x) for y, x in zip(frame.y, frame.x)])
    mask = inside_polygon(frame, poly)
    np.testing.assert_array_equal(mask, brute)
    assert 100 < brute.sum() < len(frame)
    assert as_dict(counts_table(frame[mask])) == brute_counts(frame, brute)
    assert not inside_polygon(frame, poly[:2]).any()  # not a polygon


def test_counts_text():
    frame = pd.DataFrame({"label": [1, 2, 3], "classification": ["Tumor", "Tumor", "Stroma"],
                          "status": ["accepted", "unreviewed", "accepted"]})
    assert counts_text(frame) == "3 cells | unreviewed 1, accepted 2 | Tumor 2, Stroma 1"
    assert counts_text(frame.iloc[:0]) == "no cells"


def test_filters():
    frame = cells()
    mask = filter_mask(frame, "accepted", "Tumor", "area >= 50 and area<70")
    want = (frame.status == "accepted") & (frame.classification == "Tumor") \
        & (frame.area >= 50) & (frame.area < 70)
    np.testing.assert_array_equal(mask, want)
    np.testing.assert_array_equal(filter_mask(frame, "all", None), np.ones(len(frame), bool))
    np.testing.assert_array_equal(text_filter(frame, "17"), frame.label == 17)
    with pytest.raises(ValueError):
        text_filter(frame, "classification > 3")
