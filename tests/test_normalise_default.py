"""Gated stain normalisation in every psm recognition (issue 26.1): on by default for
H&E, fitted once per slide, tiles equal the whole image, the decision is recorded, and
off (or rejected by the gate) gives the colours-as-scanned labels bit for bit."""

import json
import pickle

import numpy as np
import pytest
import tifffile

from napari_pathrobust.cli import main
from napari_pathrobust.engine.adapt.gate import GateThresholds
from napari_pathrobust.engine.adapt.normalise import (
    NormaliseConfig,
    NormalisedPSM,
    normalisation_note,
    normalise_image,
)
from napari_pathrobust.engine.adapt.stain_norm import ReinhardNormaliser
from napari_pathrobust.engine.io import open_image, slide_from_array
from napari_pathrobust.engine.jobs import JobOptions, segment_file, segment_to_files
from napari_pathrobust.engine.jobs.region import RegionOptions, segment_region
from napari_pathrobust.engine.methods.psm import PSMMethod
from napari_pathrobust.engine.registry import get_method
from napari_pathrobust.engine.tiled.pipeline import segment_slide
from napari_pathrobust.engine.tiled.tiling import canonical_relabel

KEEP = GateThresholds(min_gain=-1.0, max_ratio=1e9)  # the gate keeps whatever it sees
REJECT = GateThresholds(min_gain=10.0)  # the gate never keeps


@pytest.fixture(scope="module")
def demo():
    from napari_pathrobust._sample_data import demo_crop

    (data, _kwargs, _), = demo_crop()
    return np.ascontiguousarray(np.asarray(data)[..., :3])


def _psm(thresholds=None):
    psm = PSMMethod(device="cpu", maps=False)
    return psm if thresholds is None else NormalisedPSM(psm, NormaliseConfig(thresholds=thresholds))


def _key(rec):
    return (rec.label, rec.y0, rec.x0, rec.mask.tobytes(), rec.area, rec.centroid_y,
            rec.centroid_x, tuple(sorted(rec.measurements.items())))


def _run(rgb, method, tile=None, workers=1):
    return segment_slide(slide_from_array(rgb, name="n"), method, tile=tile or max(rgb.shape),
                         workers=workers, keep_records=True)


def test_normalised_image_equals_the_per_pixel_map():
    rng = np.random.default_rng(0)
    norm = ReinhardNormaliser(source=((-0.7, 0.25), (-0.1, 0.05), (0.03, 0.01)))
    big = rng.integers(0, 256, (700, 600, 3), dtype=np.uint8)  # the colour-table path
    small = big[:50, :40]
    np.testing.assert_array_equal(normalise_image(norm, big), norm(big))
    np.testing.assert_array_equal(normalise_image(norm, small), norm(small))


def test_psm_on_he_is_normalised_by_default_and_nothing_else_is():
    assert isinstance(get_method("psm", device="cpu", maps=False), NormalisedPSM)
    assert type(get_method("psm", device="cpu", maps=False, normalise=False)) is PSMMethod
    assert type(get_method("psm", device="cpu", maps=False, stain="ihc")) is PSMMethod
    assert type(get_method("psm", device="cpu", maps=False, seg_weights="")) is PSMMethod
    assert get_method("classical").name == "classical"


def test_kept_normalisation_tiled_equals_untiled(demo):
    runs = [_run(demo, _psm(KEEP), tile, workers)
            for tile, workers in ((None, 1), (256, 2), (128, 1))]
    ref = runs[0]
    assert ref.info["parameters"]["normalisation"]["kept"] and ref.n_nuclei > 50
    for res in runs[1:]:
        np.testing.assert_array_equal(res.labels, ref.labels)
        assert [_key(r) for r in res.records] == [_key(r) for r in ref.records]
    scanned = _run(demo, _psm())
    assert not np.array_equal(scanned.labels, ref.labels)  # normalising changed something


def test_rejected_normalisation_gives_the_scanned_labels_bit_for_bit(demo):
    gated, scanned = _run(demo, _psm(REJECT), 256, 2), _run(demo, _psm(), 256, 2)
    record = gated.info["parameters"]["normalisation"]
    assert record["decision"] == "as scanned" and not record["kept"]
    assert set(record["signals"]) == {"scanned", "normalised"}
    np.testing.assert_array_equal(gated.labels, scanned.labels)
    assert [_key(r) for r in gated.records] == [_key(r) for r in scanned.records]


def test_fitted_method_pickles_with_its_decision(demo):
    method = _psm(KEEP)
    method.fit(demo)
    clone = pickle.loads(pickle.dumps(method))  # as a dask worker receives it
    assert clone.kept and clone.params.stain == "he" and clone._sample is None
    np.testing.assert_array_equal(clone.segment_tile(demo), method.segment_tile(demo))


def test_off_switch_gives_todays_labels_and_says_so(demo, tmp_path):
    path = tmp_path / "demo.tif"
    tifffile.imwrite(path, demo)
    off = segment_file(path, tmp_path / "off", JobOptions(method="psm", normalise=False,
                                                          method_params={"maps": False}))
    today = segment_to_files(open_image(path), tmp_path / "today", JobOptions(method="psm"),
                             method=_psm())
    np.testing.assert_array_equal(tifffile.imread(off.outputs["labels"]),
                                  tifffile.imread(today.outputs["labels"]))
    record = json.loads(off.outputs["run"].read_text())["normalisation"]
    assert record["enabled"] is False and record["reason"] == "turned off"
    assert normalisation_note(off.info) == "colours as scanned: turned off"


def test_decision_in_run_json_and_the_cli_line(demo_image, tmp_path, capsys):
    assert main(["-q", "segment", str(demo_image), "-o", str(tmp_path)]) == 0
    line = capsys.readouterr().out
    run = json.loads((tmp_path / "demo_he_crop_run.json").read_text())
    record = run["normalisation"]
    assert record == run["parameters"]["normalisation"]
    assert record["enabled"] and record["decision"] in ("normalised", "as scanned")
    for side in ("scanned", "normalised"):
        assert {"confidence", "fraction", "count_per_mpx", "median_area"} <= \
            set(record["signals"][side])
    head = "stain normalised" if record["kept"] else "colours as scanned"
    assert f"{head}: {record['reason']}" in line
    assert main(["-q", "segment", str(demo_image), "-o", str(tmp_path / "c"),
                 "--method", "classical"]) == 0
    assert "colours as scanned" not in capsys.readouterr().out  # not a psm run


def test_no_normalise_flag(demo_image, tmp_path, capsys):
    assert main(["-q", "segment", str(demo_image), "-o", str(tmp_path), "--no-normalise"]) == 0
    assert "colours as scanned: turned off" in capsys.readouterr().out
    run = json.loads((tmp_path / "demo_he_crop_run.json").read_text())
    assert run["normalisation"]["enabled"] is False
    assert "normalisation" not in run["parameters"]


def test_region_job_records_the_decision_in_the_layer_metadata(demo):
    from napari_pathrobust.engine.tiled.tiling import Box

    box = Box(0, 0, 384, 384)
    on = segment_region(demo, box, RegionOptions(method="psm", device="cpu",
                                                 method_params={"maps": False}))
    off = segment_region(demo, box, RegionOptions(method="psm", device="cpu", normalise=False,
                                                  method_params={"maps": False}))
    assert on.metadata["normalisation"]["enabled"]
    assert on.metadata["normalisation"]["decision"] in ("normalised", "as scanned")
    assert off.metadata["normalisation"]["reason"] == "turned off"
    ihc = segment_region(demo, box, RegionOptions(method="psm", device="cpu", stain="ihc",
                                                  method_params={"maps": False}))
    assert ihc.metadata["normalisation"] == {**ihc.metadata["normalisation"], "enabled": False,
                                             "applies": False, "reason": "H&E only"}


def _features(**over):
    base = {"prob_max": np.full(40, 0.99), "dist_max": np.linspace(0.6, 0.7, 40),
            "hematoxylin": np.linspace(0.30, 0.40, 40), "redness": np.linspace(0.5, 0.6, 40),
            "prob": np.full(40, 0.9), "area": np.full(40, 400.0)}
    for key, (i, value) in over.items():
        base[key] = base[key].copy()
        base[key][i] = value
    return base


def test_objectness_drops_only_unconfident_objects_unlike_the_confident_ones():
    from napari_pathrobust.engine.psm.objectness import Objectness

    model = Objectness(6.0).fit(_features())
    assert model.n_confident == 40 and model.keep(_features()).all()
    # an unsure, pale, red object (a red blood cell): dropped; sure of it: kept
    rbc = {"hematoxylin": (3, 0.05), "redness": (3, 0.9), "prob": (3, 0.6), "area": (3, 90)}
    assert not model.keep(_features(**rbc))[3]
    assert model.keep(_features(hematoxylin=(3, 0.05), redness=(3, 0.9)))[3]
    # darker or bluer than the confident nuclei is not implausible (one-sided)
    assert model.keep(_features(hematoxylin=(3, 2.0), redness=(3, 0.1), prob=(3, 0.6)))[3]
    assert Objectness(0.0).fit(_features()).keep(_features(**rbc)).all()  # off


def test_objectness_off_and_colours_as_scanned_give_the_labels_before_issue_26(demo):
    from dataclasses import replace

    from napari_pathrobust.engine.morphology import relabel_sequential, remove_small_labels
    from napari_pathrobust.engine.psm.instances import instances_from_outputs

    method = get_method("psm", device="cpu", maps=False, normalise=False, objectness=0.0)
    labels = _run(demo, method).labels
    psm = PSMMethod(device="cpu", maps=False)  # the steps as they ran before: no filter
    prob, dist = psm.network_outputs(demo)
    raw = instances_from_outputs(prob, dist, replace(psm.instance_params, min_area=30))
    floor = max(30, int(round(0.25 * np.median(np.bincount(raw.ravel())[1:]))))
    expected = relabel_sequential(remove_small_labels(raw, floor))
    np.testing.assert_array_equal(labels, canonical_relabel(expected))


def test_objectness_is_fitted_recorded_and_tile_independent(demo):
    runs = [_run(demo, get_method("psm", device="cpu", maps=False, normalise=False), tile, w)
            for tile, w in ((None, 1), (128, 2))]
    fitted = runs[0].info["parameters"]["fitted"]["objectness"]
    assert fitted["cutoff"] == 6.0 and fitted["confident_nuclei"] >= 10
    np.testing.assert_array_equal(runs[0].labels, runs[1].labels)
    off = _run(demo, get_method("psm", device="cpu", maps=False, normalise=False,
                                objectness=0.0))
    assert runs[0].n_nuclei <= off.n_nuclei


def test_ihc_objectness_is_fitted_and_tile_independent():
    """IHC runs fit objectness on the pseudo-H&E their network sees (faint out-of-focus
    texture unlike the slide's confident nuclei); tiled = untiled, ids included."""
    from napari_pathrobust.engine.synthetic import synthetic_ihc_tile

    rgb = synthetic_ihc_tile(size=256, seed=5)[0]
    runs = [_run(rgb, get_method("psm", device="cpu", maps=False, stain="ihc"), tile, w)
            for tile, w in ((None, 1), (96, 2))]
    assert runs[0].info["parameters"]["fitted"]["objectness"]["cutoff"] == 6.0
    np.testing.assert_array_equal(runs[0].labels, runs[1].labels)
