"""PSM: unsupervised nucleus recognition with prior self-activation maps.

Per tile: the self-activation map (shallow Grad-CAM of the self-supervised network,
weights fitted once per slide), the SCM pseudo-mask (K-means centres fitted once per
slide), and the downstream network trained on pseudo-labels, whose nucleus probability
and distance outputs give instances by a distance-transform watershed. Without downstream
weights the method falls back to splitting the pseudo-mask (variant ``scm``).

This module is the method the pipeline runs (parameters, fit, segment_tile, describe);
its building blocks and the training of its two networks live in :mod:`..psm`.

IHC (``stain="ihc"``): the networks see the H-DAB detection image rendered as a
hematoxylin image (:meth:`..ihc.detection.HdabDetector.pseudo_he`, the slide's stain
vectors fitted in ``fit``), so brown positive nuclei are found like blue ones, and every
record gets the per-cell DAB measurements (:mod:`..ihc.measurements`); the classes
(positive, 1+/2+/3+) are set after the run from them (:mod:`..ihc.scoring`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Optional

import numpy as np
import torch
from scipy import ndimage as ndi

from ..device import resolve_device
from ..ihc.detection import HdabDetector
from ..ihc.measurements import IhcMeasurer
from ..models.batching import MicroBatcher
from ..models.inference import RUNTIMES, NetworkRunner, cached_runner, cpu_count
from ..models.ssl_net import ActivationNet
from ..models.unet import CompactUNet, padded_input
from ..models.weights import load_model_cached, model_card
from ..morphology import (
    relabel_sequential,
    remove_large_labels,
    remove_small_labels,
    split_touching,
)
from ..psm.activation import SelfActivation
from ..psm.clustering import SemanticClustering
from ..psm.instances import SPLIT_RULES, InstanceParams, instances_from_outputs
from ..psm.objectness import Objectness, drop_unlike, object_features
from .base import MAX_NUCLEUS_AREA, MethodBase, TileOutput

SSL_WEIGHTS = "models/psm_ssl.pt"
SEG_WEIGHTS = "models/psm_unet.pt"
#: the downstream network of IHC runs (trained on IHC renders; docs/ihc.md), when bundled
SEG_WEIGHTS_IHC = "models/psm_unet_ihc.pt"
BUILDERS = {"activation-net": ActivationNet, "compact-unet": CompactUNet}


@dataclass
class PSMParams:
    """Parameters of the PSM method (defaults are a-priori choices)."""

    ssl_weights: Optional[str] = None  # None: the bundled network
    seg_weights: Optional[str] = None  # None: the bundled network; "" = SCM only
    device: str = "auto"
    maps: bool = True  # also return the activation map and pseudo-mask
    cluster_mode: str = "fixed"
    cluster_weight: float = 0.5
    k: int = 3
    threshold: float = 0.5
    split: str = "distance"  # touching nuclei: "distance" (mask EDT x centre-ness) | "cores"
    h: float = 2.0  # h-maxima height (px) of the "distance" split
    core: float = 0.45  # centre-ness threshold of the "cores" split
    min_area: int = 30
    # smallest nucleus, as a fraction of the slide's median nucleus area (fitted once per
    # slide); 0 keeps the fixed ``min_area`` only. Drops specks, keeps small-nucleus tissue
    min_area_fraction: float = 0.25
    # largest object kept (px at 0.25 um/px, a 30 um disc); 0 = no limit
    max_area: int = MAX_NUCLEUS_AREA
    # drop objects further than this many robust deviations from the slide's confident
    # nuclei (H&E: red blood cells, pigment, debris; IHC: faint texture on its pseudo-H&E;
    # psm/objectness.py); 0 = off
    objectness: float = 6.0
    scm_split: bool = True  # SCM-only variant: split touching nuclei (else components)
    stain: str = "he"  # "ihc": H-DAB detection image and per-cell DAB measurements
    cell_expansion_um: float = 5.0  # IHC: the cell measured around each nucleus (um)
    estimate_vectors: bool = True  # IHC: per-slide H-DAB vectors (else the fixed ones)
    # IHC: only DAB above its mean over squares this wide counts in detection (0: off); on
    # by default: the networks read a flat brown sheet as faint nuclei (classical flattens)
    dab_sheet_um: float = 16.0
    precision: str = "auto"  # downstream network: fp32 | fp16 | bf16 | auto (fp16 on CUDA)
    batch_tiles: int = 0  # tiles per network call across workers; 0: 4 on a GPU, else 1
    # downstream network engine: auto (ONNX Runtime for fp32 on the CPU when installed,
    # else torch) | torch | onnxruntime (engine/models/inference.py)
    runtime: str = "auto"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.split not in SPLIT_RULES:
            raise ValueError(f"split rule {self.split!r}: expected one of "
                             f"{', '.join(SPLIT_RULES)}")
        if self.stain not in ("he", "ihc"):
            raise ValueError(f"stain {self.stain!r}: expected 'he' or 'ihc'")
        if self.runtime not in RUNTIMES:
            raise ValueError(f"runtime {self.runtime!r}: expected one of {', '.join(RUNTIMES)}")
        for name in ("cell_expansion_um", "dab_sheet_um"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name}={getattr(self, name)}: expected a size >= 0")
        if not 0 <= self.min_area_fraction < 1:
            raise ValueError(f"min_area_fraction={self.min_area_fraction}: expected a "
                             "fraction in [0, 1)")
        if not self.objectness >= 0:
            raise ValueError(f"objectness={self.objectness}: expected a cut-off >= 0")

    def hdab_detector(self, mpp: float) -> HdabDetector:
        """The IHC detector these parameters give at ``mpp`` (unfitted): what IHC runs
        and the IHC training renders (``jobs/training_images.render_ihc``) both use."""
        return HdabDetector(mpp=mpp, sheet_um=self.dab_sheet_um,
                            estimate=self.estimate_vectors)


PRECISIONS = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}


def autocast_dtype(precision: str, device: torch.device) -> Optional[torch.dtype]:
    """Autocast dtype for ``precision`` on ``device`` (``None``: full float32).

    ``auto`` is fp16 on CUDA (measured against fp32 in docs/benchmarks.md) and fp32
    elsewhere; fp16 is refused on CPU, where bf16 is the half-precision type.
    """
    if precision == "auto":
        return torch.float16 if device.type == "cuda" else None
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: expected auto, fp32, fp16 or bf16")
    if precision == "fp16" and device.type == "cpu":
        raise ValueError("precision fp16 needs a GPU; use bf16 or fp32 on the CPU")
    return PRECISIONS[precision]


def _fingerprint(rgb: np.ndarray) -> tuple:
    """Cheap identity of an image array: shape and a hash of its bytes."""
    import hashlib

    return rgb.shape, hashlib.blake2b(np.ascontiguousarray(rgb).data, digest_size=16).digest()


def _weights_version(net: Optional[torch.nn.Module]) -> int:
    """Sum of the in-place modification counters of a network's tensors."""
    if net is None:
        return -1
    return sum(t._version for t in (*net.parameters(), *net.buffers()))


def default_seg_weights(stain: str) -> Optional[str]:
    """The bundled downstream network for ``stain``: the IHC one when shipped, else (and
    for H&E) the H&E one."""
    return (stain == "ihc" and _bundled(SEG_WEIGHTS_IHC)) or _bundled(SEG_WEIGHTS)


def _bundled(name: str) -> Optional[str]:
    from ..._resources import resource_path

    try:
        return str(resource_path(name))
    except FileNotFoundError:
        return None


class PSMMethod(MethodBase):
    """The PSM recognition method (see module docstring)."""

    name = "psm"
    alignment = 8  # tiles start on multiples of the networks' strides
    # working memory per window pixel, for tiling: the ONNX Runtime network ~340 B/px, one
    # window at a time (calls are serialised), + ~100 B/px post-processing per window in
    # flight (2 share the budget); docs/benchmarks.md, issue 27 (was 800: torch eager)
    bytes_per_pixel = 280
    map_names = ("activation", "pseudomask")

    def __init__(self, params: Optional[PSMParams] = None, **overrides: Any):
        known = {f.name for f in fields(PSMParams)}
        unknown = set(overrides) - known
        if unknown:
            raise ValueError(f"unknown PSM parameter(s): {', '.join(sorted(unknown))}")
        self.params = PSMParams(**{**asdict(params or PSMParams()), **overrides})
        p = self.params
        self.device = resolve_device(p.device)
        ssl_path = p.ssl_weights if p.ssl_weights is not None else _bundled(SSL_WEIGHTS)
        seg_path = p.seg_weights if p.seg_weights is not None else default_seg_weights(p.stain)
        self.cards: dict[str, dict] = {}
        self._ssl_path, self._activation = ssl_path, None
        if ssl_path:  # loaded when first needed (maps, fallback without seg_net)
            self.cards["ssl"] = model_card(ssl_path)
        self.seg_net = None
        if seg_path:
            net, self.cards["seg"] = load_model_cached(seg_path, BUILDERS)
            self.seg_net = net.to(self.device).eval()
        self._loaded = (self.seg_net, _weights_version(self.seg_net))  # for cached runners
        self.use_card_mpp(self.cards.values())  # the pixel size the networks learnt at
        if not ssl_path and (self.seg_net is None or p.maps):
            raise ValueError("PSM needs the self-supervised network: no ssl_weights found")
        self.clustering = SemanticClustering(k=p.k, mode=p.cluster_mode,
                                             weight=p.cluster_weight, seed=p.seed)
        self.instance_params = InstanceParams(threshold=p.threshold, split=p.split, h=p.h,
                                              core=p.core, min_area=p.min_area,
                                              max_area=p.max_area)
        self.floor_fitted = False
        self._sample_labels: Optional[tuple] = None  # (fingerprint, labels) of the fit sample
        # fitted per slide: what its confident nuclei look like
        self.objectness = Objectness(p.objectness)
        self.detector = self.measure_records = None
        if p.stain == "ihc":  # the pipeline calls measure_records on each tile's records
            mpp = self.working_mpp or 0.25
            self.detector = p.hdab_detector(mpp)
            self.measure_records = IhcMeasurer(None, p.cell_expansion_um, mpp)
        self.amp_dtype = autocast_dtype(p.precision, self.device)
        self._batcher: Optional[MicroBatcher] = None
        self._runner: Optional[tuple] = None  # (network, its weights version, runner)
        self._threads: Optional[int] = None  # network threads (configure_threads)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_batcher"] = None  # holds a lock; rebuilt where the object is used
        state["_runner"] = None  # an ONNX session; rebuilt where the object is used
        state["_threads"] = None  # the unpickling process has its own share of the CPUs
        state["_sample_labels"] = None  # only the process that fitted holds the sample
        return state

    @property
    def activation(self) -> Optional[SelfActivation]:
        """The self-activation maps (network loaded on first use; None without one)."""
        if self._activation is None and self._ssl_path:
            net, self.cards["ssl"] = load_model_cached(self._ssl_path, BUILDERS)
            self._activation = SelfActivation(net, self.device)
        return self._activation

    @property
    def runner(self) -> NetworkRunner:
        """The fast engine of the current ``seg_net`` (rebuilt when the network object is
        swapped or its weights change in place, e.g. by test-time adaptation)."""
        net = self.seg_net
        version = _weights_version(net)
        if self._runner is None or self._runner[0] is not net or self._runner[1] != version:
            # the loaded weights, unchanged: one runner per process for this file
            sha = self.cards.get("seg", {}).get("sha256") \
                if (net, version) == self._loaded else None
            runner = cached_runner(net, self.device, self.params.runtime, self.amp_dtype,
                                   threads=self._threads, weights_id=sha)
            self._runner = (net, version, runner)
        return self._runner[2]

    def _network(self, x: torch.Tensor) -> torch.Tensor:
        return self.runner(x)

    @property
    def batcher(self) -> MicroBatcher:
        """Batches network calls from concurrent pipeline workers (see ``batch_tiles``)."""
        if self._batcher is None:
            n = self.params.batch_tiles or (4 if self.device.type == "cuda" else 1)
            self._batcher = MicroBatcher(self._network, max_batch=n)
        return self._batcher

    @property
    def max_area(self) -> int:
        return self.params.max_area

    @property
    def variant(self) -> str:
        return "full" if self.seg_net is not None else "scm"

    @property
    def halo(self) -> int:
        """Receptive field of the networks plus the largest nucleus, rounded to 8; for IHC
        also the DAB opening and the grown cell's measurement reach."""
        if self.detector is None:
            return 128
        reach = max(self.detector.reach, self.measure_records.halo())
        return 128 + 8 * -(-reach // 8)

    def _input(self, rgb: np.ndarray) -> np.ndarray:
        """What the networks see: the RGB itself, or for IHC its detection image rendered
        as hematoxylin (vectors fitted on first use)."""
        if self.detector is None:
            return rgb
        if self.detector.vectors is None:
            self._fit_vectors(rgb)
        return self.detector.pseudo_he(rgb)

    def _fit_vectors(self, sample_rgb: np.ndarray) -> None:
        self.detector.fit(sample_rgb)
        self.measure_records.vectors = self.detector.vectors

    def configure_threads(self, workers: int) -> None:
        """Every network call on the CPU uses all cores: the runner serialises the calls
        of concurrent pipeline workers, which overlap post-processing with them."""
        if self.device.type == "cpu":
            self._threads = cpu_count()
            self._runner = None

    def fit(self, sample_rgb: np.ndarray) -> "PSMMethod":
        """Fit the Grad-CAM weights, the K-means centres and the smallest nucleus kept
        on a whole-slide sample (IHC: first the H-DAB vectors, then on its detection
        image)."""
        if self.detector is not None:
            self._fit_vectors(sample_rgb)
            sample_rgb = self.detector.pseudo_he(sample_rgb)
        if (self.params.maps or self.seg_net is None) and self.activation is not None:
            self.activation.fit(sample_rgb, seed=self.params.seed)
            self.clustering.fit(sample_rgb, self.activation.map_tile(sample_rgb))
        self._fit_floor(sample_rgb)
        return self

    def _fit_floor(self, sample_rgb: np.ndarray) -> None:
        """Smallest nucleus kept (``min_area_fraction`` of the sample's median nucleus)
        and the slide's confident nuclei (:mod:`..psm.objectness`), on the fit sample."""
        p = self.params
        self.floor_fitted = True
        fraction = p.min_area_fraction
        if self.seg_net is None or (fraction <= 0 and self.objectness.cutoff <= 0):
            return
        base = replace(self.instance_params, min_area=p.min_area)
        prob, dist = self.network_outputs(sample_rgb)
        labels = instances_from_outputs(prob, dist, base)
        areas = np.bincount(labels.ravel())[1:]
        areas = areas[areas > 0]
        floor = int(round(fraction * np.median(areas))) if areas.size and fraction > 0 else 0
        self.instance_params = replace(base, min_area=max(p.min_area, floor))
        # dropping pieces under the floor equals splitting with the floor (the split is
        # per component, and a component under it has no piece over it)
        labels = relabel_sequential(remove_small_labels(labels, self.instance_params.min_area))
        if self.objectness.cutoff > 0:
            features = object_features(sample_rgb, labels, prob, dist)
            labels = drop_unlike(labels, self.objectness.fit(features).keep(features))
        # a small image is its own sample: its tile reuses these instances
        self._sample_labels = (_fingerprint(sample_rgb), labels)

    def _instances(self, rgb: np.ndarray) -> np.ndarray:
        """Instances of a tile; the fitting sample's own are reused (same result)."""
        cached, self._sample_labels = self._sample_labels, None
        if cached is not None and cached[0] == _fingerprint(rgb):
            return cached[1]  # (already free of objects over max_area)
        prob, dist = self.network_outputs(rgb)
        labels = instances_from_outputs(prob, dist, self.instance_params)
        if self.objectness.cutoff > 0:
            features = object_features(rgb, labels, prob, dist)
            labels = drop_unlike(labels, self.objectness.keep(features))
        return labels

    def _fitted(self, rgb: np.ndarray, net_rgb: np.ndarray) -> None:
        needs = self.params.maps or self.seg_net is None
        if needs and (self.activation.fitted is None or self.clustering.fitted is None):
            self.fit(rgb)
            return
        if not self.floor_fitted:
            self._fit_floor(net_rgb)

    @torch.no_grad()
    def network_outputs(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nucleus probability and normalised distance maps (float32, H x W)."""
        h, w = rgb.shape[:2]
        x = padded_input(rgb, self.seg_net.multiple, self.device)
        out = self.batcher(x)[0, :, :h, :w].cpu().numpy()
        return out[0], out[1]

    def segment_tile(self, rgb: np.ndarray):
        """Labels (and maps when enabled) for one RGB tile."""
        net_rgb = self._input(rgb)
        self._fitted(rgb, net_rgb)
        rgb = net_rgb
        maps: dict[str, np.ndarray] = {}
        mask = None
        if self.params.maps or self.seg_net is None:
            act = self.activation.map_tile(rgb)
            mask = self.clustering.pseudo_mask(rgb, act)
            if self.params.maps:
                maps = {"activation": act, "pseudomask": mask.astype(np.uint8)}
        if self.seg_net is not None:
            labels = self._instances(rgb)
        elif self.params.scm_split:
            labels = split_touching(mask, min_area=self.params.min_area)
        else:
            labels = ndi.label(mask)[0].astype(np.int32)
        if self.seg_net is None:
            labels = remove_large_labels(labels, self.params.max_area)
        return TileOutput(labels, maps) if self.params.maps else labels

    def describe(self) -> dict:
        """Parameters, variant, fitted values and model hashes."""
        fitted = {}
        if self._activation is not None and self._activation.fitted is not None:
            fitted["activation"] = asdict(self._activation.fitted)
        if self.clustering.fitted is not None:
            fitted["clusters"] = asdict(self.clustering.fitted)
        if self.detector is not None:
            fitted["ihc"] = self.detector.describe()
        if self.seg_net is not None and self.floor_fitted:
            fitted["min_area"] = self.instance_params.min_area
            if self.objectness.cutoff > 0:
                fitted["objectness"] = self.objectness.describe()
        return {"name": self.name, "variant": self.variant, "params": asdict(self.params),
                "device": str(self.device), "halo": self.halo,
                "network_dtype": str(self.amp_dtype or torch.float32).replace("torch.", ""),
                "network_runtime": self.runner.describe() if self.seg_net is not None
                else None,
                "model_hash": {k: c.get("sha256", "")[:16] for k, c in self.cards.items()},
                "fitted": fitted}
