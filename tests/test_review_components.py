"""The Review widget's components work from their explicit inputs alone (issue 23):
status / class edits with undo, key bindings given back, autosave debounced, the
centroid points kept in step. No Review widget is built here."""

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.gui


def _layer(n=6):
    from napari.layers import Labels

    labels = np.zeros((8, 8 * n), np.uint32)
    for i in range(n):
        labels[2:6, 8 * i + 2:8 * i + 6] = i + 1
    frame = pd.DataFrame({"label": np.arange(1, n + 1), "x": 8.0 * np.arange(n) + 4,
                          "y": np.full(n, 4.0), "area": np.full(n, 16.0)})
    return Labels(labels, features=frame, name="cells")


def _with_review_columns(layer):
    frame = layer.features.copy()
    frame["status"] = frame.get("status", "unreviewed")
    frame["classification"] = frame.get("classification", "Nucleus")
    return frame


def _actions(layer, selected=()):
    from napari_pathrobust.widgets._review_actions import ReviewActions

    changed, said = [], []
    actions = ReviewActions(lambda: layer, lambda: list(selected),
                            lambda: _with_review_columns(layer), changed.append, said.append)
    return actions, changed, said


def test_actions_edit_in_place_and_undo():
    layer = _layer()
    actions, changed, said = _actions(layer, selected=[2])
    actions.set_status("rejected")  # the selection, review columns added on the way
    assert layer.features.set_index("label").loc[2, "status"] == "rejected"
    assert changed == [[2]] and said[-1] == "rejected: 1 cell(s)"
    actions.set_class("Tumor", labels=[3, 2])  # unreviewed 3 accepted, rejected 2 stays
    f = layer.features.set_index("label")
    assert f.loc[3, ["classification", "status"]].tolist() == ["Tumor", "accepted"]
    assert f.loc[2, ["classification", "status"]].tolist() == ["Tumor", "rejected"]
    actions.undo()
    f = layer.features.set_index("label")
    assert f.loc[3, "status"] == "unreviewed" and f.loc[2, "classification"] == "Nucleus"
    actions.redo()
    assert layer.features.set_index("label").loc[3, "classification"] == "Tumor"
    assert said[-1] == "review of 2 cell(s) redone"
    actions.cells_are({1, 2, 3, 4, 5, 6})
    actions.cells_are({1, 2, 3, 4, 5}, forget=True)  # cells replaced: old steps dropped
    actions.undo()
    assert said[-1] == "nothing to be undone"


def test_actions_without_a_layer_or_a_cell_table():
    from napari.layers import Labels

    from napari_pathrobust.widgets._review_actions import ReviewActions

    said = []
    actions = ReviewActions(lambda: None, lambda: [1], pd.DataFrame, said.append,
                            said.append)
    actions.set_status("accepted")
    assert said == []
    mask = Labels(np.eye(4, dtype=np.uint8), name="mask")
    actions = ReviewActions(lambda: mask, lambda: [1], pd.DataFrame, said.append,
                            said.append)
    actions.set_status("accepted")
    assert said == ["mask has no cell table: choose a result of Recognise (or re-measure)"]


def test_layer_keys_give_back_the_bindings_they_replaced():
    from napari_pathrobust.widgets._review_actions import LayerKeys

    layer = _layer()

    def theirs(_layer):
        return None

    def ours(_layer):
        return None

    layer.bind_key("a", theirs, overwrite=True)
    keys = LayerKeys({"a": ours, "n": ours})
    keys.bind(layer)
    assert ours in dict(layer.keymap).values() and theirs not in dict(layer.keymap).values()
    keys.unbind(layer)
    bound = dict(layer.keymap)
    assert theirs in bound.values() and ours not in bound.values()


def test_autosave_is_debounced_and_reported(qtbot, tmp_path, monkeypatch):
    from qtpy.QtWidgets import QWidget

    from napari_pathrobust.widgets import _review_autosave

    calls, saved = [], []
    monkeypatch.setattr(_review_autosave, "autosave",
                        lambda layer, cells=False: calls.append(cells) or tmp_path)
    owner = QWidget()
    layer = _layer()
    saver = _review_autosave.Autosave(owner, lambda: layer, lambda: saved.append(1))
    saver.changed()
    saver.changed(cells=True)
    saver.changed()  # a burst: one save, with the cells
    qtbot.waitUntil(lambda: bool(calls), timeout=5_000)
    assert calls == [True] and saved == [1]
    saver.save_now()  # nothing pending: reviews only
    assert calls == [True, False]


def test_centroid_points_follow_the_cells(make_napari_viewer):
    from napari_pathrobust.widgets._review_points import (
        mark_selection,
        sync_points,
        sync_review_points,
    )

    viewer = make_napari_viewer()
    layer = _layer()
    layer.metadata = {"source_layer": "tile"}
    viewer.add_layer(layer)
    frame = _with_review_columns(layer)
    viewer.add_points(np.zeros((0, 2)), name="tile_centroids")
    sync_points(viewer, layer, frame)
    points = viewer.layers["tile_centroids"]
    assert len(points.data) == 6 and list(points.features["label"]) == list(range(1, 7))
    layer.features = frame
    layer.features.loc[layer.features["label"] == 4, "status"] = "accepted"
    sync_review_points(viewer, layer, [4], lambda: layer.features)
    assert points.features.set_index("label").loc[4, "status"] == "accepted"
    mark_selection(viewer, layer, [])  # nothing selected: no layer added
    assert "cells selection" not in viewer.layers
    mark_selection(viewer, layer, [1])  # the current cell is ringed too (issue 28.5)
    assert len(viewer.layers["cells selection"].data) == 1
    mark_selection(viewer, layer, [1, 2])
    assert len(viewer.layers["cells selection"].data) == 2
    assert viewer.layers.selection.active is not viewer.layers["cells selection"]
