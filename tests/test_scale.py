"""Scale features: tissue detection, distributed == local, resume, OME-Zarr outputs."""

import csv
import json

import numpy as np
import pytest
import tifffile

from napari_pathrobust.engine.errors import Cancelled
from napari_pathrobust.engine.io import open_image, slide_from_array
from napari_pathrobust.engine.jobs import JobOptions, checkpoint_path, segment_to_files
from napari_pathrobust.engine.progress import Reporter
from napari_pathrobust.engine.registry import get_method
from napari_pathrobust.engine.synthetic import synthetic_he_tile
from napari_pathrobust.engine.tiled.pipeline import segment_slide
from napari_pathrobust.engine.tiled.tiling import canonical_relabel, plan_tiles
from napari_pathrobust.engine.tiled.tissue import detect_tissue

TISSUE = (64, 448, 96, 480)  # y0, y1, x0, x1 of the tissue block on the glass


def glass_slide(size=1024, seed=0):
    """White glass with faint noise and one block of synthetic H&E tissue."""
    rng = np.random.default_rng(seed)
    rgb = (244 + rng.integers(-3, 4, size=(size, size, 3))).astype(np.uint8)
    y0, y1, x0, x1 = TISSUE
    rgb[y0:y1, x0:x1] = synthetic_he_tile(shape=(y1 - y0, x1 - x0), seed=seed)[0]
    return rgb


def he_slide(size=768, seed=3):
    return synthetic_he_tile(shape=(size, size), seed=seed)[0]


def _distance_to_tissue(window):
    """Chessboard gap in pixels between a window and the tissue block (0 = overlap)."""
    wy0, wx0, wy1, wx1 = window
    ty0, ty1, tx0, tx1 = TISSUE
    gy = max(0, ty0 - wy1, wy0 - ty1)
    gx = max(0, tx0 - wx1, wx0 - tx1)
    return max(gy, gx)


def test_tissue_mask_skips_only_background_windows():
    slide = slide_from_array(glass_slide())
    halo = get_method("classical").halo
    mask = detect_tissue(slide, margin=halo)
    plan = plan_tiles(slide.shape, 256, halo)
    for t in plan:
        gap = _distance_to_tissue(t.window)
        if gap == 0:
            assert mask.window_has_tissue(t), t
        if gap > halo + 8:
            assert not mask.window_has_tissue(t), t
    assert 0.05 < mask.fraction < 0.6


def test_skipping_background_keeps_labels_on_tissue():
    slide = slide_from_array(glass_slide())
    full = segment_slide(slide, get_method("classical"), tile=256, workers=2)
    skip = segment_slide(slide, get_method("classical"), tile=256, workers=2, tissue=True)
    assert full.info["fraction_processed"] == 1.0
    assert 0 < skip.info["fraction_processed"] < 0.7
    assert skip.info["tiles_processed"] < skip.info["n_tiles"]
    assert skip.n_nuclei == full.n_nuclei > 20
    np.testing.assert_array_equal(canonical_relabel(skip.labels), canonical_relabel(full.labels))


def test_all_tissue_slide_processes_every_tile():
    slide = slide_from_array(he_slide(512))
    res = segment_slide(slide, get_method("classical"), tile=256, workers=1, tissue=True)
    assert res.info["fraction_processed"] == 1.0


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as lc:
        yield lc


def test_distributed_equals_local(cluster, tmp_path):
    from napari_pathrobust.engine.tiled.distributed import DistributedExecutor

    path = tmp_path / "slide.tif"
    tifffile.imwrite(path, he_slide(768), photometric="rgb")
    slide = open_image(path)
    local = segment_slide(slide, get_method("classical"), tile=256, workers=1, seed=0)
    remote = segment_slide(slide, get_method("classical"), tile=256, workers=1, seed=0,
                           executor=DistributedExecutor(cluster.scheduler_address))
    assert remote.info["scheduler"] == cluster.scheduler_address
    assert remote.info["workers"] == 2
    assert remote.n_nuclei == local.n_nuclei > 50
    np.testing.assert_array_equal(remote.labels, local.labels)  # same ids, same order
    # an in-memory slide (no file for the workers): pixels travel with the tasks
    mem = segment_slide(slide_from_array(he_slide(768)), get_method("classical"), tile=256,
                        executor=DistributedExecutor(cluster.scheduler_address))
    np.testing.assert_array_equal(mem.labels, local.labels)


@pytest.mark.slow
def test_cli_scheduler_matches_local(cluster, tmp_path):
    from napari_pathrobust.cli import main

    path = tmp_path / "slide.tif"
    tifffile.imwrite(path, he_slide(512, seed=5), photometric="rgb")
    assert main(["-q", "segment", str(path), "-o", str(tmp_path / "local"), "--tile", "256"]) == 0
    assert main(["-q", "segment", str(path), "-o", str(tmp_path / "dist"), "--tile", "256",
                 "--scheduler", cluster.scheduler_address]) == 0
    a = tifffile.imread(tmp_path / "local" / "slide_labels.tif")
    b = tifffile.imread(tmp_path / "dist" / "slide_labels.tif")
    np.testing.assert_array_equal(a, b)
    run = json.loads((tmp_path / "dist" / "slide_run.json").read_text())
    assert run["scheduler"] == cluster.scheduler_address


def _points(folder):
    with open(folder / "big_points.csv", newline="") as handle:
        return list(csv.reader(handle))


@pytest.mark.slow
def test_resume_after_interruption_equals_uninterrupted(tmp_path):
    slide = slide_from_array(glass_slide(seed=1), name="big")
    options = JobOptions(tile=256, workers=2, labels_format="zarr")
    whole = segment_to_files(slide, tmp_path / "whole", options)

    out = tmp_path / "resumed"
    calls = []
    reporter = Reporter(progress=lambda d, n, m: calls.append(d), cancel=lambda: len(calls) >= 6)
    with pytest.raises(Cancelled):
        segment_to_files(slide, out, options, reporter)
    manifest = json.loads((checkpoint_path("big", out) / "manifest.json").read_text())
    assert 0 < manifest["done"] < whole.info["n_tiles"]
    assert not (out / "big_labels.zarr").exists()  # outputs stay atomic

    resumed = segment_to_files(slide, out, JobOptions(tile=256, workers=2, labels_format="zarr",
                                                      resume=True))
    assert resumed.info["resumed_tiles"] == manifest["done"]
    assert resumed.n_nuclei == whole.n_nuclei
    import zarr

    a = zarr.open_group(str(tmp_path / "whole" / "big_labels.zarr"), mode="r")
    b = zarr.open_group(str(out / "big_labels.zarr"), mode="r")
    np.testing.assert_array_equal(np.asarray(a["0"][:]), np.asarray(b["0"][:]))
    assert _points(tmp_path / "whole") == _points(out)
    assert not checkpoint_path("big", out).exists()  # removed once the job succeeded


def test_resume_ignores_a_checkpoint_of_other_parameters(tmp_path):
    slide = slide_from_array(he_slide(512), name="big")
    calls = []
    reporter = Reporter(progress=lambda d, n, m: calls.append(d), cancel=lambda: len(calls) >= 3)
    with pytest.raises(Cancelled):
        segment_to_files(slide, tmp_path, JobOptions(method="classical", tile=256,
                                                     labels_format="zarr"), reporter)
    other = segment_to_files(slide, tmp_path, JobOptions(method="classical", tile=256, seed=1,
                                                         labels_format="zarr",
                                                         method_params={"sigma": 1.5},
                                                         resume=True))
    assert other.info["resumed_tiles"] == 0


@pytest.mark.slow
def test_zarr_labels_open_in_napari_reader(tmp_path):
    from napari_pathrobust._reader import get_reader

    slide = slide_from_array(glass_slide(size=2048, seed=2), name="big")
    res = segment_to_files(slide, tmp_path, JobOptions(tile=512, labels_format="zarr"))
    path = res.outputs["labels"]
    run = json.loads(res.outputs["run"].read_text())
    assert 0 < run["fraction_processed"] < 1 and run["tissue"]["tissue_fraction"] < 0.5
    layers = get_reader(str(path))(str(path))
    data, kwargs, kind = layers[0]
    assert kind == "labels" and kwargs.get("multiscale")
    assert data[0].shape == (2048, 2048) and data[1].shape == (1024, 1024)
    level0 = np.asarray(data[0])
    assert level0.max() == res.n_nuclei
    np.testing.assert_array_equal(np.asarray(data[1]), level0[::2, ::2])
