"""The working grid's enlarging kernels (issue 26): bicubic (Keys, a = -0.5) as Pillow
computes it, bit-identical in every window, reduction and 40x untouched."""

import numpy as np
import pytest
from PIL import Image

from napari_pathrobust.engine.io import slide_from_array
from napari_pathrobust.engine.tiled import resample
from napari_pathrobust.engine.tiled.resample import KERNELS, AxisMap, WorkingGrid, working_grid
from napari_pathrobust.engine.tiled.tiling import Box


def _smooth_rgb(h=80, w=90):
    """A ramp, a cubic and a smooth wave in the three channels."""
    yy, xx = np.mgrid[0:h, 0:w] / float(h)
    channels = (40 + 150 * yy + 30 * xx,
                20 + 200 * (yy ** 3 - 1.2 * yy ** 2 + 0.5 * xx ** 3 + 0.3 * xx),
                128 + 100 * np.sin(6 * yy) * np.cos(5 * xx))
    return np.stack([np.clip(np.rint(c), 0, 255) for c in channels], -1).astype(np.uint8)


def _noise_rgb(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_cubic_is_the_chosen_enlarging_kernel():
    assert resample.ENLARGE_KERNEL == "cubic"
    grid = working_grid(slide_from_array(_smooth_rgb(), mpp=0.5), 0.5, 0.25)
    assert grid.describe()["interpolation"] == "cubic" and grid.y.precise


@pytest.mark.parametrize("kernel, pil", [("cubic", Image.BICUBIC), ("lanczos3", Image.LANCZOS)])
@pytest.mark.parametrize("shape", [(160, 180), (112, 126), (114, 129), (240, 270)])
def test_enlarging_matches_pillow_within_rounding(kernel, pil, shape):
    rgb = _smooth_rgb()
    grid = WorkingGrid(slide_from_array(rgb), 0, shape[0] / 80, shape[1] / 90, 0.25, kernel)
    ours = grid.read(Box(0, 0, *grid.shape))[0].astype(int)
    ref = np.asarray(Image.fromarray(rgb).resize(shape[::-1], pil)).astype(int)
    assert ours.shape == ref.shape
    m = 4 * shape[0] // 80  # Pillow renormalises at the borders, we replicate the edge
    # Pillow rounds to 8 bits after each pass, we once: one grey level apart at most
    assert np.abs(ours - ref)[m:-m, m:-m].max() <= 1


def test_keys_kernel_weights():
    d = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 2.5])
    np.testing.assert_allclose(KERNELS["cubic"][1](d), [1, 0.5625, 0, -0.0625, 0, 0])
    axis = AxisMap(n_src=50, n_slide=50, f_src=1.4)
    idx, w = axis.taps(0, axis.n_work)
    assert idx.shape[1] == 4 and w.dtype == np.float64
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-15)
    # a linear function is reproduced exactly by cubic convolution (away from the edges)
    centre = (np.arange(axis.n_work) + 0.5) / 1.4 - 0.5
    inner = (centre > 2) & (centre < 47)
    np.testing.assert_allclose((w * idx).sum(axis=1)[inner], centre[inner], atol=1e-12)


@pytest.mark.parametrize("kernel", ["cubic", "lanczos3"])
@pytest.mark.parametrize("mpp, anisotropic", [(0.5, False), (0.35, False), (0.3, True)])
def test_every_window_is_bit_identical_to_the_whole(kernel, mpp, anisotropic):
    rgb = _noise_rgb(101, 97, seed=int(mpp * 100))  # noise: overshoots, clipping, odd sizes
    slide = slide_from_array(rgb, mpp=mpp)
    grid = working_grid(slide, mpp, 0.25)
    fx = grid.x.f_src * (0.8 if anisotropic else 1.0)  # y enlarged more than x
    grid = WorkingGrid(slide, 0, grid.y.f_src, fx, 0.25, kernel)
    whole = grid.read(Box(0, 0, *grid.shape))[0]
    h, w = grid.shape
    boxes = [Box(0, 0, 1, 1), Box(h - 1, w - 1, h, w), Box(3, 7, 61, 55), Box(1, 0, h, 13),
             Box(17, 33, 18, w), Box(h - 5, 5, h, 11)]
    for box in boxes:
        np.testing.assert_array_equal(grid.read(box)[0], whole[box.slices], err_msg=str(box))
    # odd-sized tiles from odd offsets put back together give the whole, bit for bit
    pieced = np.zeros_like(whole)
    for y0 in range(0, h, 37):
        for x0 in range(0, w, 29):
            box = Box(y0, x0, min(y0 + 37, h), min(x0 + 29, w))
            pieced[box.slices] = grid.read(box)[0]
    np.testing.assert_array_equal(pieced, whole)


def test_reduction_and_40x_do_not_depend_on_the_enlarging_kernel():
    rgb = _noise_rgb(120, 110)
    slide = slide_from_array(rgb, mpp=0.125)
    reads = []
    for kernel in KERNELS:
        grid = WorkingGrid(slide, 0, 0.5, 0.5, 0.25, kernel)
        assert not grid.x.precise and grid.describe()["interpolation"] == "triangle"
        reads.append(grid.read(Box(0, 0, *grid.shape))[0])
    for other in reads[1:]:
        np.testing.assert_array_equal(other, reads[0])
    assert working_grid(slide_from_array(rgb, mpp=0.26), 0.26, 0.25) is None


def test_linear_taps_are_still_available_for_comparison():
    grid = WorkingGrid(slide_from_array(_smooth_rgb(), mpp=0.5), 0, 2.0, 2.0, 0.25, "linear")
    assert not grid.y.precise and grid.y.taps(0, 4)[1].dtype == np.float32
    with pytest.raises(ValueError, match="unknown kernel"):
        WorkingGrid(slide_from_array(_smooth_rgb(), mpp=0.5), 0, 2.0, 2.0, 0.25, "nearest")
