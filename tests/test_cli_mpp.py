"""``--mpp`` on every command that reads images (issue 15): refusals are one line with
exit 2; the value reaches the run; an unknown pixel size is said in the image's line
and in ``_run.json``."""

import json

import numpy as np
import pytest
import tifffile

from napari_pathrobust.cli import main

COMMANDS = [
    ["segment", "x.tif", "-o", "out"],
    ["pseudo-masks", "x.tif", "-o", "out"],
    ["adapt", "x.tif", "-o", "out"],
    ["robustness", "x.tif", "-o", "out"],
    ["train", "x.tif", "-o", "w.pt"],
    ["train-ssl", "x.tif", "-o", "w.pt"],
]


@pytest.mark.parametrize("argv", COMMANDS, ids=[c[0] for c in COMMANDS])
@pytest.mark.parametrize("value", ["0", "-0.5", "abc", "nan"])
def test_bad_mpp_is_one_line_and_exit_2(argv, value, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*argv, f"--mpp={value}"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --mpp") and "microns" in err[0]


def _tile(tmp_path, mpp=None):
    from napari_pathrobust.engine.synthetic import synthetic_he_tile

    rgb = synthetic_he_tile(shape=(256, 256), seed=2)[0]
    kwargs = {} if mpp is None else {"resolution": (1e4 / mpp, 1e4 / mpp),
                                     "resolutionunit": "CENTIMETER"}
    path = tmp_path / "tile.tif"
    tifffile.imwrite(path, rgb, photometric="rgb", **kwargs)
    return path


def test_unknown_pixel_size_is_said(tmp_path, capsys):
    path = _tile(tmp_path)
    assert main(["-q", "segment", str(path), "-o", str(tmp_path / "out"), "--method",
                 "classical"]) == 0
    line = capsys.readouterr().out.strip()
    assert "pixel size unknown: assumed 0.25 um/px" in line
    run = json.loads((tmp_path / "out" / "tile_run.json").read_text())
    assert run["pixel_size"]["mpp_assumed"] and "assumed 0.25" in run["pixel_size"]["note"]


def test_mpp_from_the_file_and_the_user(tmp_path, capsys):
    path = _tile(tmp_path, mpp=0.5)
    assert main(["-q", "segment", str(path), "-o", str(tmp_path / "file"), "--method",
                 "classical"]) == 0
    assert "assumed" not in capsys.readouterr().out
    run = json.loads((tmp_path / "file" / "tile_run.json").read_text())
    assert run["pixel_size"]["mpp"] == pytest.approx(0.5) and run["pixel_size"]["scale"] == 2
    labels = tifffile.imread(tmp_path / "file" / "tile_labels.tif")
    assert labels.shape == (256, 256)  # on the slide's own grid
    assert main(["-q", "segment", str(path), "-o", str(tmp_path / "user"), "--method",
                 "classical", "--mpp", "0.25"]) == 0
    run = json.loads((tmp_path / "user" / "tile_run.json").read_text())
    assert run["pixel_size"] == {"mpp": 0.25, "mpp_source": "user", "working_mpp": 0.25,
                                 "mpp_assumed": False}
    assert run["image"]["mpp_source"] == "user"


def test_training_images_are_resampled_to_the_working_resolution(tmp_path):
    from napari_pathrobust.engine.jobs.training_images import load_training_images

    path = _tile(tmp_path, mpp=0.5)
    (image,) = load_training_images([path])
    assert image.shape == (512, 512, 3)
    (image,) = load_training_images([path], mpp=0.25)
    assert image.shape == (256, 256, 3)
    (image,) = load_training_images([path], mpp=0.125)
    assert image.shape == (128, 128, 3) and image.dtype == np.uint8
