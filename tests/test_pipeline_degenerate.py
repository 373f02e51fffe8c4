"""Degenerate images (issue 14, bug 4): blank, uniform or non-tissue images give zero
nuclei and one warning; no result holds an object larger than a nucleus can be."""

import json
import warnings

import numpy as np
import pytest

from napari_pathrobust.engine.io import slide_from_array
from napari_pathrobust.engine.registry import get_method
from napari_pathrobust.engine.synthetic import synthetic_he_tile
from napari_pathrobust.engine.tiled.pipeline import segment_slide

METHODS = [("classical", {}), ("psm", {"device": "cpu"})]


def _image(kind: str) -> np.ndarray:
    if kind == "black":
        return np.zeros((256, 256, 3), np.uint8)
    if kind == "grey":
        return np.full((256, 256, 3), 128, np.uint8)
    if kind == "nan":  # a float image of NaN: the reader turns it into black
        return np.full((256, 256, 3), np.nan, np.float32)
    if kind == "white":
        return np.full((256, 256, 3), 255, np.uint8)
    rng = np.random.default_rng(0)  # blank glass: near-white with sensor noise
    return (244 + rng.integers(-3, 4, size=(256, 256, 3))).astype(np.uint8)


def _segment(rgb, name, params):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = segment_slide(slide_from_array(rgb, name="odd"), get_method(name, **params),
                               workers=1)
    return result, [w for w in caught if "no nuclei" in str(w.message)]


@pytest.mark.parametrize("name,params", METHODS)
@pytest.mark.parametrize("kind", ["black", "grey", "nan", "white", "glass"])
def test_degenerate_image_gives_no_nuclei_and_one_warning(kind, name, params):
    result, caught = _segment(_image(kind), name, params)
    assert result.n_nuclei == 0
    assert not np.asarray(result.labels).any()
    assert len(caught) == 1 and str(caught[0].message).startswith("odd: ")
    assert "\n" not in str(caught[0].message)
    assert result.info["warnings"] == [str(caught[0].message)]


@pytest.mark.parametrize("name,params", METHODS)
def test_no_object_larger_than_a_nucleus(name, params):
    """Half black, half tissue: the black half used to be one giant 'nucleus'."""
    from napari_pathrobust.engine.methods.base import MAX_NUCLEUS_AREA

    rgb = synthetic_he_tile(shape=(256, 512), seed=1, radius_range=(6, 12))[0]
    rgb[:, :256] = 0
    result, caught = _segment(rgb, name, params)
    areas = np.bincount(np.asarray(result.labels).ravel())[1:]
    assert result.n_nuclei > 5 and not caught
    assert areas.max() <= MAX_NUCLEUS_AREA
    if name == "classical":  # (psm's network still finds small blobs at the image edge)
        assert not np.asarray(result.labels)[:, :200].any()  # nothing in the black half


@pytest.mark.parametrize("name,params", METHODS)
def test_method_itself_drops_giant_objects(name, params):
    method = get_method(name, **params)
    rgb = synthetic_he_tile(shape=(256, 512), seed=1, radius_range=(6, 12))[0]
    rgb[:, :256] = 0
    out = method.segment_tile(rgb)
    labels = np.asarray(getattr(out, "labels", out))
    assert np.bincount(labels.ravel())[1:].max() <= method.max_area


def test_max_area_is_a_method_parameter():
    from napari_pathrobust.engine.registry import parse_method_params

    assert parse_method_params("classical", ["max_area_um2=31.25"]) == {"max_area_um2": 31.25}
    assert get_method("classical", max_area_um2=31.25).max_area == 500  # px at 0.25 um/px


def test_job_records_the_warning_in_run_json(tmp_path):
    from napari_pathrobust.engine.jobs import JobOptions, segment_to_files

    with pytest.warns(UserWarning, match="no nuclei"):
        result = segment_to_files(slide_from_array(_image("black"), name="black"), tmp_path,
                                  JobOptions(method="classical"))
    assert result.n_nuclei == 0
    run = json.loads(result.outputs["run"].read_text())
    assert len(run["warnings"]) == 1 and "uniform" in run["warnings"][0]
