"""Merging a new region's cells into a slide's result keeps every reviewed cell."""

import numpy as np
import pandas as pd
import pytest

from napari_pathrobust.engine.review.merge import merge_region
from napari_pathrobust.engine.tiled.tiling import Box


def _cells(labels: np.ndarray, status=None, classes=None) -> pd.DataFrame:
    """A features table (centroids relative to the labels' origin)."""
    ids = np.unique(labels[labels > 0])
    rows = []
    for label in ids:
        ys, xs = np.nonzero(labels == label)
        rows.append({"label": int(label), "x": xs.mean(), "y": ys.mean(), "area": ys.size,
                     "classification": (classes or {}).get(int(label), "Nucleus"),
                     "status": (status or {}).get(int(label), "unreviewed")})
    frame = pd.DataFrame(rows)
    frame["index"] = frame["label"]
    return frame


def _square(canvas, label, y, x, side=6):
    canvas[y:y + side, x:x + side] = label


@pytest.fixture
def old():
    """A 40 x 60 result at slide (10, 20) with four cells."""
    labels = np.zeros((40, 60), np.int32)
    _square(labels, 1, 2, 2)      # far from the new region
    _square(labels, 2, 20, 40)    # inside the new region, reviewed
    _square(labels, 3, 25, 50)    # inside the new region, unreviewed
    _square(labels, 4, 30, 27)    # straddles the region's left edge (x 30), reviewed
    table = _cells(labels, status={2: "accepted", 4: "rejected"}, classes={2: "Tumor"})
    return labels, table, Box(10, 20, 50, 80)


def test_first_result_is_kept_as_is():
    labels = np.zeros((10, 10), np.int32)
    _square(labels, 5, 1, 1, 3)
    out, table, box, report = merge_region(None, None, None, labels, _cells(labels),
                                           Box(0, 0, 10, 10))
    assert out is labels and list(table["label"]) == [5] and box == Box(0, 0, 10, 10)
    assert report.added == 1 and report.total == 1


def test_reviewed_cells_survive_and_unreviewed_are_replaced(old):
    labels, table, box = old
    # new region: slide rows 25..55, cols 50..90 (layer rows 15..45, cols 30..70)
    new = np.zeros((30, 40), np.int32)
    _square(new, 1, 5, 10)    # slide (30, 60): overlaps reviewed cell 2 -> dropped
    _square(new, 2, 10, 20)   # slide (35, 70): where unreviewed 3 was -> added
    _square(new, 3, 20, 30)   # slide (45, 80): beyond the old box -> added, box grows
    _square(new, 4, 15, 0, 4)  # slide (40, 50): overlaps straddling reviewed 4 -> dropped
    new_box = Box(25, 50, 55, 90)
    out, merged, union, report = merge_region(labels, table, box, new, _cells(new), new_box)
    assert union == Box(10, 20, 55, 90) and out.shape == (45, 70)
    by_label = merged.set_index("label")
    # reviewed cells keep id, pixels, status and class
    assert by_label.loc[2, "status"] == "accepted" and by_label.loc[2, "classification"] == "Tumor"
    assert by_label.loc[4, "status"] == "rejected"
    assert (out[:40, :60][labels == 2] == 2).all() and (out[:40, :60][labels == 4] == 4).all()
    assert (out[:40, :60][labels == 1] == 1).all()  # outside the region: untouched
    # the unreviewed cell inside the region is replaced
    assert 3 not in set(merged["label"]) and 3 not in set(np.unique(out))
    assert sorted(merged["label"]) == [1, 2, 4, 5, 6]  # new ids above the kept ones
    assert report.replaced == 1 and report.kept_reviewed == 1
    assert report.dropped_new == 2 and report.added == 2 and report.total == 5
    # ids stay unique and every label on the canvas has exactly one row
    assert merged["label"].is_unique
    assert set(np.unique(out[out > 0])) == set(merged["label"])
    assert (merged["index"] == merged["label"]).all()
    # centroids are relative to the union box
    for label, row in by_label.iterrows():
        ys, xs = np.nonzero(out == label)
        assert abs(ys.mean() - row["y"]) < 1e-6 and abs(xs.mean() - row["x"]) < 1e-6
    assert "reviewed kept" in report.message() and "1 unreviewed replaced" in report.message()


def test_unreviewed_cell_straddling_the_edge_is_kept_whole(old):
    """An unreviewed cell whose centroid lies outside the region is not cut in two."""
    labels, table, box = old
    table.loc[table["label"] == 4, "status"] = "unreviewed"
    new = np.zeros((30, 40), np.int32)
    _square(new, 7, 15, 0, 4)  # the region's view of cell 4 (cut at the edge)
    out, merged, _union, report = merge_region(labels, table, box, new, _cells(new),
                                               Box(25, 50, 55, 90))
    assert (out[:40, :60][labels == 4] == 4).all() and report.dropped_at_edge == 1
    assert report.dropped_new == 0 and "dropped" not in report.message()  # none reviewed
    assert 4 in set(merged["label"])


def test_rerun_without_reviews_replaces_everything_with_compact_ids():
    labels = np.zeros((20, 20), np.int32)
    _square(labels, 1, 2, 2)
    _square(labels, 2, 10, 10)
    box = Box(0, 0, 20, 20)
    new = labels.copy()
    new[new == 2] = 0
    out, merged, union, report = merge_region(labels, _cells(labels), box, new, _cells(new), box)
    assert union == box and list(merged["label"]) == [1] and report.replaced == 2
    assert set(np.unique(out)) == {0, 1}


def test_a_replaced_cell_crossing_the_edge_goes_whole(old):
    """An unreviewed cell whose centroid is inside the region but whose pixels cross its
    edge is replaced entirely: no fragment is left on the canvas without a row."""
    labels, table, box = old
    _square(labels, 5, 12, 32, 8)  # layer rows 12..19 cross the region's top (row 15)
    table = _cells(labels, status={2: "accepted", 4: "rejected"}, classes={2: "Tumor"})
    assert table.set_index("label").loc[5, "y"] >= 15  # its centroid is inside
    new = np.zeros((30, 40), np.int32)
    out, merged, _union, report = merge_region(labels, table, box, new, None,
                                               Box(25, 50, 55, 90))
    assert 5 not in set(merged["label"]) and 5 not in set(np.unique(out))
    assert set(np.unique(out[out > 0])) == set(merged["label"])
    assert report.replaced == 2  # cells 3 and 5
