"""Run a recognition method over a slide tile by tile, stitching instances exactly.

Data flow: slide (lazy pyramid) -> fit the method once on a sample of the whole
slide -> tiles with a halo, processed by a pool of workers -> objects owned by each
tile (see :mod:`.tiling`) -> global ids in tile order -> painted into a label canvas
(numpy or zarr) and streamed to record sinks (CSV, GeoJSON). Peak memory depends on
the tile size and the number of workers, never on the image size.
"""

from __future__ import annotations

import os
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional, Protocol

import numpy as np

from .errors import Cancelled
from .features import NucleusRecord, measure_objects, record_polygon
from .io import Slide
from .methods import Method
from .progress import Reporter
from .tiling import (
    DEFAULT_BYTES_PER_PIXEL,
    Tile,
    auto_tile_size,
    ownership_filter,
    plan_tiles,
)


@dataclass
class TileOutput:
    """What a method may return instead of bare labels: labels plus dense maps.

    ``maps`` holds per-pixel intermediate results of the same (H, W) as the window,
    e.g. ``{"activation": float32, "pseudomask": uint8}``; the pipeline stitches their
    tile cores into whole-image maps (see ``SegmentResult.maps``).
    """

    labels: np.ndarray
    maps: dict[str, np.ndarray] = field(default_factory=dict)
    classes: dict[int, str] = field(default_factory=dict)  # window label id -> class name


class RecordSink(Protocol):
    """Anything that accepts batches of finished records (CSV, GeoJSON writers)."""

    def add(self, records: Iterable[NucleusRecord]) -> None: ...


@dataclass
class SegmentResult:
    """What :func:`segment_slide` produced."""

    n_nuclei: int
    seconds: float
    labels: Any  # numpy array or zarr array (the canvas)
    records: Optional[list[NucleusRecord]]
    info: dict[str, Any] = field(default_factory=dict)
    maps: dict[str, Any] = field(default_factory=dict)  # stitched TileOutput.maps


def default_workers() -> int:
    """Worker threads: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def fit_sample(slide: Slide, seed: int = 0, max_pixels: int = 2048 * 2048,
               patch: int = 256) -> np.ndarray:
    """An RGB sample of the whole slide for fitting global parameters.

    Small slides are used whole; large ones give a seeded mosaic of full-resolution
    patches drawn from tissue (not from background glass).
    """
    height, width = slide.shape
    if height * width <= max_pixels:
        return np.asarray(slide.data.compute(scheduler="synchronous"))
    n = max(1, max_pixels // (patch * patch))
    rng = np.random.default_rng(seed)
    patches: list[np.ndarray] = []
    fallback: list[np.ndarray] = []
    for _ in range(4 * n):
        y = int(rng.integers(0, max(1, height - patch + 1)))
        x = int(rng.integers(0, max(1, width - patch + 1)))
        tile = np.asarray(slide.data[y:y + patch, x:x + patch].compute(scheduler="synchronous"))
        (patches if _tissue_fraction(tile) > 0.5 else fallback).append(tile)
        if len(patches) == n:
            break
    patches = (patches + fallback)[:n]
    side = int(np.ceil(np.sqrt(len(patches))))
    mosaic = np.full((side * patch, side * patch, 3), 255, np.uint8)
    for i, tile in enumerate(patches):
        r, c = divmod(i, side)
        mosaic[r * patch:r * patch + tile.shape[0], c * patch:c * patch + tile.shape[1]] = tile
    return mosaic


def _tissue_fraction(rgb: np.ndarray) -> float:
    """Fraction of pixels that look like stained tissue (not white glass)."""
    rgbf = rgb.astype(np.float32)
    spread = rgbf.max(axis=2) - rgbf.min(axis=2)
    return float(np.mean((spread > 20) | (rgbf.mean(axis=2) < 200)))


def tile_records(method: Method, rgb: np.ndarray, t: Tile, shape: tuple[int, int],
                 mpp: Optional[float], polygons: bool
                 ) -> tuple[list[NucleusRecord], dict[str, np.ndarray]]:
    """Run ``method`` on one window: the records the tile owns and its core maps."""
    output = method.segment_tile(rgb)
    labels = output.labels if isinstance(output, TileOutput) else output
    records = measure_objects(labels, rgb, offset=t.offset,
                              keep=ownership_filter(t, shape), mpp=mpp)
    records.sort(key=lambda r: (r.centroid_y, r.centroid_x))
    if polygons:
        for rec in records:
            rec.polygon = record_polygon(rec)
    classes = output.classes if isinstance(output, TileOutput) else {}
    if classes:
        oy, ox = t.offset
        for rec in records:
            h, w = rec.mask.shape
            local = labels[rec.y0 - oy:rec.y0 - oy + h, rec.x0 - ox:rec.x0 - ox + w][rec.mask]
            rec.classification = classes.get(int(local[0]), rec.classification)
    tile_maps = output.maps if isinstance(output, TileOutput) else {}
    return records, {name: _core(t, m) for name, m in tile_maps.items()}


class _LocalExecutor:
    """Tiles on a thread pool in this process."""

    def __init__(self, workers: int, work):
        self.workers = workers
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pathrobust")
        self._work = work

    def submit(self, t: Tile):
        return self._pool.submit(self._work, t)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class _Done:
    """A finished 'future' for tiles that need no work (background, or resumed)."""

    def __init__(self, value):
        self._value = value

    def result(self):
        return self._value

    def cancel(self) -> bool:
        return False


def segment_slide(slide: Slide, method: Method, *, tile: Optional[int] = None,
                  halo: Optional[int] = None, workers: Optional[int] = None,
                  seed: int = 0, memory_budget_mb: float = 1024,
                  canvas: Any = None, sinks: Iterable[RecordSink] = (),
                  keep_records: bool = False, polygons: bool = True, fit: bool = True,
                  map_canvases: Optional[dict[str, Any]] = None,
                  tissue: Any = False, scheduler: Any = None,
                  checkpoint: Any = None, resume: bool = False,
                  reporter: Optional[Reporter] = None) -> SegmentResult:
    """Segment ``slide`` with ``method``; tiled and untiled runs give the same instances.

    ``canvas`` receives the uint32 labels (a numpy or zarr array of the slide's shape;
    a numpy array is allocated when None). ``sinks`` get each tile's records once they
    have global ids; with ``polygons`` the workers also trace each outline (for GeoJSON).
    ``tile=None`` picks the tile size from ``memory_budget_mb``. Maps a method returns
    (:class:`TileOutput`) are stitched into ``map_canvases`` (numpy arrays allocated on
    first use when a name is missing; pass zarr arrays for slides that do not fit memory).

    Scale options: ``tissue`` (True, or a :class:`.tissue.TissueMask`) skips tiles whose
    whole window is background glass; ``scheduler`` (a dask.distributed address or
    Client) runs the tiles on a cluster; ``checkpoint`` (a folder) records finished
    tiles, and ``resume`` continues a matching interrupted run from it. None of them
    changes the labels.
    """
    reporter = reporter or Reporter()
    start = time.perf_counter()
    shape = slide.shape
    workers = workers or default_workers()
    halo = method.halo if halo is None else int(halo)
    tile = tile or auto_tile_size(shape, halo, memory_budget_mb, workers, int(getattr(
        method, "bytes_per_pixel", DEFAULT_BYTES_PER_PIXEL)))
    align = int(getattr(method, "alignment", 1))
    if align > 1:  # strided networks: windows must start on the same pixel grid
        tile, halo = -(-tile // align) * align, -(-halo // align) * align
    if hasattr(method, "configure_threads"):
        method.configure_threads(workers)
    plan = plan_tiles(shape, tile, halo)
    if canvas is None:
        canvas = np.zeros(shape, dtype=np.uint32)
    reporter.report(0, len(plan), "fitting")
    if fit:
        method.fit(fit_sample(slide, seed))
    mask = None
    if tissue is True:
        from .tissue import detect_tissue

        mask = detect_tissue(slide, margin=max(halo, 64))
    elif tissue:
        mask = tissue
    active = [mask is None or mask.window_has_tissue(t) for t in plan]
    info = {
        "method": method.name, "parameters": method.describe(),
        "tile": tile, "halo": halo, "workers": workers, "seed": seed,
        "n_tiles": len(plan), "image_shape": list(shape), "mpp": slide.mpp,
        "tiles_processed": int(sum(active)),
        "fraction_processed": round(sum(active) / max(1, len(plan)), 4),
    }
    if mask is not None:
        info["tissue"] = mask.describe()
    store, done_before, next_id = None, 0, 1
    if checkpoint is not None:
        from .checkpoint import Checkpoint, run_key

        store = Checkpoint(checkpoint, run_key({k: info[k] for k in (
            "parameters", "tile", "halo", "seed", "image_shape", "mpp")} | {
            "active": active, "source": str(slide.path or slide.name)}))
        done_before, next_id = store.start(resume)
        info["resumed_tiles"] = done_before
    sinks = list(sinks)
    kept: Optional[list[NucleusRecord]] = [] if keep_records else None
    maps: dict[str, Any] = dict(map_canvases or {})

    def work(t: Tile) -> tuple[list[NucleusRecord], dict[str, np.ndarray]]:
        reporter.check()
        rgb = np.asarray(slide.data[t.window_slices].compute(scheduler="synchronous"))
        return tile_records(method, rgb, t, shape, slide.mpp, polygons)

    if scheduler is not None:
        from .distributed import DistributedExecutor

        executor: Any = DistributedExecutor(scheduler, method, slide, shape, polygons)
        info.update(scheduler=executor.address, workers=executor.workers)
    else:
        executor = _LocalExecutor(workers, work)

    def submit(t: Tile):
        if t.index < done_before:
            return _Done(None)  # replayed from the checkpoint
        return executor.submit(t) if active[t.index] else _Done(([], {}))

    pending: deque = deque()
    todo = iter(plan)
    in_flight = 2 * executor.workers
    try:
        for t in todo:
            pending.append((t, submit(t)))
            if len(pending) >= in_flight:
                break
        done = 0
        while pending:
            t, future = pending.popleft()
            result = future.result()
            if result is None:  # finished in the interrupted run: ids already assigned
                records, tile_maps = store.read_tile(t.index)
            else:
                records, tile_maps = result
                for rec in records:
                    rec.label = next_id
                    next_id += 1
            _stitch_maps(maps, tile_maps, t, shape)
            _paint(canvas, records)
            for sink in sinks:
                sink.add(records)
            if kept is not None:
                kept.extend(records)
            if store is not None and result is not None:
                store.save_tile(t.index, records, tile_maps, next_id)
            done += 1
            reporter.report(done, len(plan), f"tile {done}/{len(plan)}")
            nxt = next(todo, None)
            if nxt is not None:
                pending.append((nxt, submit(nxt)))
    except BaseException:
        for _, future in pending:
            future.cancel()
        raise
    finally:
        executor.close()
    info["parameters"] = method.describe()  # after the run: stateful methods (adaptation)
    return SegmentResult(next_id - 1, time.perf_counter() - start, canvas, kept, info, maps)


def _core(t: Tile, window_map: np.ndarray) -> np.ndarray:
    """The part of a window-sized map that lies in the tile's core."""
    y0, y1, x0, x1 = t.core
    oy, ox = t.offset
    return window_map[y0 - oy:y1 - oy, x0 - ox:x1 - ox]


def _stitch_maps(maps: dict[str, Any], tile_maps: dict[str, np.ndarray], t: Tile,
                 shape: tuple[int, int]) -> None:
    """Copy each tile's core maps into whole-image canvases (allocated on first use)."""
    y0, y1, x0, x1 = t.core
    for name, core in tile_maps.items():
        if name not in maps:
            maps[name] = np.zeros(shape + core.shape[2:], dtype=core.dtype)
        maps[name][y0:y1, x0:x1] = core


def _paint(canvas: Any, records: list[NucleusRecord]) -> None:
    """Write records into the canvas with one read-modify-write of their bounding box."""
    if not records:
        return
    y0 = min(r.y0 for r in records)
    x0 = min(r.x0 for r in records)
    y1 = max(r.y0 + r.mask.shape[0] for r in records)
    x1 = max(r.x0 + r.mask.shape[1] for r in records)
    region = np.asarray(canvas[y0:y1, x0:x1])
    for r in records:
        view = region[r.y0 - y0:r.y0 - y0 + r.mask.shape[0], r.x0 - x0:r.x0 - x0 + r.mask.shape[1]]
        view[r.mask & (view == 0)] = r.label
    canvas[y0:y1, x0:x1] = region


__all__ = ["SegmentResult", "segment_slide", "tile_records", "fit_sample", "default_workers",
           "Cancelled"]
