"""The working grid: a slide's pixels resampled to the resolution a method works at.

A method works at ``working_mpp`` microns per pixel (the shipped networks: 0.25, 40x).
A slide at another pixel size is read at its best pyramid level (the coarsest one that is
still at least as fine as the working resolution) and resampled to a *working grid*
anchored at the slide origin: working pixel ``i`` of an axis covers slide edge
coordinates ``[i / f, (i + 1) / f)``, with ``f`` working pixels per slide pixel.
Enlarging (20x, 0.35 um/px) interpolates with Keys' cubic convolution (a = -0.5, the
usual bicubic) in float64; reducing (80x) uses a triangle filter as wide as a working
pixel (anti-aliased, float32). Every weight and every source index is a function of the
global working index alone, each output is summed in the same order and rounded once,
so a window's working pixels are bit-identical whatever the window: tiled == untiled
holds at every scale.

Labels come back to the slide grid by nearest neighbour: slide pixel ``y`` takes the
working pixel ``floor((y + 0.5) * f)``. Slides within ``MPP_TOLERANCE`` of the working
resolution (and slides of unknown pixel size, which are assumed to be at it) are used
as they are, exactly as before resampling existed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .tiling import Box

#: relative difference from the working resolution within which pixels are used as read
#: (40x scanners give 0.23-0.27 um/px)
MPP_TOLERANCE = 0.1


def _keys(d: np.ndarray, a: float = -0.5) -> np.ndarray:
    """Keys' cubic convolution kernel (a = -0.5: bicubic as in PIL and OpenCV)."""
    d = np.abs(d)
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((d - 5) * d + 8) * d * a - 4 * a
    return np.where(d <= 1, near, np.where(d < 2, far, 0.0))


def _lanczos3(d: np.ndarray) -> np.ndarray:
    """Lanczos kernel with 3 lobes."""
    return np.where(np.abs(d) < 3, np.sinc(d) * np.sinc(d / 3), 0.0)


#: interpolation kernels for enlarging: name -> (support in source pixels, kernel or
#: None for the linear taps used before issue 26, kept for comparison)
KERNELS = {"linear": (1, None), "cubic": (2, _keys), "lanczos3": (3, _lanczos3)}
#: the kernel used when enlarging: cubic tied with Lanczos-3 on 6 train-13 tiles and
#: needs no sin (the same bits on every CPU), docs/benchmarks.md
ENLARGE_KERNEL = "cubic"


@dataclass(frozen=True)
class AxisMap:
    """One axis: source pixels (a pyramid level) -> working pixels <- slide pixels."""

    n_src: int  # source (pyramid level) pixels
    n_slide: int  # slide (level 0) pixels
    f_src: float  # working pixels per source pixel
    kernel: str = ENLARGE_KERNEL  # a KERNELS name, used when enlarging

    @property
    def f_slide(self) -> float:
        """Working pixels per slide pixel."""
        return self.f_src * self.n_src / self.n_slide

    @property
    def n_work(self) -> int:
        return max(1, int(round(self.n_src * self.f_src)))

    @property
    def precise(self) -> bool:
        """Whether this axis enlarges with a higher-order kernel (float64 weights)."""
        return self.f_src >= 1.0 and KERNELS[self.kernel][1] is not None

    def taps(self, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        """Source indices and weights (both (b - a, T)) of working pixels ``a:b``.

        Enlarging: ``self.kernel`` (float64 weights); reducing: a triangle filter as wide
        as a working pixel (area-like, no aliasing). Edges replicate the border pixel.
        """
        i = np.arange(a, b, dtype=np.float64)
        centre = (i + 0.5) / self.f_src - 0.5
        if self.precise:
            support, kernel = KERNELS[self.kernel]
            k = (np.floor(centre).astype(np.int64) - (support - 1))[:, None] \
                + np.arange(2 * support)[None, :]
            w = kernel(k - centre[:, None])
            total = w[:, 0].copy()
            for t in range(1, w.shape[1]):  # a fixed order, whatever the window
                total += w[:, t]
            return np.clip(k, 0, self.n_src - 1), w / total[:, None]
        scale = min(1.0, self.f_src)
        radius = 1.0 / scale
        n_taps = int(math.ceil(2 * radius)) + 1
        first = np.ceil(centre - radius).astype(np.int64)
        k = first[:, None] + np.arange(n_taps)[None, :]
        w = np.clip(1.0 - np.abs(k - centre[:, None]) * scale, 0.0, None)
        w /= w.sum(axis=1, keepdims=True)
        return np.clip(k, 0, self.n_src - 1), w.astype(np.float32)

    def working_of_slide(self, y0: int, y1: int) -> np.ndarray:
        """Working index (nearest) of each slide pixel ``y0:y1``, clipped to the grid."""
        y = np.arange(y0, y1, dtype=np.float64)
        return np.clip(np.floor((y + 0.5) * self.f_slide).astype(np.int64), 0,
                       self.n_work - 1)

    def source_of_slide(self, y0: int, y1: int) -> np.ndarray:
        """Source index (nearest) of each slide pixel ``y0:y1``."""
        y = np.arange(y0, y1, dtype=np.float64)
        return np.clip(np.floor((y + 0.5) * self.n_src / self.n_slide).astype(np.int64), 0,
                       self.n_src - 1)

    def is_identity(self) -> bool:
        return self.n_src == self.n_slide and self.f_src == 1.0


def _resample_axis(src: np.ndarray, idx: np.ndarray, w: np.ndarray, axis: int) -> np.ndarray:
    """Weighted sum of taps along ``axis`` (fixed order: bit-identical in every window)."""
    shape = [1] * src.ndim
    shape[axis] = -1
    out = None
    for t in range(idx.shape[1]):
        term = np.take(src, idx[:, t], axis=axis)
        term *= w[:, t].reshape(shape)
        if out is None:
            out = term
        else:
            out += term
    return out


class WorkingGrid:
    """A slide seen at a method's working resolution (see the module docstring)."""

    def __init__(self, slide, level: int, fy: float, fx: float, working_mpp: float,
                 kernel: Optional[str] = None):
        self.slide = slide
        self.level = int(level)
        src = slide.levels[self.level]
        (hs, ws), (h0, w0) = src.shape[:2], slide.shape
        kernel = ENLARGE_KERNEL if kernel is None else kernel
        if kernel not in KERNELS:
            raise ValueError(f"unknown kernel {kernel!r} (one of {', '.join(KERNELS)})")
        self.y = AxisMap(int(hs), int(h0), float(fy), kernel)
        self.x = AxisMap(int(ws), int(w0), float(fx), kernel)
        self.working_mpp = float(working_mpp)

    @property
    def shape(self) -> tuple[int, int]:
        """(Y, X) of the whole working image."""
        return self.y.n_work, self.x.n_work

    @property
    def scale(self) -> float:
        """Working pixels per slide pixel (x axis)."""
        return self.x.f_slide

    def describe(self) -> dict:
        f = (self.y.f_src, self.x.f_src)
        how = "none" if f == (1.0, 1.0) else "triangle" if max(f) < 1 else self.x.kernel
        return {"pyramid_level": self.level, "working_shape": list(self.shape),
                "scale": round(self.scale, 6), "interpolation": how}

    def slide_halo(self, halo: int) -> int:
        """Slide pixels that hold ``halo`` working pixels (with rounding slack)."""
        return int(math.ceil(halo / min(self.y.f_slide, self.x.f_slide))) + 2

    def working_box(self, window: Box, align: int = 1) -> Box:
        """Working pixels the slide ``window`` samples, the start aligned down to
        ``align`` (strided networks)."""
        ys = self.y.working_of_slide(window.y0, window.y1)
        xs = self.x.working_of_slide(window.x0, window.x1)
        y0, x0 = int(ys[0]), int(xs[0])
        return Box(y0 - y0 % align, x0 - x0 % align, int(ys[-1]) + 1, int(xs[-1]) + 1)

    def read(self, box: Box, slide_window: Optional[Box] = None
             ) -> tuple[np.ndarray, Optional[np.ndarray]]:
        """Working RGB uint8 pixels of ``box``; with ``slide_window`` also that window's
        RGB on the slide grid (for measurements)."""
        iy, wy = self.y.taps(box.y0, box.y1)
        ix, wx = self.x.taps(box.x0, box.x1)
        sy, sx = (None, None) if slide_window is None else (
            self.y.source_of_slide(slide_window.y0, slide_window.y1),
            self.x.source_of_slide(slide_window.x0, slide_window.x1))
        lo_y, hi_y = int(iy.min()), int(iy.max()) + 1
        lo_x, hi_x = int(ix.min()), int(ix.max()) + 1
        if sy is not None:
            lo_y, hi_y = min(lo_y, int(sy[0])), max(hi_y, int(sy[-1]) + 1)
            lo_x, hi_x = min(lo_x, int(sx[0])), max(hi_x, int(sx[-1]) + 1)
        src = np.asarray(self.slide.levels[self.level][lo_y:hi_y, lo_x:hi_x]
                         .compute(scheduler="synchronous"))
        slide_rgb = None
        if sy is not None:
            slide_rgb = np.ascontiguousarray(src[(sy - lo_y)[:, None], (sx - lo_x)[None, :]])
        if self.y.f_src == 1.0 and self.x.f_src == 1.0:  # a level at the working mpp
            return np.ascontiguousarray(src[box.y0 - lo_y:box.y1 - lo_y,
                                            box.x0 - lo_x:box.x1 - lo_x]), slide_rgb
        dtype = np.float64 if self.y.precise or self.x.precise else np.float32
        part = src[iy.min() - lo_y:iy.max() - lo_y + 1].astype(dtype)
        rows = _resample_axis(part, iy - iy.min(), wy, axis=0)
        part = rows[:, ix.min() - lo_x:ix.max() - lo_x + 1]
        out = _resample_axis(part, ix - ix.min(), wx, axis=1)
        return np.clip(np.rint(out), 0, 255).astype(np.uint8), slide_rgb

    def to_slide(self, array: np.ndarray, box: Box, window: Box) -> np.ndarray:
        """Working-grid ``array`` (of ``box``) on the slide grid of ``window``, nearest."""
        ys = self.y.working_of_slide(window.y0, window.y1) - box.y0
        xs = self.x.working_of_slide(window.x0, window.x1) - box.x0
        return np.ascontiguousarray(array[ys[:, None], xs[None, :]])


def choose_level(slide, slide_mpp: float, working_mpp: float) -> int:
    """The coarsest pyramid level still at least as fine as the working resolution."""
    best = 0
    width = slide.shape[1]
    for k, level in enumerate(slide.levels):
        down = width / float(level.shape[1])
        if slide_mpp * down <= working_mpp * (1 + MPP_TOLERANCE):
            best = k
    return best


def working_grid(slide, slide_mpp: Optional[float],
                 working_mpp: Optional[float]) -> Optional[WorkingGrid]:
    """The working grid of ``slide`` for a method, or None when its pixels are used as
    read (pixel size unknown, or within MPP_TOLERANCE of the working resolution)."""
    if not slide_mpp or not working_mpp:
        return None
    level = choose_level(slide, slide_mpp, working_mpp)
    src = slide.levels[level]
    fy = slide_mpp * slide.shape[0] / float(src.shape[0]) / working_mpp
    fx = slide_mpp * slide.shape[1] / float(src.shape[1]) / working_mpp
    if level == 0 and abs(fx - 1) <= MPP_TOLERANCE and abs(fy - 1) <= MPP_TOLERANCE:
        return None
    if abs(fx - 1) <= 1e-3 and abs(fy - 1) <= 1e-3:
        fx = fy = 1.0  # a level at the working resolution: its pixels, as read
    return WorkingGrid(slide, level, fy, fx, working_mpp)


def resample_image(rgb: np.ndarray, mpp: float, working_mpp: float) -> np.ndarray:
    """A whole in-memory image resampled to ``working_mpp`` (unchanged when within
    MPP_TOLERANCE); for training images and whole-image predictions."""
    from ..io import slide_from_array

    grid = working_grid(slide_from_array(rgb, mpp=mpp), mpp, working_mpp)
    if grid is None:
        return np.asarray(rgb)
    return grid.read(Box(0, 0, *grid.shape))[0]


def resample_labels(labels: np.ndarray, factor) -> np.ndarray:
    """Instance labels on a grid ``factor`` (or ``(fy, fx)``) times finer: nearest
    neighbour, anchored at the origin (the working grid of :class:`WorkingGrid`)."""
    labels = np.asarray(labels)
    fy, fx = factor if isinstance(factor, (tuple, list)) else (factor, factor)
    index = []
    for n, f in zip(labels.shape[:2], (fy, fx)):
        out = max(1, int(round(n * f)))
        index.append(np.clip(np.floor((np.arange(out) + 0.5) / f).astype(np.int64), 0, n - 1))
    return np.ascontiguousarray(labels[index[0][:, None], index[1][None, :]])


__all__ = ["MPP_TOLERANCE", "KERNELS", "ENLARGE_KERNEL", "AxisMap", "WorkingGrid",
           "choose_level", "working_grid", "resample_image", "resample_labels"]
