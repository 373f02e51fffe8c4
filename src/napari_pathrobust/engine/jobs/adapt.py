"""Adaptation jobs: adapt to a slide (default method, gated), then segment it.

:func:`adapt_slide_to_files` is ``pathrobust adapt``: the usual segmentation outputs,
with what was done (adapted / kept source and why) in ``<stem>_run.json``
(``parameters.adaptation``, with ``message``: the outcome in plain words).
:func:`adapt_region` is the Adapt widget's job: a region of an image, segmented with a
features table (in memory, or into a zarr like Recognise's large regions).
:func:`adapt_to_files` is the older tile-stream adaptation (OCL / TENT continual over
tiles, ``<stem>_adapt_log.csv``).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..adapt.adapter import LOG_FIELDS, AdaptConfig
from ..adapt.method import ADAPT_TILE, AdaptedPSM
from ..adapt.slide import AdaptedNetworkMethod, SlideAdaptation, SlideAdaptConfig, adapt_to_slide
from ..io import Slide, slide_from_array
from ..progress import Reporter
from ..writers import atomic_path
from .segment import JobOptions, JobResult, segment_to_files


def _psm(device: str, seed: int, params: Optional[dict] = None):
    from ..methods.psm import PSMMethod

    return PSMMethod(device=device, seed=seed, **dict(params or {}))


def adaptation_sample(slide: Slide, psm, seed: int = 0) -> np.ndarray:
    """What adaptation reads of ``slide``: the pipeline's fit sample at the network's
    working resolution, tissue first (a small slide whole; a large one a seeded mosaic
    of tissue patches), so the colours, BatchNorm statistics and gate signals come
    from what the network will segment, not from glass or another magnification."""
    from ..tiled.resample import working_grid
    from ..tiled.sampling import fit_sample
    from ..tiled.working_tiles import working_sample

    grid = working_grid(slide, slide.mpp, psm.working_mpp)
    return working_sample(grid, seed) if grid is not None else fit_sample(slide, seed)


def adapt_slide_to_files(slide: Slide, outdir: str | Path,
                         config: Optional[SlideAdaptConfig] = None,
                         options: Optional[JobOptions] = None,
                         reporter: Optional[Reporter] = None
                         ) -> tuple[JobResult, SlideAdaptation]:
    """Adapt the PSM network to ``slide`` (sample tiles, gate), then segment all of it
    with the outcome and write the outputs into ``outdir``."""
    options = options or JobOptions(method="psm")
    reporter = reporter or Reporter()
    config = config or SlideAdaptConfig(seed=options.seed)
    params = {"maps": False, **dict(options.method_params or {})}
    psm = _psm(options.device, options.seed, params)
    adaptation = adapt_to_slide(adaptation_sample(slide, psm, config.seed), psm, config,
                                reporter.sub(0, 1, 4))
    method = AdaptedNetworkMethod(psm, adaptation)
    options = replace(options, method="psm", checkpoint=False, resume=False)
    result = segment_to_files(slide, outdir, options, reporter.sub(1, 3, 4), method=method)
    return result, adaptation


@dataclass
class AdaptRegionResult:
    """The region's segmentation (labels, table, metadata) and the adaptation."""

    region: Any  # jobs.region.RegionResult
    adaptation: SlideAdaptation


def adapt_region(image, box, config: Optional[SlideAdaptConfig] = None, device: str = "auto",
                 reporter: Optional[Reporter] = None, *, name: str = "image",
                 mpp: Optional[float] = None, tile: Optional[int] = None,
                 metadata: Optional[dict] = None, zarr_dest: Optional[Path] = None
                 ) -> AdaptRegionResult:
    """Adapt to ``image[box]`` and segment it (labels + features table; ``zarr_dest``:
    labels written there, as :func:`.region.segment_region` does)."""
    from ..tiled.tiling import Box
    from .region import RegionOptions, segment_region

    reporter = reporter or Reporter()
    config = config or SlideAdaptConfig()
    box = Box.of(box)
    psm = _psm(device, config.seed, {"maps": False})
    region = slide_from_array(image[box.slices], name=name, mpp=mpp)
    adaptation = adapt_to_slide(adaptation_sample(region, psm, config.seed), psm, config,
                                reporter.sub(0, 1, 3))
    method = AdaptedNetworkMethod(psm, adaptation)
    meta = {**dict(metadata or {}), "adaptation": adaptation.describe(),
            "adapted": adaptation.kept}
    options = RegionOptions(method="psm", device=device, seed=config.seed, tile=tile)
    region = segment_region(image, box, options, reporter.sub(1, 2, 3), name=name, mpp=mpp,
                            metadata=meta, method=method, zarr_dest=zarr_dest)
    return AdaptRegionResult(region, adaptation)


def write_adapt_log(path: Path | str, log: list[dict]) -> Path:
    """The per-step log as CSV (atomic)."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=LOG_FIELDS)
        writer.writeheader()
        for row in log:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v)
                             for k, v in row.items()})
    return Path(path)


def adapt_to_files(slide: Slide, outdir: str | Path, config: Optional[AdaptConfig] = None,
                   options: Optional[JobOptions] = None, reporter: Optional[Reporter] = None,
                   method: Optional[AdaptedPSM] = None) -> JobResult:
    """Tile-stream adaptation (OCL / TENT, continual over tiles): labels, points,
    GeoJSON, overlay, run JSON and ``<stem>_adapt_log.csv`` into ``outdir``."""
    options = options or JobOptions(method="psm")
    options = replace(options, tile=options.tile or ADAPT_TILE, workers=1, checkpoint=False,
                      resume=False)
    method = method or AdaptedPSM(config, device=options.device, seed=options.seed,
                                  **dict(options.method_params or {}))
    extra = {"adapt_log": (f"{slide.name}_adapt_log.csv",
                           lambda path: write_adapt_log(path, method.adapter.log))}
    return segment_to_files(slide, outdir, options, reporter, method=method,
                            extra_outputs=extra)
