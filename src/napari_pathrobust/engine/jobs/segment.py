"""File-to-files jobs shared by the CLI and the widgets: open, segment, write.

One call per input image writes, into ``outdir``:
``<stem>_labels.tif`` (or ``<stem>_labels.zarr`` when large), ``<stem>_points.csv``,
``<stem>.geojson``, ``<stem>_overlay.png`` and ``<stem>_run.json`` (IHC runs, stain
``ihc``: also ``<stem>_summary.csv``, see :mod:`..ihc.scoring`). Every output is
written into a staging folder inside ``.<stem>.checkpoint/`` and published together only
when the whole job succeeded (:class:`.outputs.OutputSet`), so a cancelled, failed or
killed run leaves no output and no temporary file beside the outputs. The metadata
(fitted parameters, tiling, run id) is assembled once, after the run, and written to
every output. With checkpoints (default for zarr outputs) the finished tiles are kept in
``.<stem>.checkpoint/`` until the job succeeds; a rerun with ``resume`` continues from
them and writes the same outputs.
"""

from __future__ import annotations

import math
import platform
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from ... import __version__
from ..adapt.normalise import normalisation_record
from ..errors import InputError
from ..ihc.scoring import IhcCellSink
from ..io import Slide, open_image, with_pixel_size
from ..progress import Reporter
from ..registry import DEFAULT_METHOD, get_method
from ..tiled.pipeline import segment_slide
from ..writers import (
    GeoJSONWriter,
    OmeZarrLabelsWriter,
    PointsCSVWriter,
    new_run_id,
    write_labels_tiff,
    write_map_tiff,
    write_overlay_png,
    write_run_json,
)
from .outputs import OutputSet
from .pixel_estimate import ESTIMATED, estimated_note, with_estimated_pixel_size
from .stain_note import record_stain, stain_check

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
    mpp: Optional[float] = None  # microns per pixel given by the user (wins over the file)
    ihc: Any = None  # IhcThresholds for stain "ihc" runs (None: the documented defaults)
    normalise: bool = True  # psm on H&E: gated stain normalisation (engine.adapt.normalise)


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
        "summary": outdir / f"{stem}_summary.csv",  # IHC runs only
    }


def segment_file(path: str | Path, outdir: str | Path, options: Optional[JobOptions] = None,
                 reporter: Optional[Reporter] = None) -> JobResult:
    """Open ``path`` lazily, segment it and write all outputs into ``outdir``."""
    mpp = options.mpp if options is not None else None
    return segment_to_files(open_image(path, mpp=mpp), outdir, options, reporter)


def segment_to_files(slide: Slide, outdir: str | Path, options: Optional[JobOptions] = None,
                     reporter: Optional[Reporter] = None, method: Any = None,
                     extra_outputs: Optional[dict[str, tuple[str, Callable[[Path], Any]]]] = None
                     ) -> JobResult:
    """Segment an opened slide and write all outputs into ``outdir``, all or none.

    ``method``: a ready-made method object (default: built from ``options.method``).
    ``extra_outputs``: ``{role: (file name, writer(path))}`` written after segmentation
    and published with the others (e.g. the adaptation log).
    """
    options = options or JobOptions()
    reporter = reporter or Reporter()
    start = time.perf_counter()
    slide = with_pixel_size(slide, options.mpp)
    outdir = Path(outdir)
    height, width = slide.shape
    large = {"tif": False, "zarr": True}.get(options.labels_format,
                                             height * width > LARGE_IMAGE_PIXELS)
    params = dict(options.method_params or {})
    if options.write_maps:
        params["maps"] = True
        if large:
            raise InputError(slide.path or slide.name,
                             "intermediate maps are written for images up to "
                             f"{LARGE_IMAGE_PIXELS // 10**6} MP only")
    if method is None:
        method = get_method(options.method, device=options.device, seed=options.seed,
                            normalise=options.normalise, **params)
    slide = with_estimated_pixel_size(slide, method_stain(method), options.seed)  # IHC only
    run_id = new_run_id()
    names = {role: p.name for role, p in output_paths(slide.name, outdir, large).items()}
    outputs = OutputSet(outdir, slide.name)
    use_checkpoint = large if options.checkpoint is None else options.checkpoint
    checkpoint = outputs.root if (use_checkpoint or options.resume) else None
    with ExitStack() as stack:
        stack.callback(outputs.discard)  # after success: nothing left to discard
        csv_writer = stack.enter_context(PointsCSVWriter(outputs.stage("points", names["points"])))
        geojson_writer = stack.enter_context(GeoJSONWriter(
            outputs.stage("geojson", names["geojson"]), run_id=run_id))
        zarr_writer = None
        if large:
            zarr_writer = stack.enter_context(OmeZarrLabelsWriter(
                outputs.stage("labels", names["labels"]), (height, width), mpp=slide.mpp,
                name=f"{slide.name}_nuclei"))
            canvas = zarr_writer.array
        else:
            canvas = np.zeros((height, width), dtype=np.uint32)
        from ..tiled.distributed import executor_for  # the job picks where tiles run

        ihc = IhcCellSink(options.ihc) if method_stain(method) == "ihc" else None
        result = segment_slide(
            slide, method, tile=options.tile, halo=options.halo, workers=options.workers,
            seed=options.seed, memory_budget_mb=options.memory_budget_mb, canvas=canvas,
            sinks=[csv_writer, geojson_writer] + ([ihc] if ihc is not None else []),
            tissue=options.tissue,
            executor=executor_for(options.scheduler), checkpoint=checkpoint,
            resume=options.resume,
            reporter=reporter)
        metadata = run_metadata(slide, method, options, result.info, run_id)
        stain = metadata["stain"]  # an IHC run on little DAB says so (stain_note)
        record_stain(metadata, stain, stain_check(slide, options.seed, stain), slide.name)
        if ihc is not None:  # classes decided on the whole slide, written with the records
            metadata["ihc_summary"] = ihc.classify([csv_writer, geojson_writer])
            ihc.write_summary(outputs.stage("summary", names["summary"]), slide=slide.name)
        reporter.check()
        write_overlay(outputs.stage("overlay", names["overlay"]), slide, canvas)
        for name, data in result.maps.items() if options.write_maps else ():
            write_map_tiff(outputs.stage(name, f"{slide.name}_{name}.tif"), np.asarray(data),
                           metadata=metadata, mpp=slide.mpp)
        for role, (file_name, write) in (extra_outputs or {}).items():
            write(outputs.stage(role, file_name))
        if zarr_writer is not None:
            zarr_writer.finalize(metadata=metadata)
        else:
            write_labels_tiff(outputs.stage("labels", names["labels"]), canvas,
                              metadata=metadata, mpp=slide.mpp)
        csv_writer.commit()
        geojson_writer.commit(metadata)
        seconds = time.perf_counter() - start
        info = dict(metadata, n_nuclei=result.n_nuclei, seconds=round(seconds, 3),
                    image={"name": slide.name, "shape": [height, width], "mpp": slide.mpp,
                           "mpp_source": slide.mpp_source},
                    outputs={**{k: p.name for k, p in outputs.final.items()},
                             "run": names["run"]},
                    platform=platform.platform(), slide_metadata=slide.metadata,
                    resumed_tiles=result.info.get("resumed_tiles", 0))
        write_run_json(outputs.stage("run", names["run"]), info)
        reporter.check()
        paths = outputs.publish()
    outputs.remove_all()  # the checkpoint is no longer needed
    return JobResult(slide.name, result.n_nuclei, seconds, paths, info)


def method_stain(method: Any) -> str:
    """The stain a method object was built for ("he" when it has no such parameter)."""
    return str(getattr(getattr(method, "params", None), "stain", None)
               or getattr(method, "stain", None) or "he")


def run_metadata(slide: Slide, method: Any, options: JobOptions, info: dict,
                 run_id: str) -> dict:
    """What every output of a finished run records: source, method, fitted parameters,
    tiling, seed, device and the run id (built after the run)."""
    metadata = {
        "software": f"napari-pathrobust {__version__}",
        "source": str(slide.path) if slide.path else slide.name,
        "run_id": run_id,
        "method": method.name,
        "stain": method_stain(method),
        "seed": options.seed,
        "device": options.device,
        "parameters": info.get("parameters", method.describe()),
        "normalisation": normalisation_record(method, options.normalise),
    }
    metadata.update({k: info[k] for k in (
        "tile", "halo", "workers", "n_tiles", "tiles_processed", "fraction_processed",
        "image_shape", "tissue", "scheduler", "warnings") if k in info})
    metadata["pixel_size"] = {k: info[k] for k in (
        "mpp", "mpp_source", "working_mpp", "mpp_assumed", "pyramid_level", "scale",
        "working_shape", "interpolation") if k in info}
    if pixel_size_note(info):
        metadata["pixel_size"]["note"] = pixel_size_note(info)
    return metadata


def pixel_size_note(info: dict, hint: str = "give --mpp to set it") -> str:
    """One line about the pixel size a run used ('' when the file stated it), ending
    with ``hint`` (how to set it: the CLI's flag, a widget's field). ``info``: a run's
    pixel-size record or a result layer's metadata (same keys)."""
    if info.get("mpp_source") == ESTIMATED:
        return estimated_note(info["mpp"], hint)
    if not info.get("mpp_assumed"):
        return ""
    return (f"pixel size unknown: assumed {info['working_mpp']:g} um/px "
            f"(the method's working resolution; {hint})")


def write_overlay(path: Path, slide: Slide, canvas: Any) -> None:
    """Overlay PNG of nucleus outlines on the image, at most OVERLAY_MAX_SIDE a side."""
    height, width = slide.shape
    step = max(1, 2 ** math.ceil(math.log2(max(height, width) / OVERLAY_MAX_SIDE))) \
        if max(height, width) > OVERLAY_MAX_SIDE else 1
    labels = np.asarray(canvas[::step, ::step])
    rgb = np.asarray(slide.data[::step, ::step].compute())
    write_overlay_png(path, rgb, labels, max_side=OVERLAY_MAX_SIDE)
