"""Cell classifier engine: features, fit / predict / save / load, refusals, named cells."""

import json
import zipfile

import numpy as np
import pytest

from napari_pathrobust.engine import api
from napari_pathrobust.engine.cell_classes import (
    CLASSIFIER,
    PATHOLOGIST,
    set_base,
    with_classes,
)
from napari_pathrobust.engine.classify import FEATURES, CellClassifier, measure_cells


def _disc(lab, rgb, label, cy, cx, r, colour):
    yy, xx = np.ogrid[:lab.shape[0], :lab.shape[1]]
    inside = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    lab[inside] = label
    rgb[inside] = colour


def _two_kinds(n=40, seed=0, size=400):
    """Small dark-blue round nuclei (class A) and large pale elongated ones (class B)."""
    rng = np.random.default_rng(seed)
    lab = np.zeros((size, size), np.int32)
    rgb = np.full((size, size, 3), 235, np.uint8)
    names = {}
    grid = [(y, x) for y in range(20, size - 19, 40) for x in range(20, size - 19, 40)]
    for k, (y, x) in enumerate(grid[:n], start=1):
        if k % 2:
            _disc(lab, rgb, k, y, x, 5 + rng.integers(0, 2), (60, 50, 140))
            names[k] = "A"
        else:
            yy, xx = np.ogrid[:size, :size]
            inside = ((yy - y) / 14.0) ** 2 + ((xx - x) / 8.0) ** 2 <= 1
            lab[inside] = k
            rgb[inside] = (170, 110, 170)
            names[k] = "B"
    return rgb, lab, names


def test_features_correct_on_a_disc():
    lab = np.zeros((100, 100), np.int32)
    rgb = np.full((100, 100, 3), 255, np.uint8)
    _disc(lab, rgb, 7, 50, 40, 10, (100, 100, 200))
    table = measure_cells(rgb, lab, mpp=0.5, ring_um=2.0)
    assert list(table["label"]) == [7]
    assert set(FEATURES) <= set(table)
    area_px = (lab == 7).sum()
    assert table["area_um2"][0] == pytest.approx(area_px * 0.25)
    assert table["eccentricity"][0] < 0.15 and table["solidity"][0] > 0.9
    assert table["major_axis_um"][0] == pytest.approx(10.0, rel=0.05)
    assert (table["y"][0], table["x"][0]) == pytest.approx((50, 40))
    assert table["nucleus_hematoxylin_std"][0] == pytest.approx(0, abs=1e-6)
    assert table["nucleus_hematoxylin_mean"][0] > 0.1
    assert table["cell_hematoxylin_mean"][0] == pytest.approx(0, abs=1e-6)  # white ring
    assert table["neighbours"][0] == 0 and np.isnan(table["nearest_um"][0])


def test_features_do_not_depend_on_the_tiling():
    rgb, lab, _ = _two_kinds()
    whole = measure_cells(rgb, lab, mpp=0.5)
    tiled = measure_cells(rgb, lab, mpp=0.5, tile=64, margin=48)
    for name, values in whole.items():
        np.testing.assert_allclose(values, tiled[name], rtol=1e-12, err_msg=name)


def _named_cells(names, per_class):
    labels = np.array(sorted(names))
    cells = with_classes({"label": labels, "status": np.full(len(labels), "unreviewed")})
    named = np.zeros(len(labels), bool)
    for cls in ("A", "B"):
        named[np.flatnonzero([names[v] == cls for v in labels])[:per_class]] = True
    base = np.array([names[v] for v in labels], dtype=object)
    return set_base(cells, base, PATHOLOGIST, mask=named), labels, base, named


@pytest.mark.slow
def test_fit_classify_save_load_roundtrip(tmp_path):
    rgb, lab, names = _two_kinds()
    cells, labels, truth, named = _named_cells(names, 6)
    model, features = api.train_on_cells(lab, rgb, cells, mpp=0.5, seed=3)
    assert model.card["counts"] == {"A": 6, "B": 6} and model.card["seed"] == 3
    # a wrong name on a named cell stays: the classifier never overrides the pathologist
    first = np.flatnonzero(named)[0]
    cells = set_base(cells, "B" if truth[first] == "A" else "A", PATHOLOGIST,
                     mask=np.arange(len(labels)) == first)
    out = model.classify_table(cells, features)
    assert out["class_source"][first] == PATHOLOGIST and out["base_class"][first] != truth[first]
    others = ~named
    assert (out["base_class"][others] == truth[others]).mean() >= 0.95
    assert set(out["class_source"][others]) == {CLASSIFIER}
    assert np.all((out["class_probability"][others] > 0.5)
                  & (out["class_probability"][others] <= 1))
    assert np.isnan(out["class_probability"][named]).all()
    path = model.save(tmp_path / "cells.classifier.zip")
    with zipfile.ZipFile(path) as archive:
        card = json.loads(archive.read("card.json"))
    assert card["classes"] == ["A", "B"] and card["features"] == list(FEATURES)
    for key in ("date", "sklearn_version", "package_version", "model_sha256", "counts"):
        assert key in card
    again = api.CellClassifier.load(path)
    np.testing.assert_array_equal(again.classify_table(cells, features)["base_class"],
                                  out["base_class"])
    np.testing.assert_allclose(again.classify_table(cells, features)["class_probability"],
                               out["class_probability"])


def test_refusals_name_the_class_and_the_features(tmp_path):
    table = {f: np.zeros(12) for f in FEATURES}
    with pytest.raises(api.InputError, match="only 'A' is named"):
        CellClassifier.fit(table, ["A"] * 12)
    with pytest.raises(api.InputError, match=r"class 'B'.*has 4 named cells; at least 5"):
        CellClassifier.fit({f: np.zeros(11) for f in FEATURES}, ["A"] * 7 + ["B"] * 4)
    rng = np.random.default_rng(0)
    model = CellClassifier.fit({f: rng.random(10) for f in FEATURES}, ["A"] * 5 + ["B"] * 5)
    partial = {f: np.zeros(3) for f in FEATURES if f not in ("solidity", "neighbours")}
    with pytest.raises(api.InputError, match="slide2: .*missing here: solidity, neighbours"):
        model.predict(partial, source="slide2")
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    with pytest.raises(api.InputError, match="bad.zip: not a cell classifier file"):
        CellClassifier.load(tmp_path / "bad.zip")


def test_ihc_summary_after_classification_counts_the_classifiers_tumour_cells():
    """``segment --stain ihc --classifier``: the summary is scored again on the classes."""
    from napari_pathrobust.engine.cell_classes import CLASSIFIER, set_base, with_classes
    from napari_pathrobust.engine.ihc.scoring import IhcThresholds, ihc_summary
    from napari_pathrobust.engine.jobs.classify import _rescored

    n = 40
    dab = np.where(np.arange(n) < 10, 0.6, 0.05)  # 10 positive cells
    cells = with_classes({"label": np.arange(1, n + 1), "x": np.zeros(n), "y": np.zeros(n),
                          "area": np.full(n, 300.0), "dab_nucleus_mean": dab,
                          "status": np.full(n, "unreviewed", dtype=object)})
    run = {"ihc_summary": ihc_summary(cells, IhcThresholds())}
    assert _rescored(cells, {}) is None  # an H&E run has no summary to redo
    # the classifier calls the 10 positive cells and 10 negative ones tumour
    base = np.where(np.arange(n) < 20, "Tumor", "Stroma").astype(object)
    summary = _rescored(set_base(cells, base, CLASSIFIER, probability=0.9), run)
    assert summary["type_source"] == "named"
    assert summary["n_tumour"] == 20 and summary["tumour_index"] == 50.0
    assert summary["labelling_index"] == 25.0
