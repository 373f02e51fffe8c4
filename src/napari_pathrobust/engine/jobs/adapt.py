"""Adapt-and-segment as a file job: the usual segmentation outputs plus
``<stem>_adapt_log.csv`` (one row per optimisation step)."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path
from typing import Optional

from ..adapt.adapter import LOG_FIELDS, AdaptConfig
from ..adapt.method import ADAPT_TILE, AdaptedPSM
from ..io import Slide
from ..progress import Reporter
from ..writers import atomic_path
from .segment import JobOptions, JobResult, segment_to_files


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
    """Adapt-and-segment a slide tile by tile and write labels, points, GeoJSON, overlay,
    run JSON and ``<stem>_adapt_log.csv`` into ``outdir`` (published together).

    Tiles stream through one worker in order (the adaptation carries over), and runs are
    not checkpointed (a resumed run could not restore the adapted weights)."""
    options = options or JobOptions(method="psm")
    options = replace(options, tile=options.tile or ADAPT_TILE, workers=1, checkpoint=False,
                      resume=False)
    method = method or AdaptedPSM(config, device=options.device, seed=options.seed,
                                  **dict(options.method_params or {}))
    extra = {"adapt_log": (f"{slide.name}_adapt_log.csv",
                           lambda path: write_adapt_log(path, method.adapter.log))}
    return segment_to_files(slide, outdir, options, reporter, method=method,
                            extra_outputs=extra)
