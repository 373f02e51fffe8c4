"""Adaptation as a recognition method and as a file job.

:class:`AdaptedPSM` wraps the PSM method so the tiled pipeline streams tiles through a
:class:`TestTimeAdapter` (one worker: tiles are adapted in order, the adaptation carries
over from tile to tile). :func:`adapt_to_files` writes the usual outputs of a
segmentation job plus ``<stem>_adapt_log.csv`` (one row per optimisation step).
"""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..io import Slide, open_image
from ..jobs import JobOptions, JobResult, segment_to_files
from ..progress import Reporter
from ..psm.instances import instances_from_outputs
from ..writers import atomic_path
from .adapter import LOG_FIELDS, AdaptConfig, TestTimeAdapter

#: default tile side of the adaptation stream (each window is one step's input)
ADAPT_TILE = 512


class AdaptedPSM:
    """PSM whose downstream network adapts to each tile before predicting it."""

    name = "psm-adapt"
    alignment = 8

    def __init__(self, config: Optional[AdaptConfig] = None, device: str = "auto",
                 seed: int = 0, **psm_params: Any):
        from ..methods.psm import PSMMethod

        self.psm = PSMMethod(device=device, seed=seed, **{"maps": False, **psm_params})
        if self.psm.seg_net is None:
            raise ValueError("adaptation needs the PSM downstream network (seg_weights)")
        self.adapter = TestTimeAdapter(self.psm.seg_net, config, self.psm.device)

    @property
    def halo(self) -> int:
        return self.psm.halo

    def configure_threads(self, workers: int) -> None:
        self.psm.configure_threads(workers)

    def fit(self, sample_rgb: np.ndarray) -> "AdaptedPSM":
        self.psm.fit(sample_rgb)
        return self

    def source_tile(self, rgb: np.ndarray) -> np.ndarray:
        """Labels of the source (unadapted) network for comparison."""
        import torch

        with torch.no_grad():
            net, self.psm.seg_net = self.psm.seg_net, self.adapter.source_model
            try:
                prob, dist = self.psm.network_outputs(rgb)
            finally:
                self.psm.seg_net = net
        return instances_from_outputs(prob, dist, self.psm.instance_params)

    def segment_tile(self, rgb: np.ndarray) -> np.ndarray:
        out = self.adapter.adapt_rgb(rgb)
        return instances_from_outputs(out[0], out[1], self.psm.instance_params)

    def describe(self) -> dict:
        info = self.psm.describe()
        info.update(name=self.name, adaptation=self.adapter.describe())
        return info


def write_adapt_log(path: Path | str, log: list[dict]) -> Path:
    """The per-step log as CSV (atomic)."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=LOG_FIELDS)
        writer.writeheader()
        for row in log:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v)
                             for k, v in row.items()})
    return Path(path)


def adapt_file(path: str | Path, outdir: str | Path, config: Optional[AdaptConfig] = None,
               options: Optional[JobOptions] = None,
               reporter: Optional[Reporter] = None) -> JobResult:
    """Open ``path`` lazily and run :func:`adapt_to_files`."""
    return adapt_to_files(open_image(path), outdir, config, options, reporter)


def adapt_to_files(slide: Slide, outdir: str | Path, config: Optional[AdaptConfig] = None,
                   options: Optional[JobOptions] = None, reporter: Optional[Reporter] = None,
                   method: Optional[AdaptedPSM] = None) -> JobResult:
    """Adapt-and-segment a slide tile by tile and write labels, points, GeoJSON, overlay,
    run JSON and ``<stem>_adapt_log.csv`` into ``outdir`` (all atomically).

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
