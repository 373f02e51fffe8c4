"""File-to-files jobs shared by the CLI and the widgets: open, segment, write.

One call per input image writes, into ``outdir``:
``<stem>_labels.tif`` (or ``<stem>_labels.zarr`` when large), ``<stem>_points.csv``,
``<stem>.geojson``, ``<stem>_overlay.png`` and ``<stem>_run.json``. Every file is
written to a temporary name and renamed only when the whole job succeeded, so a
cancelled or failed run leaves no partial output. With checkpoints (default for zarr
outputs) the finished tiles are kept in ``.<stem>.checkpoint/`` until the job succeeds;
a rerun with ``resume`` continues from them and writes the same outputs.
"""

from __future__ import annotations

import math
import platform
import shutil
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from ... import __version__
from ..errors import InputError
from ..io import Slide, open_image
from ..methods import DEFAULT_METHOD, get_method
from ..pipeline import segment_slide
from ..progress import Reporter
from ..writers import (
    GeoJSONWriter,
    OmeZarrLabelsWriter,
    PointsCSVWriter,
    write_labels_tiff,
    write_map_tiff,
    write_overlay_png,
    write_run_json,
)

#: images with more pixels than this get their labels written to OME-Zarr, not TIFF
LARGE_IMAGE_PIXELS = 8192 * 8192
OVERLAY_MAX_SIDE = 4096


@dataclass
class JobOptions:
    """Parameters of one segmentation job (all recorded in ``<stem>_run.json``)."""

    method: str = DEFAULT_METHOD
    method_params: Optional[dict[str, Any]] = None
    device: str = "auto"
    tile: Optional[int] = None
    halo: Optional[int] = None
    seed: int = 0
    workers: Optional[int] = None
    memory_budget_mb: float = 1024
    labels_format: str = "auto"  # auto | tif | zarr
    write_maps: bool = False  # also write <stem>_<map>.tif (e.g. activation, pseudomask)
    tissue: bool = True  # skip tiles whose whole window is background glass
    scheduler: Any = None  # dask.distributed scheduler address (or Client): run tiles there
    checkpoint: Optional[bool] = None  # keep per-tile checkpoints (None: for zarr outputs)
    resume: bool = False  # continue an interrupted run from its checkpoint


@dataclass
class JobResult:
    """Outputs of one image: paths by role, nuclei count, seconds."""

    name: str
    n_nuclei: int
    seconds: float
    outputs: dict[str, Path]
    info: dict[str, Any]


def output_paths(stem: str, outdir: Path, large: bool) -> dict[str, Path]:
    """Where a job writes each output, by role."""
    return {
        "labels": outdir / (f"{stem}_labels.zarr" if large else f"{stem}_labels.tif"),
        "points": outdir / f"{stem}_points.csv",
        "geojson": outdir / f"{stem}.geojson",
        "overlay": outdir / f"{stem}_overlay.png",
        "run": outdir / f"{stem}_run.json",
    }


def checkpoint_path(stem: str, outdir: Path) -> Path:
    """The hidden folder holding an unfinished job's per-tile checkpoints."""
    return outdir / f".{stem}.checkpoint"


def segment_file(path: str | Path, outdir: str | Path, options: Optional[JobOptions] = None,
                 reporter: Optional[Reporter] = None) -> JobResult:
    """Open ``path`` lazily, segment it and write all outputs into ``outdir``."""
    return segment_to_files(open_image(path), outdir, options, reporter)


def segment_to_files(slide: Slide, outdir: str | Path, options: Optional[JobOptions] = None,
                     reporter: Optional[Reporter] = None, method: Any = None,
                     extra_outputs: Optional[dict[str, tuple[str, Callable[[Path], Any]]]] = None
                     ) -> JobResult:
    """Segment an opened slide and write all outputs into ``outdir`` atomically.

    ``method``: a ready-made method object (default: built from ``options.method``).
    ``extra_outputs``: ``{role: (file name, writer(path))}`` written after segmentation,
    before the run sidecar (e.g. the adaptation log).
    """
    options = options or JobOptions()
    reporter = reporter or Reporter()
    start = time.perf_counter()
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    height, width = slide.shape
    large = {"tif": False, "zarr": True}.get(options.labels_format,
                                             height * width > LARGE_IMAGE_PIXELS)
    paths = output_paths(slide.name, outdir, large)
    params = dict(options.method_params or {})
    if options.write_maps:
        params["maps"] = True
        if large:
            raise InputError(slide.path or slide.name,
                             "intermediate maps are written for images up to "
                             f"{LARGE_IMAGE_PIXELS // 10**6} MP only")
    if method is None:
        method = get_method(options.method, device=options.device, seed=options.seed, **params)
    metadata = {
        "software": f"napari-pathrobust {__version__}",
        "source": str(slide.path) if slide.path else slide.name,
        "method": method.name,
        "seed": options.seed,
        "device": options.device,
        "parameters": method.describe(),
    }
    with ExitStack() as stack:
        csv_writer = stack.enter_context(PointsCSVWriter(paths["points"]))
        geojson_writer = stack.enter_context(GeoJSONWriter(paths["geojson"], metadata=metadata))
        zarr_writer = None
        if large:
            zarr_writer = stack.enter_context(OmeZarrLabelsWriter(
                paths["labels"], (height, width), metadata=metadata, mpp=slide.mpp,
                name=f"{slide.name}_nuclei"))
            canvas = zarr_writer.array
        else:
            canvas = np.zeros((height, width), dtype=np.uint32)
        use_checkpoint = large if options.checkpoint is None else options.checkpoint
        checkpoint = checkpoint_path(slide.name, outdir) \
            if (use_checkpoint or options.resume) else None
        result = segment_slide(
            slide, method, tile=options.tile, halo=options.halo, workers=options.workers,
            seed=options.seed, memory_budget_mb=options.memory_budget_mb, canvas=canvas,
            sinks=[csv_writer, geojson_writer], tissue=options.tissue,
            scheduler=options.scheduler, checkpoint=checkpoint, resume=options.resume,
            reporter=reporter)
        metadata["parameters"] = result.info["parameters"]
        metadata.update({k: result.info[k] for k in (
            "tile", "halo", "workers", "n_tiles", "tiles_processed", "fraction_processed")
            if k in result.info})
        for key in ("tissue", "scheduler"):
            if key in result.info:
                metadata[key] = result.info[key]
        reporter.check()
        _write_overlay(paths["overlay"], slide, canvas)
        for name, data in result.maps.items() if options.write_maps else ():
            paths[name] = outdir / f"{slide.name}_{name}.tif"
            write_map_tiff(paths[name], np.asarray(data), metadata=metadata, mpp=slide.mpp)
        for role, (file_name, write) in (extra_outputs or {}).items():
            paths[role] = outdir / file_name
            write(paths[role])
        if zarr_writer is not None:
            zarr_writer.finalize()
        else:
            write_labels_tiff(paths["labels"], canvas, metadata=metadata, mpp=slide.mpp)
    seconds = time.perf_counter() - start
    info = dict(metadata, n_nuclei=result.n_nuclei, seconds=round(seconds, 3),
                image={"name": slide.name, "shape": [height, width], "mpp": slide.mpp},
                outputs={k: p.name for k, p in paths.items()},
                platform=platform.platform(), slide_metadata=slide.metadata,
                resumed_tiles=result.info.get("resumed_tiles", 0))
    write_run_json(paths["run"], info)
    if checkpoint is not None:
        shutil.rmtree(checkpoint, ignore_errors=True)
    return JobResult(slide.name, result.n_nuclei, seconds, paths, info)


def _write_overlay(path: Path, slide: Slide, canvas: Any) -> None:
    """Overlay PNG of nucleus outlines on the image, at most OVERLAY_MAX_SIDE a side."""
    height, width = slide.shape
    step = max(1, 2 ** math.ceil(math.log2(max(height, width) / OVERLAY_MAX_SIDE))) \
        if max(height, width) > OVERLAY_MAX_SIDE else 1
    labels = np.asarray(canvas[::step, ::step])
    rgb = np.asarray(slide.data[::step, ::step].compute())
    write_overlay_png(path, rgb, labels, max_side=OVERLAY_MAX_SIDE)
