"""Whole-slide speed (issue 27): default tiles whose halo is a small share of the window,
windows read ahead of the method, a per-stage profile, and jobs that run on another
process at any magnification (the working grid travels with them); labels unchanged."""

import pickle

import numpy as np
import pytest
import tifffile

from napari_pathrobust.engine.io import open_image, slide_from_array, with_pixel_size
from napari_pathrobust.engine.methods.psm import PSMMethod
from napari_pathrobust.engine.registry import get_method
from napari_pathrobust.engine.synthetic import synthetic_he_tile
from napari_pathrobust.engine.tiled.distributed import remote_tile
from napari_pathrobust.engine.tiled.executor import LocalExecutor
from napari_pathrobust.engine.tiled.pipeline import segment_slide
from napari_pathrobust.engine.tiled.resample import resample_image, working_grid
from napari_pathrobust.engine.tiled.tiling import Box, auto_tile_size, plan_tiles
from napari_pathrobust.engine.tiled.working_tiles import WorkingTileJob, working_tile_size


def _halo_share(core: int, halo: int) -> float:
    return 1 - (core / (core + 2 * halo)) ** 2


def test_psm_default_tiles_keep_the_halo_a_small_share():
    halo = 128  # PSM's working halo
    core = auto_tile_size((40000, 40000), halo, 1024, PSMMethod.bytes_per_pixel)
    assert core >= 1024 and _halo_share(core, halo) <= 0.4  # was 512: 56 % halo
    # both windows in flight fit the default 1 GB budget at the declared bytes per pixel
    assert 2 * (core + 2 * halo) ** 2 * PSMMethod.bytes_per_pixel <= 1024 * 2**20
    # at 20x the same working window: 512 slide px (1024 working px), not 256
    slide = slide_from_array(np.zeros((20000, 20000, 3), np.uint8), mpp=0.5)
    grid = working_grid(slide, 0.5, 0.25)
    side = working_tile_size(grid, halo, 1024, PSMMethod.bytes_per_pixel)
    assert side * grid.scale >= 1024


def _slide_20x():
    rgb = synthetic_he_tile(shape=(768, 768), seed=5, radius_range=(6, 14))[0]
    return resample_image(rgb, 0.25, 0.5)  # 384 x 384 slide px at 0.5 um/px


def test_read_ahead_and_profile_change_no_label():
    slide = slide_from_array(_slide_20x(), name="s20x", mpp=0.5)
    plain = segment_slide(slide, get_method("classical"), tile=96,
                          executor=LocalExecutor(2, read_ahead=False), keep_records=True)
    ahead = segment_slide(slide, get_method("classical"), tile=96,
                          executor=LocalExecutor(2, read_ahead=True), keep_records=True)
    assert ahead.info["read_ahead"] and not plain.info["read_ahead"]
    assert ahead.info["n_tiles"] > 4 and ahead.n_nuclei > 10
    np.testing.assert_array_equal(ahead.labels, plain.labels)
    profile = ahead.info["profile"]
    for stage in ("fit", "read", "method", "to_slide", "records", "wait", "stitch",
                  "relabel", "network"):
        assert profile[stage] >= 0, stage
    assert profile["read"] > 0 and profile["method"] > 0


def test_detached_working_job_computes_the_same_tile(tmp_path):
    """What a dask worker runs: the detached job, pickled, with pixels shipped or the
    slide reopened from its file (its pixel size given by the user, as --mpp)."""
    path = tmp_path / "s20x.tif"
    tifffile.imwrite(path, _slide_20x(), photometric="rgb")
    slide = with_pixel_size(open_image(path), 0.5)
    method = get_method("classical")
    grid = working_grid(slide, 0.5, method.working_mpp)
    method.fit(grid.read(Box(0, 0, *grid.shape))[0])
    job = WorkingTileJob(method=method, slide=slide, grid=grid)
    remote = pickle.loads(pickle.dumps(job.detached()))
    assert remote.grid.slide is None and remote.slide.mpp == 0.5
    for t in plan_tiles(slide.shape, 128, 40):
        records, _ = job(t)
        shipped, _ = remote_tile(method, remote, t, job.load(t))
        reopened, _ = remote_tile(method, remote, t)
        key = [(r.y0, r.x0, r.area, r.mask.tobytes()) for r in records]
        assert [(r.y0, r.x0, r.area, r.mask.tobytes()) for r in shipped] == key
        assert [(r.y0, r.x0, r.area, r.mask.tobytes()) for r in reopened] == key


@pytest.mark.slow
def test_distributed_equals_local_at_20x(tmp_path):
    distributed = pytest.importorskip("distributed")
    from napari_pathrobust.engine.tiled.distributed import DistributedExecutor

    path = tmp_path / "s20x.tif"
    tifffile.imwrite(path, _slide_20x(), photometric="rgb")
    slide = with_pixel_size(open_image(path), 0.5)
    local = segment_slide(slide, get_method("classical"), tile=96, workers=2)
    assert local.info["scale"] == 2 and local.n_nuclei > 10
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        remote = segment_slide(slide, get_method("classical"), tile=96,
                               executor=DistributedExecutor(cluster.scheduler_address))
    np.testing.assert_array_equal(remote.labels, local.labels)
