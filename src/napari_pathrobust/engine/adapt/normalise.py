"""Stain normalisation in every H&E recognition, kept only where it helps the network.

:class:`NormalisedPSM` wraps the PSM method; the registry builds it for ``psm`` on H&E
unless normalisation is turned off (``normalise=False``, ``pathrobust segment
--no-normalise``, the Recognise checkbox). Once per slide, in :meth:`~NormalisedPSM.fit`,
on the pipeline's fit sample (the whole image when small, else a seeded tissue mosaic):

1. **Fit.** Reinhard statistics of the sample's tissue pixels
   (:class:`.stain_norm.ReinhardNormaliser`, target: the training slides' colours).
2. **Gate.** Squares of ``tile`` px of the sample (seeded, mostly tissue;
   :func:`.slide.sample_boxes`; one per ``BOX_PIXELS`` of it: 1 for a 1000 x 1000
   image, 8 for a whole slide's 2048 x 2048 sample) go through the network as scanned
   and normalised, in one call; :func:`.gate.decide` (the adaptation gate's
   thresholds) keeps the normalised colours only when the network is clearly more
   confident on them (mean ``|2p - 1|`` up by ``min_gain``) and the nuclei's
   fraction, density and median size stay within ``max_ratio`` of the scanned ones'.
   Flip agreement, the adaptation gate's other signal, would cost two more passes per
   square and is off (``flip``). Choice and cost: docs/adaptation.md.
3. **Segment.** The PSM method is fitted on the chosen sample; every tile is then
   normalised (when kept) by the same per-pixel colour map, so tiles agree with the
   whole image, and nothing depends on the tile size or the workers.

The decision, its reason and the signals go into ``describe()["normalisation"]``
(``_run.json``, layer metadata); :func:`normalisation_note` words it for the CLI line.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

import numpy as np
import torch
from scipy import ndimage as ndi

from ..methods.base import MethodBase
from ..models.inference import cached_runner
from ..models.unet import padded_input
from ..morphology import fill_enclosed_holes, remove_small_objects
from ..tiled.sampling import tissue_fraction
from .gate import Decision, GateThresholds, decide
from .slide import AdaptedNetworkMethod, sample_boxes
from .stain_norm import ReinhardNormaliser, lab_statistics

#: the decision in plain words, by what decided it (``Decision.outcome``)
OUTCOMES = {
    "confident": "stain normalised: the network is clearly more confident on this slide",
    "agrees": "stain normalised: the network agrees better with itself on this slide",
    "no_gain": "colours as scanned: normalising gave no clear gain on this slide",
    "less_consistent": "colours as scanned: the network was less consistent normalised",
    "implausible": "colours as scanned: normalising changed the nuclei's size or number "
                   "too much",
}


#: fit-sample pixels per gate square (``NormaliseConfig.n_boxes``)
BOX_PIXELS = 2**19
#: colour statistics are measured on at most this many sample pixels (a fixed stride)
STATS_PIXELS = 2**17


@dataclass
class NormaliseConfig:
    """How the normalisation is fitted and gated (recorded with the decision)."""

    boxes: int = 1  # gate squares drawn from the fit sample: at least this many, ...
    max_boxes: int = 8  # ... one per BOX_PIXELS of it, at most this many
    tile: int = 256  # their side (px)
    flip: bool = False  # also measure flip agreement (two more passes per box)
    thresholds: GateThresholds = field(default_factory=GateThresholds)
    seed: int = 0

    def __post_init__(self):
        if isinstance(self.thresholds, dict):
            self.thresholds = GateThresholds(**self.thresholds)
        if not 1 <= self.boxes <= self.max_boxes or self.tile < 16:
            raise ValueError("normalisation gate: 1 <= boxes <= max_boxes and tile >= 16 "
                             "px needed")

    def n_boxes(self, pixels: int) -> int:
        """Gate squares for a fit sample of ``pixels`` px (a 1000 x 1000 tile: 1; a
        whole slide's 2048 x 2048 sample: 8)."""
        return min(self.max_boxes, max(self.boxes, pixels // BOX_PIXELS))


def normalise_image(normaliser: ReinhardNormaliser, rgb: np.ndarray) -> np.ndarray:
    """``normaliser(rgb)``, computed once per distinct colour (the map is a fixed
    function of each pixel's colour, so the result is identical, about 3x faster)."""
    rgb = np.ascontiguousarray(np.asarray(rgb)[..., :3])
    if rgb.size < 3 * 2**18:  # small: per pixel (the table costs ~20 ms to set up)
        return normaliser(rgb)
    px = rgb.reshape(-1, 3)
    key = (px[:, 0].astype(np.int32) << 16) | (px[:, 1].astype(np.int32) << 8) | px[:, 2]
    present = np.zeros(1 << 24, bool)
    present[key] = True
    colours = np.flatnonzero(present).astype(np.int32)
    index = np.empty(1 << 24, np.int32)
    index[colours] = np.arange(colours.size, dtype=np.int32)
    table = np.stack([colours >> 16, (colours >> 8) & 255, colours & 255], -1).astype(np.uint8)
    return normaliser(table[None])[0][index[key]].reshape(rgb.shape)


def fit_normaliser(sample: np.ndarray) -> ReinhardNormaliser:
    """Reinhard statistics of ``sample``'s tissue, on a fixed stride of its pixels."""
    px = np.asarray(sample)[..., :3].reshape(-1, 3)
    px = px[::max(1, px.shape[0] // STATS_PIXELS)]  # cheap and draws nothing
    return ReinhardNormaliser(source=lab_statistics(px, max_pixels=px.shape[0]))


def box_signals(outputs: list, objects, flips: Optional[list] = None) -> dict:
    """The gate's signals over boxes: ``outputs`` [(prob, dist)], ``objects(prob,
    dist)`` -> labelled nuclei (for density and size), ``flips`` the probability maps
    of the mirrored boxes mapped back (None: no flip agreement)."""
    conf, frac, sizes, pixels = [], [], [], 0
    for prob, dist in outputs:
        conf.append(float(np.abs(2.0 * prob - 1.0).mean()))
        frac.append(float((prob > 0.5).mean()))
        areas = np.bincount(objects(prob, dist).ravel())[1:]
        sizes.append(areas[areas > 0])
        pixels += prob.size
    sizes = np.concatenate(sizes) if sizes else np.zeros(0)
    out = {"confidence": float(np.mean(conf)) if conf else 0.0,
           "fraction": float(np.mean(frac)) if frac else 0.0,
           "count_per_mpx": sizes.size / max(pixels, 1) * 1e6,
           "median_area": float(np.median(sizes)) if sizes.size else 0.0}
    if flips is not None:
        inter = sum(float(((p > 0.5) & (q > 0.5)).sum()) for (p, _), q in zip(outputs, flips))
        total = sum(float((p > 0.5).sum() + (q > 0.5).sum()) for (p, _), q in zip(outputs, flips))
        out["flip_agreement"] = 2 * inter / total if total else 1.0
    return out


def _fingerprint(rgb: np.ndarray) -> tuple:
    rgb = np.ascontiguousarray(rgb)
    return rgb.shape, hashlib.blake2b(rgb.data, digest_size=16).digest()


class NormalisedPSM(MethodBase):
    """PSM recognising each slide's colours normalised when the gate keeps it (see the
    module docstring). Attributes it does not define are the wrapped method's."""

    def __init__(self, psm, config: Optional[NormaliseConfig] = None):
        self.psm = psm
        self.config = config or NormaliseConfig(seed=psm.params.seed)
        self.normaliser: Optional[ReinhardNormaliser] = None
        self.decision: Optional[Decision] = None
        self.seconds = 0.0
        self._sample: Optional[tuple] = None  # (fingerprint, normalised fit sample)
        self.name = psm.name
        self.alignment = psm.alignment
        self.map_names = psm.map_names if psm.params.maps else ()
        self.working_mpp = psm.working_mpp
        self.bytes_per_pixel = psm.bytes_per_pixel
        self.max_area = psm.max_area

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or "psm" not in self.__dict__:
            raise AttributeError(name)
        return getattr(self.__dict__["psm"], name)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_sample"] = None  # only the process that fitted holds the sample
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    @property
    def halo(self) -> int:
        return self.psm.halo

    @property
    def kept(self) -> bool:
        """Whether the slide is recognised with normalised colours."""
        return self.decision is not None and self.decision.keep

    def configure_threads(self, workers: int) -> None:
        self.psm.configure_threads(workers)

    def _outputs(self, views: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """(probability, distance) of equal-sized ``views``, in one batched network call,
        always in float32: a decision on a threshold must not follow the precision."""
        psm = self.psm
        runner = psm.runner
        if psm.amp_dtype is not None:  # fp16 / bf16 runs: the gate still reads fp32
            sha = psm.cards.get("seg", {}).get("sha256")
            runner = cached_runner(psm.seg_net, psm.device, psm.params.runtime, None,
                                   threads=psm._threads, weights_id=sha)
        x = torch.cat([padded_input(v, psm.seg_net.multiple, psm.device) for v in views])
        with torch.no_grad():
            out = runner(x).float().cpu().numpy()
        h, w = views[0].shape[:2]
        return [(o[0, :h, :w], o[1, :h, :w]) for o in out]

    def _gate(self, sample: np.ndarray) -> Decision:
        cfg = self.config
        n = cfg.n_boxes(sample.shape[0] * sample.shape[1])
        boxes = sample_boxes(sample.shape, cfg.tile, n, cfg.seed, keep=lambda b:
                             tissue_fraction(sample[b[0]:b[2]:4, b[1]:b[3]:4]) > 0.5)
        tiles = [np.ascontiguousarray(sample[y0:y1, x0:x1, :3]) for y0, x0, y1, x1 in boxes]
        params = self.psm.instance_params

        def objects(prob, _dist):  # nuclei as mask components: enough for x3 ratios
            mask = fill_enclosed_holes(prob > params.threshold, params.max_hole)
            return ndi.label(remove_small_objects(mask, self.psm.params.min_area))[0]

        n, side = len(tiles), tiles[0].shape[1]
        joined = normalise_image(self.normaliser, np.concatenate(tiles, axis=1))
        views = tiles + [joined[:, i * side:(i + 1) * side] for i in range(n)]
        if cfg.flip:
            views += [np.ascontiguousarray(v[:, ::-1]) for v in views]
        outs = self._outputs(views)  # one network call for everything the gate reads

        def signals(part):  # 0: as scanned, 1: normalised
            flips = None if not cfg.flip else \
                [p[:, ::-1] for p, _ in outs[2 * n + part * n:2 * n + (part + 1) * n]]
            return box_signals(outs[part * n:(part + 1) * n], objects, flips)

        return decide(signals(0), signals(1), cfg.thresholds)

    def fit(self, sample_rgb: np.ndarray) -> "NormalisedPSM":
        """Fit the colour statistics, decide, then fit PSM on the chosen sample."""
        start = time.perf_counter()
        sample = np.ascontiguousarray(np.asarray(sample_rgb)[..., :3])
        self.normaliser = fit_normaliser(sample)
        self.decision = self._gate(sample)
        self._sample = None
        if self.kept:
            chosen = normalise_image(self.normaliser, sample)
            self._sample = (_fingerprint(sample), chosen)
            sample = chosen
        self.seconds = time.perf_counter() - start
        self.psm.fit(sample)
        return self

    def _colours(self, rgb: np.ndarray) -> np.ndarray:
        if not self.kept:
            return rgb
        cached, self._sample = self._sample, None
        rgb = np.ascontiguousarray(np.asarray(rgb)[..., :3])
        if cached is not None and cached[0] == _fingerprint(rgb):
            return cached[1]  # the fit sample is this tile: normalised once
        return normalise_image(self.normaliser, rgb)

    def segment_tile(self, rgb: np.ndarray):
        if self.decision is None:  # not fitted by the pipeline (fit=False): on the tile
            self.fit(rgb)
        return self.psm.segment_tile(self._colours(rgb))

    def record(self) -> dict:
        """The normalisation as recorded in ``_run.json`` and layer metadata."""
        d = self.decision
        info: dict[str, Any] = {"enabled": True, "applies": True, "kind": "reinhard-lab",
                                "config": asdict(self.config)}
        if d is None:
            return {**info, "decision": "not fitted", "kept": False}
        return {**info, "decision": "normalised" if d.keep else "as scanned", "kept": d.keep,
                "reason": d.reason, "message": OUTCOMES.get(d.outcome, d.reason),
                "signals": {"scanned": d.source, "normalised": d.adapted},
                "normaliser": self.normaliser.describe() if self.normaliser else None}

    def describe(self) -> dict[str, Any]:
        info = self.psm.describe()
        info["normalisation"] = self.record()
        return info


def normalisation_record(method: Any, requested: bool = True) -> dict:
    """What a run did about stain normalisation: the gate's record for a
    :class:`NormalisedPSM`, else why it was off (``requested``: the user's switch;
    ``applies``: whether the method would normalise with it on)."""
    if isinstance(method, NormalisedPSM):
        return method.record()
    stain = str(getattr(getattr(method, "params", None), "stain", "he"))
    name = str(getattr(method, "name", "this method"))
    applies = name == "psm" and stain == "he"
    if isinstance(method, AdaptedNetworkMethod):
        reason = "an adapted network: its own colour handling (see adaptation)"
    elif applies and getattr(method, "seg_net", True) is None:
        reason = "needs the downstream network (not the pseudo-mask alone)"
    elif applies:
        reason = "turned off" if not requested else "not fitted"
    elif stain != "he":
        reason = "H&E only"
    else:
        reason = f"psm only ({name} recognises the colours as scanned)"
    return {"enabled": False, "applies": applies, "decision": "off", "kept": False,
            "reason": reason, "message": f"colours as scanned: normalisation {reason}"}


def normalisation_note(metadata: dict) -> str:
    """``stain normalised: more consistent (confidence +0.052)``, ``colours as scanned:
    no clear gain (confidence +0.004)`` or ``colours as scanned: turned off`` for a
    run's one-line summary, from its metadata (``normalisation``); '' for runs it does
    not apply to (classical, IHC)."""
    rec = metadata.get("normalisation") or \
        (metadata.get("parameters") or {}).get("normalisation")
    if not rec or not rec.get("applies", rec.get("enabled")):
        return ""
    head = "stain normalised" if rec.get("kept") else "colours as scanned"
    reason = str(rec.get("reason", ""))
    return f"{head}: {reason}" if reason else head
