"""Adapt the PSM network to one slide, check it, then segment the slide once.

:func:`adapt_to_slide` reads sample tiles of the slide (a seeded grid sample), adapts a
copy of the network (and/or the input colours) on them with the chosen method, and
lets the gate (:mod:`.gate`) decide on label-free signals whether the adapted network
is kept or the slide gets the source network. :class:`AdaptedNetworkMethod` is the
pipeline method that segments the whole slide with the outcome.

Methods: ``stain`` (the default: Reinhard normalisation of the slide's colours to the
training slides'), ``bn`` (BatchNorm statistics re-estimated on the slide),
``stain+bn`` (both), ``tent`` (BN re-estimation,
then entropy minimisation of the BN affine parameters), ``ocl`` (the output
contrastive loss on every weight, landed settings) and ``none``.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

import numpy as np
import torch

from ..methods.base import MethodBase
from ..models.unet import padded_input
from ..progress import Reporter
from ..tiled.sampling import tissue_fraction
from .bn_stats import reestimate_bn
from .gate import Decision, GateThresholds, decide, gate_signals, outcome_message
from .objectives import optimise
from .stain_norm import ReinhardNormaliser

SLIDE_METHODS = ("stain", "bn", "stain+bn", "tent", "ocl", "none")
#: chosen on the protocol's tune split (docs/adaptation.md)
DEFAULT_SLIDE_METHOD = "stain"


@dataclass
class SlideAdaptConfig:
    """How to adapt to a slide (recorded in outputs and model cards)."""

    method: str = DEFAULT_SLIDE_METHOD
    bn_weight: float = 1.0  # share of the slide's BatchNorm statistics (rest: source)
    epochs: int = 1  # passes over the sample tiles (tent, ocl)
    lr: Optional[float] = None  # tent / ocl learning rate (None: objectives.OBJECTIVE_LR)
    tile: int = 256  # sample tile side (px)
    max_tiles: int = 8
    hold_back: int = 4  # every n-th sample tile is held back from adaptation (gate only)
    gate: bool = True
    thresholds: GateThresholds = field(default_factory=GateThresholds)
    seed: int = 0

    def __post_init__(self):
        if self.method not in SLIDE_METHODS:
            raise ValueError(f"unknown adaptation method {self.method!r}; choose from "
                             f"{', '.join(SLIDE_METHODS)}")
        if not 0.0 <= self.bn_weight <= 1.0:
            raise ValueError("bn_weight must lie in [0, 1]")
        if isinstance(self.thresholds, dict):
            self.thresholds = GateThresholds(**self.thresholds)


def sample_boxes(shape, tile: int, max_tiles: int, seed: int = 0, multiple: int = 8,
                 keep=None) -> list[tuple[int, int, int, int]]:
    """Grid of ``tile`` boxes (y0, x0, y1, x1) covering ``shape``; a seeded choice of
    ``max_tiles`` of them when there are more. Sides are multiples of ``multiple``.
    ``keep(box) -> bool`` (e.g. "mostly tissue") limits the choice to the boxes it
    accepts, when it accepts any."""
    h, w = int(shape[0]), int(shape[1])
    th = max(multiple, min(tile, h) // multiple * multiple)
    tw = max(multiple, min(tile, w) // multiple * multiple)
    ys = np.unique(np.linspace(0, max(h - th, 0), max(1, -(-h // th))).astype(int))
    xs = np.unique(np.linspace(0, max(w - tw, 0), max(1, -(-w // tw))).astype(int))
    boxes = [(int(y), int(x), int(y) + th, int(x) + tw) for y in ys for x in xs]
    if keep is not None:
        boxes = [b for b in boxes if keep(b)] or boxes
    if len(boxes) > max_tiles:
        pick = np.random.default_rng(seed).choice(len(boxes), max_tiles, replace=False)
        boxes = [boxes[i] for i in sorted(pick)]
    return boxes


@dataclass
class SlideAdaptation:
    """Outcome: the network to segment with, the colour normaliser, the gate's decision."""

    method: str
    kept: bool
    reason: str
    net: Any  # the adapted network (kept or not); ``segment_net`` is what segments
    source_net: Any
    normaliser: Optional[ReinhardNormaliser]
    decision: Optional[Decision]
    config: SlideAdaptConfig
    seconds: float
    losses: list = field(default_factory=list)
    source_hash: str = ""  # SHA-256 of the source network's weight file

    @property
    def segment_net(self):
        return self.net if self.kept else self.source_net

    @property
    def status(self) -> str:
        return "adapted" if self.kept else "kept source"

    def summary(self) -> str:
        """One line: what was done and why."""
        return f"{self.status} ({self.method}): {self.reason}"

    @property
    def message(self) -> str:
        """What was done, in plain words (:func:`.gate.outcome_message`)."""
        return outcome_message(self.kept, self.decision)

    def describe(self) -> dict:
        cfg = asdict(self.config)
        return {"method": self.method, "decision": self.status, "kept_adapted": self.kept,
                "reason": self.reason, "message": self.message, "config": cfg,
                "seconds": round(self.seconds, 3),
                "signals": None if self.decision is None else
                {"source": self.decision.source, "adapted": self.decision.adapted},
                "normaliser": None if self.normaliser is None or not self.kept
                else self.normaliser.describe(), "steps": len(self.losses),
                "source_model_hash": self.source_hash}


def _inputs(tiles: list[np.ndarray], net, device) -> list[torch.Tensor]:
    return [padded_input(t, net.multiple, device) for t in tiles]


def adapt_to_slide(image, psm, config: Optional[SlideAdaptConfig] = None,
                   reporter: Optional[Reporter] = None,
                   source_signals: Optional[dict] = None) -> SlideAdaptation:
    """Adapt ``psm``'s network (a :class:`..methods.psm.PSMMethod`) to ``image``
    (H x W x 3 array-like, read by sample tile) and gate the result.

    ``source_signals``: the source network's gate signals on this image from an earlier
    call with the same sampling (they do not depend on the method)."""
    from ..psm.instances import instances_from_outputs

    config = config or SlideAdaptConfig()
    reporter = reporter or Reporter()
    start = time.perf_counter()
    torch.manual_seed(config.seed)
    source = psm.seg_net
    if source is None:
        raise ValueError("adaptation needs the PSM downstream network (seg_weights)")
    device = next(source.parameters()).device
    boxes = sample_boxes(image.shape, config.tile, config.max_tiles, config.seed,
                         keep=lambda b: tissue_fraction(np.asarray(
                             image[b[0]:b[2], b[1]:b[3]])) > 0.5)  # not glass
    tiles = [np.ascontiguousarray(np.asarray(image[y0:y1, x0:x1])[..., :3])
             for y0, x0, y1, x1 in boxes]
    n = len(tiles)
    held = [i for i in range(n) if config.hold_back and n > 1 and i % config.hold_back ==
            config.hold_back - 1]
    used = [i for i in range(n) if i not in held]
    method = config.method
    sha = str(psm.cards.get("seg", {}).get("sha256", ""))
    if method == "none":
        return SlideAdaptation(method, False, "adaptation off (method none)", source, source,
                               None, None, config, time.perf_counter() - start, [], sha)

    def inst(prob, dist):
        return instances_from_outputs(prob, dist, psm.instance_params)

    reporter.report(0, 3, "source signals")
    source.eval()
    src_signals = source_signals
    if config.gate and src_signals is None:
        src_signals = gate_signals(source, _inputs(tiles, source, device), held, inst)
    reporter.check()
    normaliser = None
    if "stain" in method:
        normaliser = ReinhardNormaliser().fit(np.concatenate([t.reshape(-1, 3) for t in tiles]),
                                              seed=config.seed)
        tiles = [normaliser(t) for t in tiles]
    net = copy.deepcopy(source).eval()
    x = _inputs(tiles, net, device)
    train = [x[i] for i in used]
    losses: list[float] = []
    reporter.report(1, 3, f"adapting ({method})")
    if method in ("bn", "stain+bn", "tent"):
        reestimate_bn(net, train, config.bn_weight)
    if method in ("tent", "ocl"):
        losses = optimise(net, train, method, config.epochs, config.lr, config.seed)
    net.eval().requires_grad_(False)
    reporter.check()
    reporter.report(2, 3, "checking")
    if config.gate:
        decision = decide(src_signals, gate_signals(net, x, held, inst), config.thresholds)
        kept, reason = decision.keep, decision.reason
    else:
        decision, kept, reason = None, True, "gate off"
    reporter.report(3, 3, "adapted" if kept else "kept source")
    return SlideAdaptation(method, kept, reason, net, source, normaliser, decision, config,
                           time.perf_counter() - start, losses, sha)


class AdaptedNetworkMethod(MethodBase):
    """PSM segmenting with a :class:`SlideAdaptation`'s outcome (its network, and its
    colour normaliser when the adapted network was kept), or with a saved adapted
    network and a normaliser refitted on each slide (``refit_colours``).
    Takes ``psm`` over (its network is swapped, its fitted state is this method's)."""

    name = "psm-adapted"
    alignment = 8

    def __init__(self, psm, adaptation: Optional[SlideAdaptation] = None,
                 normaliser: Optional[ReinhardNormaliser] = None, refit_colours: bool = False,
                 name: Optional[str] = None):
        self.psm = psm
        self.adaptation = adaptation
        self.normaliser = normaliser
        self.refit_colours = refit_colours
        if adaptation is not None:
            psm.seg_net = adaptation.segment_net
            psm._runner = psm._batcher = None
            self.normaliser = adaptation.normaliser if adaptation.kept else None
        self.name = name or self.name
        self.map_names = psm.map_names if psm.params.maps else ()
        self.working_mpp = psm.working_mpp
        self.bytes_per_pixel = psm.bytes_per_pixel
        self.max_area = psm.max_area

    @property
    def halo(self) -> int:
        return self.psm.halo

    def configure_threads(self, workers: int) -> None:
        self.psm.configure_threads(workers)

    def _colours(self, rgb: np.ndarray) -> np.ndarray:
        return rgb if self.normaliser is None else self.normaliser(rgb)

    def fit(self, sample_rgb: np.ndarray) -> "AdaptedNetworkMethod":
        if self.refit_colours and self.normaliser is not None:
            self.normaliser.fit(sample_rgb)
        self.psm.fit(self._colours(sample_rgb))
        return self

    def segment_tile(self, rgb: np.ndarray):
        return self.psm.segment_tile(self._colours(rgb))

    def describe(self) -> dict[str, Any]:
        info = self.psm.describe()
        info["name"] = self.name
        if self.adaptation is not None:
            info["adaptation"] = self.adaptation.describe()
        elif self.normaliser is not None:
            info["normaliser"] = self.normaliser.describe()
        return info
