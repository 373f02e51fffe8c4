"""Run a recognition method over a slide tile by tile, stitching instances exactly.

Working resolution: a slide whose pixel size differs from the method's ``working_mpp``
(by more than :data:`.resample.MPP_TOLERANCE`) is read at its best pyramid level and
resampled, windows with their halo and the fit sample alike, to a working grid anchored
at the slide origin; labels and maps come back to the slide's own grid by nearest
neighbour (:mod:`.working_tiles`), so tiles, ids, records and outputs stay in slide
pixels. An unknown pixel size is taken as the working one (``info["mpp_assumed"]``).

Data flow: slide (lazy pyramid) -> a sample of the whole slide: refused when blank,
uniform or without tissue (zero nuclei and a warning), else the method is fitted on it
once -> tiles with a halo, run by an executor (a local thread pool unless the caller
passes another, e.g. :class:`.distributed.DistributedExecutor`) -> objects owned by
each tile (see :mod:`.tiling`) -> provisional ids in tile order -> painted into a label
canvas (numpy or zarr) and streamed to record sinks (CSV, GeoJSON, layers) -> after the
last tile, canonical ids (:mod:`.label_ids`: dense 1..N in raster order of each
object's first pixel): the canvas, kept records and every sink (``renumber``) switch to
them. Peak memory depends on the tile size and the number of workers, never on the
image size.

Ids and instances do not depend on the tile size, the worker count or the executor:
every step of the built-in methods is local within their halo (watersheds are solved
per connected component, so even ties between equal values break the same way in
every window), fitted values come from one slide-wide sample, and record measurements
are computed in object-relative coordinates. Floating-point caveat: a pixel whose value
lands exactly on a threshold can round differently when a library's running sums
(e.g. ``scipy.ndimage.uniform_filter``, used by ``classical`` background flattening)
or a network's convolution algorithm start from a different window edge; and a
``classical`` foreground clump reaching more than about ``halo - 60`` px (60 px by
default) from an object's centroid sees a different background level near a window
edge. Both are rare and change single pixels or one clump's split; the ids of all
other objects keep their canonical order.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional, Protocol

import numpy as np

from ..io import Slide
from ..methods.base import Method
from ..nucleus_records import NucleusRecord
from ..progress import Reporter
from .executor import (
    Done,
    LocalExecutor,
    TileExecutor,
    TileJob,
)
from .label_ids import IdBook, relabel_canvas, relabel_records
from .profile import StageClock
from .resample import working_grid
from .sampling import FIT_SAMPLE_PIXELS, fit_sample, image_problem
from .tiling import Tile, auto_tile_size, plan_tiles
from .working_tiles import (
    WorkingTileJob,
    pixel_size_info,
    working_sample,
    working_tile_size,
)


class ImageWarning(UserWarning):
    """An image the methods cannot read nuclei from (uniform, blank): zero nuclei."""


class RecordSink(Protocol):
    """Anything that accepts the finished records (CSV, GeoJSON writers, layer tables).

    ``add`` receives each tile's records with provisional ids while the run goes;
    ``renumber(lut)`` is called once at the end with ``final = lut[provisional]``: the
    sink then emits its records in ascending final id, with the final ids.
    """

    def add(self, records: Iterable[NucleusRecord]) -> None: ...

    def renumber(self, lut: np.ndarray) -> None: ...


@dataclass
class SegmentResult:
    """What :func:`segment_slide` produced."""

    n_nuclei: int
    seconds: float
    labels: Any  # numpy array or zarr array (the canvas)
    records: Optional[list[NucleusRecord]]
    info: dict[str, Any] = field(default_factory=dict)
    maps: dict[str, Any] = field(default_factory=dict)  # stitched TileOutput.maps


def segment_slide(slide: Slide, method: Method, *, tile: Optional[int] = None,
                  halo: Optional[int] = None, workers: Optional[int] = None,
                  seed: int = 0, memory_budget_mb: float = 1024,
                  canvas: Any = None, sinks: Iterable[RecordSink] = (),
                  keep_records: bool = False, polygons: bool = True, fit: bool = True,
                  map_canvases: Optional[dict[str, Any]] = None,
                  tissue: Any = False, executor: Optional[TileExecutor] = None,
                  checkpoint: Any = None, resume: bool = False,
                  reporter: Optional[Reporter] = None) -> SegmentResult:
    """Segment ``slide`` with ``method``; tiled and untiled runs give the same instances
    and the same ids (see the module docstring).

    ``canvas`` receives the uint32 labels (a numpy or zarr array of the slide's shape;
    a numpy array is allocated when None). ``sinks`` get each tile's records (``add``)
    and, at the end, the canonical ids (``renumber``); with ``polygons`` the workers
    also trace each outline (for GeoJSON). ``tile=None`` picks the tile size from
    ``memory_budget_mb`` and the method (never from the worker count). Maps a method
    returns (:class:`TileOutput`) are stitched into ``map_canvases`` (numpy arrays
    allocated on first use when a name is missing; pass zarr arrays for slides that do
    not fit memory). ``info["warnings"]`` lists problems (also issued as
    :class:`ImageWarning`), e.g. a uniform image, which gives zero nuclei.

    Scale options: ``tissue`` (True, or a :class:`.tissue.TissueMask`) skips tiles whose
    whole window is background glass; ``executor`` runs the tiles (default: a
    :class:`.executor.LocalExecutor` of ``workers`` threads; the pipeline starts and
    closes it); ``checkpoint`` (a folder) records finished tiles, and ``resume``
    continues a matching interrupted run from it. None of them changes the labels.
    """
    executor = executor if executor is not None else LocalExecutor(workers)
    try:
        return _segment(slide, method, executor, tile=tile, halo=halo, seed=seed,
                        memory_budget_mb=memory_budget_mb, canvas=canvas, sinks=list(sinks),
                        keep_records=keep_records, polygons=polygons, fit=fit,
                        maps=dict(map_canvases or {}), tissue=tissue, checkpoint=checkpoint,
                        resume=resume, reporter=reporter or Reporter())
    finally:
        executor.close()


def _segment(slide, method, executor, *, tile, halo, seed, memory_budget_mb, canvas, sinks,
             keep_records, polygons, fit, maps, tissue, checkpoint, resume, reporter):
    start = time.perf_counter()
    shape = slide.shape
    align = int(method.alignment)
    grid = working_grid(slide, slide.mpp, method.working_mpp)
    if grid is None:  # pixels used as read (at, or assumed at, the working resolution)
        halo = method.halo if halo is None else int(halo)
        # an image that is its own fit sample and fits the memory budget as one window is
        # one tile: a method may then reuse the fit's result for it
        pixels = shape[0] * shape[1]
        whole = pixels <= FIT_SAMPLE_PIXELS and \
            pixels * method.bytes_per_pixel <= memory_budget_mb * 2**20
        tile = tile or (max(shape) if whole else
                        auto_tile_size(shape, halo, memory_budget_mb, method.bytes_per_pixel))
        if align > 1:  # strided networks: windows must start on the same pixel grid
            tile, halo = -(-tile // align) * align, -(-halo // align) * align
    else:  # tile and halo in slide pixels; the method sees its working grid
        halo = grid.slide_halo(method.halo) if halo is None else int(halo)
        whole = grid.shape[0] * grid.shape[1] <= FIT_SAMPLE_PIXELS  # as above
        tile = tile or (max(shape) if whole else working_tile_size(
            grid, method.halo, memory_budget_mb, method.bytes_per_pixel))
    method.configure_threads(executor.workers)
    plan = plan_tiles(shape, tile, halo)
    if canvas is None:
        canvas = np.zeros(shape, dtype=np.uint32)
    clock, network_before = StageClock(), _network_seconds()
    reporter.report(0, len(plan), "fitting")
    with clock.stage("fit"):
        sample = fit_sample(slide, seed) if grid is None else working_sample(grid, seed)
        problem = image_problem(sample)
        problems = [] if problem is None else [f"{slide.name}: {problem}: no nuclei"]
        for message in problems:
            warnings.warn(message, ImageWarning, stacklevel=3)
        if fit and problem is None:
            method.fit(sample)
        del sample
    clock.add("fit_network", _network_seconds() - network_before)
    mask = None
    if tissue is True and problem is None:
        from .tissue import detect_tissue

        with clock.stage("tissue"):
            mask = detect_tissue(slide, margin=max(halo, 64))
    elif tissue and tissue is not True:
        mask = tissue
    active = [problem is None and (mask is None or mask.window_has_tissue(t)) for t in plan]
    info = {
        "method": method.name, "parameters": method.describe(),
        "tile": tile, "halo": halo, "workers": executor.workers, "seed": seed,
        "n_tiles": len(plan), "image_shape": list(shape),
        **pixel_size_info(slide, method, grid),
        "tiles_processed": int(sum(active)),
        "fraction_processed": round(sum(active) / max(1, len(plan)), 4),
        "warnings": problems,
    }
    info.update(executor.describe())
    if mask is not None:
        info["tissue"] = mask.describe()
    store, done_before, next_id = None, 0, 1
    if checkpoint is not None:
        from .checkpoint import Checkpoint, run_key

        store = Checkpoint(checkpoint, run_key({k: info[k] for k in (
            "parameters", "tile", "halo", "seed", "image_shape", "mpp")} | {
            "active": active, "source": str(slide.path or slide.name)} | (
            {"interpolation": info["interpolation"]} if "interpolation" in info else {})))
        done_before, next_id = store.start(resume)
        info["resumed_tiles"] = done_before
    book = IdBook(shape[1])
    kept: Optional[list[tuple[int, NucleusRecord]]] = [] if keep_records else None
    job_args = dict(method=method, slide=slide, polygons=polygons, check=reporter.check,
                    clock=clock)
    executor.start(TileJob(**job_args) if grid is None else
                   WorkingTileJob(**job_args, grid=grid, align=align))
    network_before = _network_seconds()

    def submit(t: Tile):
        if t.index < done_before:
            return Done(None)  # replayed from the checkpoint
        return executor.submit(t) if active[t.index] else Done(([], {}))

    pending: deque = deque()
    todo = iter(plan)
    try:
        for t in todo:
            pending.append((t, submit(t)))
            if len(pending) >= 2 * executor.workers:
                break
        done = 0
        while pending:
            t, future = pending.popleft()
            with clock.stage("wait"):
                result = future.result()
            stitch = time.perf_counter()
            if result is None:  # finished in the interrupted run: ids already assigned
                records, tile_maps = store.read_tile(t.index)
            else:
                records, tile_maps = result
                for rec in records:
                    rec.label = next_id
                    next_id += 1
            _stitch_maps(maps, tile_maps, t, shape)
            _paint(canvas, records)
            book.add(records)
            for sink in sinks:
                sink.add(records)
            if kept is not None:
                kept.extend((rec.label, rec) for rec in records)
            if store is not None and result is not None:
                store.save_tile(t.index, records, tile_maps, next_id)
            clock.add("stitch", time.perf_counter() - stitch)
            done += 1
            reporter.report(done, len(plan), f"tile {done}/{len(plan)}")
            nxt = next(todo, None)
            if nxt is not None:
                pending.append((nxt, submit(nxt)))
    except BaseException:
        for _, future in pending:
            future.cancel()
        raise
    reporter.check()
    clock.add("network", _network_seconds() - network_before)
    with clock.stage("relabel"):
        lut = book.lut()
        relabel_canvas(canvas, lut)
        for sink in sinks:
            sink.renumber(lut)
        records_out = relabel_records(kept, lut) if kept is not None else None
    info["parameters"] = method.describe()  # after the run: stateful methods (adaptation)
    info["profile"] = clock.describe()
    return SegmentResult(len(book), time.perf_counter() - start, canvas, records_out, info,
                         maps)


def _network_seconds() -> float:
    """Seconds this process has spent in network calls (0 when no network was loaded)."""
    inference = sys.modules.get("napari_pathrobust.engine.models.inference")
    return inference.network_stats()[0] if inference is not None else 0.0


def _stitch_maps(maps: dict[str, Any], tile_maps: dict[str, np.ndarray], t: Tile,
                 shape: tuple[int, int]) -> None:
    """Copy each tile's core maps into whole-image canvases (allocated on first use)."""
    for name, core in tile_maps.items():
        if name not in maps:
            maps[name] = np.zeros(shape + core.shape[2:], dtype=core.dtype)
        maps[name][t.core.slices] = core


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


__all__ = ["SegmentResult", "segment_slide", "ImageWarning", "RecordSink"]
