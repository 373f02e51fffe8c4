"""Adaptation as a recognition method.

:class:`AdaptedPSM` wraps the PSM method so the tiled pipeline streams tiles through a
:class:`TestTimeAdapter` (one worker: tiles are adapted in order, the adaptation carries
over from tile to tile).
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ..methods.base import MethodBase
from ..psm.instances import instances_from_outputs
from .adapter import AdaptConfig, TestTimeAdapter

#: default tile side of the adaptation stream (each window is one step's input)
ADAPT_TILE = 512


class AdaptedPSM(MethodBase):
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

    @property
    def max_area(self) -> int:
        return self.psm.max_area

    @property
    def working_mpp(self) -> float:
        return self.psm.working_mpp

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
