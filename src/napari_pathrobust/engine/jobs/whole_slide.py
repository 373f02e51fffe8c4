"""A whole slide into a results folder, returned as a lazy result: the job behind
Recognise's "whole image" on a large slide.

:func:`segment_whole_slide` opens the slide from its file (its own pyramid and pixel
size) or wraps the pyramid levels it is given, runs :func:`.segment.segment_to_files`
(tissue detection, checkpoints so a cancelled run continues where it stopped, labels as
an OME-Zarr pyramid, points CSV, GeoJSON, overlay, run JSON; all published together or
none) and returns a :class:`.region.RegionResult` whose labels are the zarr pyramid's
levels as dask arrays (never read whole) and whose table is the points CSV.
A slide without a pixel size is refused: a whole-slide run at a guessed size wastes
hours and gives wrong nuclei.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..errors import InputError
from ..io import Slide, open_image, slide_from_array, with_pixel_size
from ..progress import Reporter
from ..results import read_cells_table
from ..writers import read_ome_zarr_labels
from .region import RegionOptions, RegionResult, build_method
from .segment import JobOptions, segment_to_files

#: what a missing pixel size asks the user for
NO_PIXEL_SIZE = ("no pixel size in the file: give the pixel size (um per pixel) to "
                 "recognise the whole slide")


def open_whole_slide(source: Any, name: str, mpp: Optional[float] = None) -> Slide:
    """The slide to segment: ``source`` a file path (opened lazily, ``mpp`` wins over the
    file's) or an array / list of pyramid levels (``mpp`` the only pixel size).
    Raises :class:`InputError` (one line) for an unreadable file or no pixel size."""
    if isinstance(source, (str, os.PathLike)):
        slide = with_pixel_size(open_image(source), mpp)
        check_readable(slide)
    else:
        slide = slide_from_array(source, name=name, mpp=mpp)
    if not slide.mpp:
        raise InputError(slide.path or name, NO_PIXEL_SIZE)
    return slide


def check_readable(slide: Slide) -> None:
    """Read the last chunk of every level: a truncated file fails here, in one line,
    before hours of work (the tiles near a file's end are stored last)."""
    for k, level in enumerate(slide.levels):
        try:
            tail = level.blocks[-1, -1] if level.ndim >= 2 else level
            np.asarray(tail)
        except Exception as exc:  # noqa: BLE001 - any reader failure means unusable
            raise InputError(slide.path or slide.name,
                             f"level {k} cannot be read (a truncated or damaged file?): "
                             f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                             ) from None


def job_options(options: RegionOptions) -> JobOptions:
    """The file job's options for a whole-slide run with ``options``."""
    return JobOptions(method=options.method, method_params=dict(options.method_params),
                      device=options.device, tile=options.tile, seed=options.seed,
                      memory_budget_mb=options.memory_budget_mb, labels_format="zarr",
                      tissue=True, checkpoint=True, resume=True, ihc=options.ihc,
                      normalise=options.normalise)


def segment_whole_slide(source: Any, outdir: str | Path,
                        options: Optional[RegionOptions] = None,
                        reporter: Optional[Reporter] = None, *, name: str = "image",
                        mpp: Optional[float] = None,
                        metadata: Optional[dict] = None) -> RegionResult:
    """Segment a whole slide into ``outdir`` and return it lazily (see the module doc).

    ``source``: a slide file or pyramid levels; ``metadata`` is merged into the result's
    (e.g. the source layer). The result's metadata holds the run record (seed, method
    parameters, model hash, run id), ``results_folder``, ``zarr_labels`` and
    ``region`` (the whole slide)."""
    import dask.array as da

    options = options or RegionOptions()
    reporter = reporter or Reporter()
    slide = open_whole_slide(source, name, mpp)
    method = build_method(options)
    slide = Slide(slide.levels, name, slide.path, slide.mpp, slide.metadata,
                  slide.mpp_source)  # outputs named after the layer
    job = segment_to_files(slide, outdir, job_options(options), reporter, method=method)
    levels, _attrs = read_ome_zarr_labels(job.outputs["labels"])
    labels = [da.from_zarr(level) for level in levels]
    table = {k: _column(v) for k, v in
             read_cells_table(job.outputs["points"]).items() if k != "index"}
    info = dict(job.info)
    height, width = slide.shape
    meta = {**info, **dict(metadata or {}), "region": [0, 0, height, width],
            "mpp": slide.mpp, "results_folder": str(Path(outdir)),
            "zarr_labels": str(job.outputs["labels"]),
            "model_hash": (info.get("parameters") or {}).get("model_hash"),
            "whole_slide": True}
    return RegionResult(labels if len(labels) > 1 else labels[0], {}, table, meta,
                        job.n_nuclei, job.seconds)


def _column(values: list) -> np.ndarray:
    """A cells-table column as an array (text columns as objects, as the region job's)."""
    if values and isinstance(values[0], str):
        return np.asarray(values, dtype=object)
    return np.asarray(values)
