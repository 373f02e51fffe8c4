"""The stain a run used is said plainly (issue 28.8): ``_run.json`` records it, and an
IHC run on a slide with little DAB says "little DAB: is this an IHC slide?"."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from napari_pathrobust.engine.ihc.dab_check import LITTLE_DAB, NOTE, dab_check, dab_fraction

KI67 = Path(__file__).resolve().parents[2] / "shared" / "data" / "ki67-dev"


def test_dab_check_tells_he_from_ihc(demo_image):
    he = np.asarray(Image.open(demo_image).convert("RGB"))
    check = dab_check(he)
    assert check["little_dab"] and check["note"] == NOTE and check["dab_fraction"] < 0.03
    assert check["little_dab_below"] == LITTLE_DAB
    skimage_data = pytest.importorskip("skimage.data")
    ihc = dab_check(skimage_data.immunohistochemistry())
    assert not ihc["little_dab"] and ihc["note"] == "" and ihc["dab_fraction"] > 0.5
    assert dab_check(np.full((64, 64, 3), 255, np.uint8)) is None  # glass: no judgement
    # a large sample is measured on a grid: about the same fraction
    big = np.tile(he, (3, 3, 1))
    assert dab_fraction(big, max_pixels=2**16) == pytest.approx(check["dab_fraction"],
                                                               abs=0.01)


@pytest.mark.slow
@pytest.mark.skipif(not KI67.is_dir(), reason="the ki67-dev fields are not here")
def test_real_ki67_fields_do_not_warn():
    from napari_pathrobust.engine.io import open_image
    from napari_pathrobust.engine.tiled.sampling import fit_sample

    fields = sorted(KI67.glob("*/images/*.png"))
    assert fields
    for path in fields:
        check = dab_check(fit_sample(open_image(path), 0))
        assert not check["little_dab"], (path.name, check)


def _segment(argv):
    from napari_pathrobust.cli import main

    assert main(["-q", "segment", *argv, "--method", "classical"]) == 0


@pytest.mark.slow
def test_run_json_and_cli_name_the_stain_and_warn_on_little_dab(demo_image, tmp_path,
                                                                capsys, monkeypatch):
    _segment([str(demo_image), "-o", str(tmp_path / "ihc"), "--stain", "ihc"])
    err = capsys.readouterr().err
    assert f"warning: demo_he_crop: {NOTE}" in err  # the CLI says it
    run = json.loads((tmp_path / "ihc" / "demo_he_crop_run.json").read_text())
    assert run["stain"] == "ihc" and run["stain_check"]["little_dab"] is True
    assert any(NOTE in w for w in run["warnings"])
    _segment([str(demo_image), "-o", str(tmp_path / "he")])
    assert NOTE not in capsys.readouterr().err
    run = json.loads((tmp_path / "he" / "demo_he_crop_run.json").read_text())
    assert run["stain"] == "he" and "stain_check" not in run
    # the check only reports: the labels are those of a run without it
    from napari_pathrobust.engine.jobs import segment as segment_job
    from napari_pathrobust.engine.writers import read_labels_tiff

    monkeypatch.setattr(segment_job, "stain_check", lambda *a: None)
    _segment([str(demo_image), "-o", str(tmp_path / "plain"), "--stain", "ihc"])
    labels = [read_labels_tiff(tmp_path / d / "demo_he_crop_labels.tif")[0]
              for d in ("ihc", "plain")]
    np.testing.assert_array_equal(*labels)


def test_region_runs_record_the_check(demo_image):
    from napari_pathrobust.engine.jobs.region import RegionOptions, segment_region
    from napari_pathrobust.engine.jobs.stain_note import run_label, stain_note

    rgb = np.asarray(Image.open(demo_image).convert("RGB"))
    with pytest.warns(UserWarning, match="little DAB"):
        result = segment_region(rgb, (0, 0, 512, 512),
                                RegionOptions(method="classical", stain="ihc", seed=3),
                                name="demo")
    meta = result.metadata
    assert meta["stain"] == "ihc" and meta["stain_check"]["little_dab"]
    assert run_label(meta) == "classical, IHC stain, seed 3"
    assert stain_note(meta).startswith(f"; {NOTE} (DAB ")
    assert run_label({"method": "psm", "stain": "he", "seed": 0}) == "psm, H&E stain"
    assert stain_note({"stain": "he"}) == ""
