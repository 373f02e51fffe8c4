"""The job layer's output set: metadata after the run, all-or-nothing publication,
temporary state only in the checkpoint folder, run ids (issue 14, bugs 2, 3, 6, 9, 10)."""

import json
import os
import subprocess
import sys

import pytest
import tifffile

from napari_pathrobust.engine.io import slide_from_array
from napari_pathrobust.engine.jobs import (
    JobOptions,
    checkpoint_path,
    segment_file,
    segment_to_files,
)
from napari_pathrobust.engine.synthetic import synthetic_he_tile

OUTPUT_NAMES = {"img_labels.tif", "img_points.csv", "img.geojson", "img_overlay.png",
                "img_run.json"}


def image(size=320, seed=4):
    return slide_from_array(synthetic_he_tile(shape=(size, size), seed=seed)[0], name="img")


def classical(**kwargs):
    return JobOptions(method="classical", tile=160, workers=1, **kwargs)


def entries(folder):
    return sorted(p.name for p in folder.iterdir())


def test_every_output_carries_the_metadata_after_the_run(tmp_path):
    """Bug 2: OME-Zarr attrs and the GeoJSON header had the metadata from before the run."""
    import zarr

    res = segment_to_files(image(), tmp_path, classical(labels_format="zarr"))
    run = json.loads(res.outputs["run"].read_text())
    attrs = dict(zarr.open_group(str(res.outputs["labels"]), mode="r").attrs)["pathrobust"]
    header = json.loads(res.outputs["geojson"].read_text())["pathrobust"]
    assert run["parameters"]["threshold"] is not None  # fitted on the slide
    for stored in (attrs, header):
        assert stored["parameters"] == run["parameters"]
        for key in ("tile", "halo", "n_tiles", "run_id", "seed", "method"):
            assert stored[key] == run[key], key
    assert run["tile"] == 160 and run["n_tiles"] == 4


def test_failed_labels_leave_no_overlay(tmp_path, monkeypatch):
    """Bug 3: the overlay PNG was published before the label TIFF was written."""
    from napari_pathrobust.engine.jobs import segment

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(segment, "write_labels_tiff", broken)
    with pytest.raises(OSError):
        segment_to_files(image(), tmp_path, classical())
    assert entries(tmp_path) == []


def test_failed_run_json_publishes_nothing(tmp_path, monkeypatch):
    """Bug 10: disk full while writing _run.json left labels, CSV, GeoJSON and overlay."""
    from napari_pathrobust.engine.jobs import segment

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(segment, "write_run_json", disk_full)
    with pytest.raises(OSError):
        segment_to_files(image(), tmp_path, classical())
    assert entries(tmp_path) == []


def test_publishing_failure_rolls_back_to_the_previous_outputs(tmp_path, monkeypatch):
    """Bug 10: a failure while moving outputs into place takes back those already moved
    and restores the previous run's files."""
    first = segment_to_files(image(), tmp_path, classical())
    before = {name: (tmp_path / name).read_bytes() for name in OUTPUT_NAMES}
    real_replace = os.replace
    calls = []

    def flaky(src, dst):  # fail the third move of a new output into the output folder
        if os.path.dirname(os.fspath(dst)) == str(tmp_path) and ".previous" in os.fspath(src) \
                or os.path.dirname(os.fspath(dst)) != str(tmp_path) \
                or os.path.basename(os.fspath(dst)).startswith("."):
            return real_replace(src, dst)
        calls.append(dst)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", flaky)
    with pytest.raises(OSError):
        segment_to_files(image(seed=5), tmp_path, classical())
    monkeypatch.setattr(os, "replace", real_replace)
    assert len(calls) >= 3
    assert sorted(n for n in entries(tmp_path) if not n.startswith(".")) == sorted(OUTPUT_NAMES)
    for name in OUTPUT_NAMES:
        assert (tmp_path / name).read_bytes() == before[name], name
    assert json.loads((tmp_path / "img_run.json").read_text())["run_id"] == \
        first.info["run_id"]
    assert not checkpoint_path("img", tmp_path).exists()


def test_cancelled_run_leaves_no_file(tmp_path):
    from napari_pathrobust.engine.errors import Cancelled
    from napari_pathrobust.engine.progress import Reporter

    calls = []
    reporter = Reporter(progress=lambda d, n, m="": calls.append(d),
                        cancel=lambda: len(calls) >= 3)
    with pytest.raises(Cancelled):
        segment_to_files(image(), tmp_path, classical(), reporter)
    assert entries(tmp_path) == []


def test_run_ids_unique_per_run_and_recorded(tmp_path):
    """Bug 6: feature ids were the same for label N in every slide and run."""
    from napari_pathrobust._reader import read_geojson

    a = segment_to_files(image(), tmp_path / "a", classical())
    b = segment_to_files(image(), tmp_path / "b", classical())
    ids = []
    for res in (a, b):
        collection = json.loads(res.outputs["geojson"].read_text())
        ids.append({f["id"] for f in collection["features"]})
        assert len(ids[-1]) == len(collection["features"]) == res.n_nuclei > 5
        run_id = json.loads(res.outputs["run"].read_text())["run_id"]
        assert collection["pathrobust"]["run_id"] == run_id == res.info["run_id"]
        meta = tifffile.TiffFile(res.outputs["labels"]).pages[0].description
        assert run_id in meta
        (_labels, kwargs, _kind), = read_geojson(res.outputs["geojson"])
        assert kwargs["metadata"]["run_id"] == run_id  # the layer keeps the run id
    assert a.info["run_id"] != b.info["run_id"]
    assert not ids[0] & ids[1]


def test_outputs_agree_on_ids_in_final_order(tmp_path):
    """CSV rows and GeoJSON features come once each, in ascending final id, and name the
    ids painted in the label image."""
    import csv

    res = segment_to_files(image(), tmp_path, classical())
    with open(res.outputs["points"], newline="") as handle:
        csv_ids = [int(row["label"]) for row in csv.DictReader(handle)]
    features = json.loads(res.outputs["geojson"].read_text())["features"]
    geo_ids = [f["properties"]["label"] for f in features]
    painted = sorted(set(tifffile.imread(res.outputs["labels"]).ravel().tolist()) - {0})
    assert csv_ids == geo_ids == painted == list(range(1, res.n_nuclei + 1))


KILL_SCRIPT = """
import os, signal, sys
from napari_pathrobust.engine.jobs import JobOptions, segment_file
from napari_pathrobust.engine.progress import Reporter

def progress(done, total, message=""):
    if message.startswith("tile") and done >= 3:
        os.kill(os.getpid(), signal.SIGKILL)

segment_file(sys.argv[1], sys.argv[2], JobOptions(method="classical", tile=128, workers=1,
             labels_format="zarr"), Reporter(progress=progress))
"""


@pytest.mark.slow
def test_killed_run_leaves_temporary_state_only_in_the_checkpoint(tmp_path):
    """Bug 9: SIGKILL left .<stem>.geojson.tmp-* (and more) beside the outputs, and a
    successful --resume never removed them."""
    path = tmp_path / "img.tif"
    tifffile.imwrite(path, synthetic_he_tile(shape=(512, 512), seed=2)[0], photometric="rgb")
    for resume in (True, False):
        out = tmp_path / f"resume_{resume}"
        killed = subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(path), str(out)],
                                capture_output=True, text=True, timeout=300)
        assert killed.returncode == -9, killed.stderr
        assert [n for n in entries(out) if n.startswith(".")] == [".img.checkpoint"]
        assert not [n for n in entries(out) if n.startswith("img")]  # nothing published
        res = segment_file(path, out, JobOptions(method="classical", tile=128, workers=1,
                                                 labels_format="zarr", resume=resume))
        assert res.info["resumed_tiles"] == (3 if resume else 0)
        assert [n for n in entries(out) if n.startswith(".")] == []
        assert sorted(entries(out)) == sorted(
            n.replace("_labels.tif", "_labels.zarr") for n in OUTPUT_NAMES)
