"""The pathrobust CLI end to end on the bundled demo crop, plus its error paths."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from napari_pathrobust.cli import expand_inputs, main


def test_segment_demo_writes_all_outputs(demo_image, tmp_path, capsys):
    code = main(["-q", "segment", str(demo_image), "-o", str(tmp_path), "--seed", "3"])
    assert code == 0
    out = capsys.readouterr().out
    assert "demo_he_crop:" in out and "nuclei" in out
    stem = tmp_path / "demo_he_crop"
    labels = tifffile.imread(f"{stem}_labels.tif")
    assert labels.shape == (512, 512) and labels.dtype == np.uint32
    n = int(labels.max())
    assert n > 50
    with open(f"{stem}_points.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == n
    assert {"x", "y", "label", "area"} <= set(rows[0])
    geo = json.loads((tmp_path / "demo_he_crop.geojson").read_text())
    assert len(geo["features"]) == n
    run = json.loads((tmp_path / "demo_he_crop_run.json").read_text())
    assert run["seed"] == 3 and run["method"] == "psm" and run["n_nuclei"] == n
    assert (tmp_path / "demo_he_crop_overlay.png").stat().st_size > 1000
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_tiled_run_matches_untiled_run(demo_image, tmp_path):
    assert main(["-q", "segment", str(demo_image), "-o", str(tmp_path / "a")]) == 0
    assert main(["-q", "segment", str(demo_image), "-o", str(tmp_path / "b"),
                 "--tile", "128", "--workers", "2"]) == 0
    from napari_pathrobust.engine.tiled.tiling import canonical_relabel

    a = tifffile.imread(tmp_path / "a" / "demo_he_crop_labels.tif")
    b = tifffile.imread(tmp_path / "b" / "demo_he_crop_labels.tif")
    # objects larger than the halo may differ at tile borders; on the demo all are small
    assert np.array_equal(canonical_relabel(a), canonical_relabel(b))


def test_zarr_labels_for_large_format(demo_image, tmp_path):
    assert main(["-q", "segment", str(demo_image), "-o", str(tmp_path),
                 "--labels-format", "zarr", "--tile", "256"]) == 0
    from napari_pathrobust.engine.writers import read_ome_zarr_labels

    levels, attrs = read_ome_zarr_labels(tmp_path / "demo_he_crop_labels.zarr")
    assert levels[0].shape == (512, 512)
    assert int(np.asarray(levels[0][:]).max()) > 50


def test_bad_inputs_give_one_line_and_exit_1(tmp_path, demo_image, capsys):
    bogus = tmp_path / "notes.tif"
    bogus.write_text("not an image")
    missing = tmp_path / "missing.svs"
    code = main(["-q", "segment", str(bogus), str(missing), str(demo_image), "-o",
                 str(tmp_path / "out")])
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2
    assert "notes.tif" in err[0] and "missing.svs" in err[1]
    assert "Traceback" not in "".join(err)
    # the good image in the same call still got its outputs
    assert (tmp_path / "out" / "demo_he_crop_labels.tif").exists()
    assert not (tmp_path / "out" / "notes_labels.tif").exists()


def test_usage_errors_exit_2(capsys):
    for argv in (["segment"], ["segment", "x.tif"], ["frobnicate"],
                 ["segment", "x.tif", "-o", "o", "--device", "tpu"],
                 ["segment", "x.tif", "-o", "o", "--tile", "-5"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2


def test_expand_inputs_folders_and_globs(tmp_path):
    for name in ("a.tif", "b.png", "c.txt", ".hidden.tif"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "d.zarr").mkdir()
    found = expand_inputs([str(tmp_path)])
    assert [p.name for p in found] == ["a.tif", "b.png", "d.zarr"]
    assert [p.name for p in expand_inputs([str(tmp_path / "*.png")])] == ["b.png"]


@pytest.mark.slow
def test_demo_command_and_console_script(tmp_path):
    out = subprocess.run([sys.executable, "-m", "napari_pathrobust.cli", "-q", "demo",
                          "-o", str(tmp_path), "--no-viewer"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "nuclei" in out.stdout and "pixel size unknown" not in out.stdout
    assert (tmp_path / "demo_he_crop.geojson").exists()
    info = json.loads((tmp_path / "demo_he_crop_run.json").read_text())
    assert info["pixel_size"]["mpp"] == 0.25 and not info["pixel_size"]["mpp_assumed"]


@pytest.mark.parametrize("argv", [
    ["segment", "{d}", "-o", "{o}"],
    ["pseudo-masks", "{d}", "-o", "{o}"],
    ["train-ssl", "{d}", "-o", "{o}/m.pt"],
    ["adapt", "{d}", "-o", "{o}"],
    ["robustness", "{d}", "-o", "{o}"],
])
def test_empty_input_folder_is_one_error_line(argv, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    args = ["-q", *[a.format(d=empty, o=tmp_path / "out") for a in argv]]
    try:
        code = main(args)
    except SystemExit as exc:  # commands that stop inside their job
        code = exc.code
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: no input images found"]


def test_param_sets_method_parameters_and_is_recorded(demo_image, tmp_path):
    assert main(["-q", "segment", str(demo_image), "-o", str(tmp_path), "--method",
                 "classical", "--param", "background_window_um=0", "--param", "h_um=0.375"]) == 0
    run = json.loads((tmp_path / "demo_he_crop_run.json").read_text())
    params = run["parameters"]["params"]
    assert params["background_window_um"] == 0 and params["h_um"] == 0.375
    assert run["parameters"]["pixels"]["h"] == 1.5  # microns at 0.25 um/px


@pytest.mark.parametrize("method, pair, message", [
    ("classical", "colour=blue", "KEY one of"),
    ("classical", "sigma_um=abc", "type float"),
    ("classical", "seed=3", "KEY one of"),
    ("classical", "novalue", "KEY=VALUE"),
    ("psm", "split=voronoi", "split rule 'voronoi'"),
    ("psm", "maps=maybe", "true or false")])
def test_bad_param_is_refused_clearly(demo_image, tmp_path, capsys, method, pair, message):
    with pytest.raises(SystemExit) as exc:
        main(["segment", str(demo_image), "-o", str(tmp_path), "--method", method,
              "--param", pair])
    assert exc.value.code == 2 and message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_blank_image_gives_zero_nuclei_and_one_warning_line(tmp_path, capsys):
    path = tmp_path / "blank.tif"
    tifffile.imwrite(path, np.full((256, 256, 3), 128, np.uint8))
    assert main(["segment", str(path), "-o", str(tmp_path / "out"), "--method", "classical"]) == 0
    err = capsys.readouterr().err
    lines = [line.strip("\r ") for line in err.splitlines() if "uniform" in line]
    assert len(lines) == 1 and lines[0].startswith("warning: blank:"), err
    info = json.loads((tmp_path / "out" / "blank_run.json").read_text())
    assert info["n_nuclei"] == 0 and info["warnings"]


# ------------------------------------------------------------------ IHC scoring (issue 17)


@pytest.mark.parametrize("pairs, message", [
    (["bins=0.4,0.2,0.6"], "strictly increasing"),
    (["bins=0.2,0.2,0.6"], "strictly increasing"),
    (["positive_threshold=-0.1"], ">= 0"),
    (["bins=-0.1,0.2,0.6"], ">= 0"),
    (["bins=0.2,0.4"], "3 bin thresholds"),
    (["ihc_auto=maybe"], "true or false"),
    (["ihc_mode=triple"], "mode"),
    (["ihc_measurement=dab_nuc_mean"], "expected one of"),  # before any segmentation
])
def test_bad_ihc_thresholds_exit_2_with_one_line(demo_image, tmp_path, capsys, pairs, message):
    argv = ["segment", str(demo_image), "-o", str(tmp_path), "--stain", "ihc"]
    for pair in pairs:
        argv += ["--param", pair]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and message in err and len(err.splitlines()) == 1, err
    assert err.startswith("error: IHC thresholds")
    assert not list(tmp_path.iterdir())


def test_ihc_thresholds_need_stain_ihc(demo_image, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["segment", str(demo_image), "-o", str(tmp_path),
              "--param", "positive_threshold=0.3"])
    assert exc.value.code == 2 and "need --stain ihc" in capsys.readouterr().err


def test_stain_ihc_thresholds_reach_outputs_and_summary_line(tmp_path, capsys, monkeypatch):
    from PIL import Image
    from test_ihc_scoring import DiscMethod, disc_image, patch_dab_measurement

    from napari_pathrobust.engine.jobs import segment as segment_job

    patch_dab_measurement(monkeypatch)
    built = {}

    def fake_method(name, device=None, seed=None, **params):
        built.update(params)
        return DiscMethod(params.get("stain", "he"))

    monkeypatch.setattr(segment_job, "get_method", fake_method)
    Image.fromarray(disc_image()).save(tmp_path / "ki67.png")
    out = tmp_path / "out"
    assert main(["segment", str(tmp_path / "ki67.png"), "-o", str(out), "--stain", "ihc",
                 "--param", "positive_threshold=0.25", "--param", "bins=0.25,0.45,0.7",
                 "--param", "ihc_mode=bins", "--param", "threshold=0.4"]) == 0
    assert built["stain"] == "ihc" and built["threshold"] == 0.4  # the rest: to the method
    assert "positive_threshold" not in built
    lines = [line for line in capsys.readouterr().out.splitlines() if "Ki-67" in line]
    assert len(lines) == 1 and lines[0].startswith("ki67: Ki-67 index") and "H-score" in lines[0]
    run = json.loads((out / "ki67_run.json").read_text())
    th = run["ihc_summary"]["thresholds"]
    assert th["bins"] == [0.25, 0.45, 0.7] and th["positive"] == 0.25 and th["mode"] == "bins"
    with open(out / "ki67_summary.csv", newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert float(row["h_score"]) == pytest.approx(run["ihc_summary"]["h_score"])
    assert f"{run['ihc_summary']['labelling_index']:.1f} %" in lines[0]
    with open(out / "ki67_points.csv", newline="") as handle:
        assert {r["classification"] for r in csv.DictReader(handle)} <= {"Negative", "1+", "2+",
                                                                       "3+"}
