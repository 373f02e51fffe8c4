"""Fine-tuning the downstream nucleus network on reviewed cells ("Improve network").

A review gives per cell a status (``accepted``, ``rejected``, ``unreviewed``) and, for
cells the reviewer painted, a corrected mask. The targets of one reviewed image
(:func:`review_targets`):

* accepted and painted cells: nucleus with their masks (weight 1), distance target per
  cell; a ring of ``ring`` px of background around them (weight 1);
* rejected cells: background (weight 1);
* unreviewed cells: nucleus pseudo-labels, the rest of the image background
  pseudo-labels, both down-weighted (``pseudo_weight``);
* held-back reviewed cells (``holdout``, seeded) and a margin around them: ignored.

A copy of the network is trained from its current weights (BatchNorm statistics
frozen: the batches are small; by default only the decoder, ``layers``, the encoder
kept as it is, which costs other slides less) with ``erm`` (weighted cross-entropy +
distance MSE) or ``dar``: DAR (:mod:`..training.dar`) whose clean probe is the reviewed pixels
themselves; a unit whose gradient on all targets points against the gradient of the
reviewed pixels alone takes the reviewed direction. The never-worse check scores the
network before and after on the held-back cells (accepted / painted: IoU of the best
predicted instance; rejected: 1 - that IoU); the fine-tuned network is kept only when
its score is not lower.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field
from typing import Optional, Sequence

import numpy as np
import torch
from scipy import ndimage as ndi

# a cell whose mask the reviewer painted: a truthy PAINTED column (or that status)
from ..cell_classes import ACCEPTED, PAINTED, REJECTED
from ..errors import InputError
from ..progress import Reporter
from ..training.dar import balanced_loss
from ..training.losses import IGNORE_INDEX
from .instances import InstanceParams, instances_from_outputs
from .pseudolabels import IGNORE, Targets, normalised_distance
from .seg_strategies import N_CLASSES, DenseDAR, SegStrategy, class_targets
from .segtrain import CropPool
from .selftrain import predict_maps
from .step_runner import StepRunner

FINETUNE_METHODS = ("erm", "dar")
FINETUNE_LAYERS = ("decoder", "all")


@dataclass
class FinetuneConfig:
    """Fine-tuning settings (a-priori values; recorded in the model card)."""

    method: str = "erm"  # better than dar on MoNuSeg train-13 kidney (docs/benchmarks.md)
    steps: int = 150
    batch: int = 4
    crop: int = 192
    lr: float = 1e-3
    weight_decay: float = 1e-4
    dist_weight: float = 1.0
    pseudo_weight: float = 0.2
    #: what is trained: "decoder" (the expanding path and output layer; the encoder
    #: keeps what it learnt, so other slides lose less) or "all"
    layers: str = "decoder"
    ring: int = 3
    holdout: float = 0.2
    windows_per_image: int = 64
    stain_jitter: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in FINETUNE_METHODS:
            raise ValueError(f"method {self.method!r}: expected one of "
                             f"{', '.join(FINETUNE_METHODS)}")
        if self.steps < 1 or self.batch < 1 or self.crop < 16:
            raise ValueError("steps and batch must be >= 1 and crop >= 16")
        if self.layers not in FINETUNE_LAYERS:
            raise ValueError(f"layers {self.layers!r}: expected one of "
                             f"{', '.join(FINETUNE_LAYERS)}")
        if not 0 <= self.pseudo_weight <= 1 or not 0 <= self.holdout < 1:
            raise ValueError("pseudo_weight must be in [0, 1] and holdout in [0, 1)")


@dataclass
class ReviewedImage:
    """One reviewed image: RGB, its labels and each reviewed label's status."""

    name: str
    rgb: np.ndarray
    labels: np.ndarray
    accepted: set = field(default_factory=set)   # accepted, not painted
    rejected: set = field(default_factory=set)
    painted: set = field(default_factory=set)    # accepted with a painted mask
    stain: str = "he"  # the run's stain; an IHC image is held as psm's pseudo-H&E

    @property
    def reviewed(self) -> list[int]:
        return sorted(self.accepted | self.rejected | self.painted)

    def counts(self) -> dict:
        present = set(np.unique(self.labels).tolist()) - {0}
        return {"accepted": len(self.accepted), "rejected": len(self.rejected),
                "painted": len(self.painted),
                "unreviewed": len(present - set(self.reviewed))}


def reviewed_image(name: str, rgb: np.ndarray, labels: np.ndarray, table,
                   stain: str = "he") -> ReviewedImage:
    """A :class:`ReviewedImage` from labels and a cells table (``label``, ``status`` and
    optionally ``painted``); ids missing from the labels are skipped. ``stain``: the
    run's (``rgb`` is then already as the network sees it, see jobs.finetune)."""
    rgb = np.asarray(rgb)[..., :3]
    labels = np.asarray(labels)
    if rgb.shape[:2] != labels.shape[:2]:
        raise InputError(name, f"labels {labels.shape[:2]} do not match the image "
                               f"{rgb.shape[:2]}")
    if "label" not in table or "status" not in table:
        raise InputError(name, "the cells table has no label and status columns")
    present = set(np.unique(labels).tolist()) - {0}
    painted_col = table[PAINTED] if PAINTED in table else [False] * len(table["label"])
    out = ReviewedImage(name, np.ascontiguousarray(rgb, dtype=np.uint8),
                        labels.astype(np.int32, copy=False), stain=stain)
    for label, status, painted in zip(table["label"], table["status"], painted_col):
        label, status = int(label), str(status).strip().lower()
        if label not in present:
            continue
        if status == PAINTED or (status == ACCEPTED and _truthy(painted)):
            out.painted.add(label)
        elif status == ACCEPTED:
            out.accepted.add(label)
        elif status == REJECTED:
            out.rejected.add(label)
    return out


def _truthy(value) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "1.0")


def split_holdout(images: Sequence[ReviewedImage], fraction: float, seed: int
                  ) -> list[set]:
    """Per image, the reviewed cells held back for the never-worse check (seeded; at
    least one over all images when there are two reviewed cells or more)."""
    cells = [(i, c) for i, im in enumerate(images) for c in im.reviewed]
    n = int(round(fraction * len(cells)))
    if fraction > 0 and len(cells) >= 2:
        n = min(max(n, 1), len(cells) - 1)
    pick = np.random.default_rng(seed).permutation(len(cells))[:n]
    held: list[set] = [set() for _ in images]
    for k in pick:
        held[cells[k][0]].add(cells[k][1])
    return held


def review_targets(image: ReviewedImage, held: set, config: FinetuneConfig
                   ) -> tuple[Targets, np.ndarray]:
    """Targets (fg in {0, 1, 255}, distance) and per-pixel weights of one image."""
    labels = image.labels
    n = int(labels.max()) + 1
    kind = np.zeros(n, np.uint8)  # 0 unreviewed, 1 positive, 2 rejected, 3 held back
    kind[list(image.accepted | image.painted)] = 1
    kind[list(image.rejected)] = 2
    kind[list(held)] = 3
    k = kind[labels]
    cell = labels > 0
    fg = np.where(cell & (k <= 1), 1, 0).astype(np.uint8)
    weight = np.full(labels.shape, config.pseudo_weight, np.float32)
    positive = k == 1
    if config.ring and positive.any():
        near = ndi.distance_transform_edt(~positive) <= config.ring
        weight[near & ~cell] = 1.0
    weight[positive | (k == 2)] = 1.0
    if held:
        margin = ndi.binary_dilation(k == 3, iterations=config.ring + 2)
        fg[margin] = IGNORE
        weight[margin] = 0.0
    trained = np.where(cell & (k <= 1), labels, 0)
    points = np.zeros((0, 2))
    targets = Targets(fg, normalised_distance(trained), points,
                      int((kind == 1).sum()), int((kind == 0).sum()))
    return targets, weight


class WeightedPool(CropPool):
    """Crop windows over the images with their targets and per-pixel weights."""

    def __init__(self, images, targets, weights, crop, per_image, rng, jitter=0.0):
        super().__init__(images, targets, crop, per_image, rng, jitter)
        self.weights = weights

    def weighted_batch(self, idx, rng, gen, device):
        """:meth:`batch` plus the weights of the same (rotated / flipped) crops."""
        state = copy.deepcopy(rng.bit_generator.state)
        x, fg, dist = self.batch(idx, rng, gen, device)
        replay = np.random.default_rng()
        replay.bit_generator.state = state  # the same rotations and flips
        crop = self.crop
        ws = np.empty((len(idx), crop, crop), np.float32)
        for i, w in enumerate(idx):
            j, y, x0 = self.windows[w]
            part = np.rot90(self.weights[j][y:y + crop, x0:x0 + crop], int(replay.integers(4)))
            ws[i] = part[:, ::-1] if bool(replay.integers(2)) else part
        return x, fg, dist, torch.from_numpy(ws).to(device)


class ReviewedDAR(DenseDAR):
    """DAR whose probe is the reviewed pixels (weight 1) of windows holding some."""

    def setup(self, net, pool, device, steps, seed) -> None:
        super().setup(net, pool, device, steps, seed)
        self.warmup_steps = 0
        windows = [i for i, (j, y, x) in enumerate(pool.windows)
                   if (pool.weights[j][y:y + pool.crop, x:x + pool.crop] >= 1).any()]
        self.items = np.asarray(windows or range(len(pool)), np.int64)
        self.probe = (self.items, np.ones(len(self.items), np.int64))
        self.aux = copy.deepcopy(net)

    def reference_gradients(self, net):
        self.aux.load_state_dict(net.state_dict())
        self.aux.train()
        pick = self.rng.choice(self.items, size=min(self.probe_batch, len(self.items)),
                               replace=False)
        x, fg, dist, w = self.pool.weighted_batch(pick, self.rng, self.gen, self.device)
        y = class_targets(fg)
        y = torch.where(w >= 1, y, torch.full_like(y, IGNORE_INDEX))
        cls, mse = self.pixel_loss(self.aux(x), y, dist)
        valid = (y != IGNORE_INDEX).sum().clamp_min(1)
        loss = balanced_loss(cls, y, N_CLASSES) + self.dist_weight * mse.sum() / valid
        params = list(self.aux.parameters())
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]


@dataclass
class FinetuneResult:
    """The network to use (fine-tuned when kept, else the source) and what happened."""

    net: torch.nn.Module
    kept: bool
    decision: str
    reason: str
    counts: dict
    check: dict
    log: dict
    config: FinetuneConfig
    trained: Optional[torch.nn.Module] = None  # the fine-tuned network, kept or not

    def summary(self) -> dict:
        """JSON-ready record for the model card / run record."""
        return {"kept": self.kept, "decision": self.decision, "reason": self.reason,
                "counts": self.counts, "never_worse": self.check, "training": self.log,
                "settings": asdict(self.config)}


def holdout_score(net: torch.nn.Module, images: Sequence[ReviewedImage], held: Sequence[set],
                  device: torch.device) -> tuple[float, int]:
    """Mean score of the held-back cells (see module docstring) and their number."""
    scores = []
    for image, cells in zip(images, held):
        if not cells:
            continue
        prob, dist = predict_maps(net, image.rgb, device)
        pred = instances_from_outputs(prob, dist, InstanceParams())
        for cell in sorted(cells):
            iou = _best_iou(image.labels == cell, pred)
            scores.append(1.0 - iou if cell in image.rejected else iou)
    return (float(np.mean(scores)) if scores else math.nan), len(scores)


def _best_iou(mask: np.ndarray, pred: np.ndarray) -> float:
    ids, counts = np.unique(pred[mask], return_counts=True)
    best = 0.0
    area = int(mask.sum())
    for i, inter in zip(ids, counts):
        if i:
            best = max(best, inter / (area + int((pred == i).sum()) - inter))
    return float(best)


def _freeze_batchnorm(net: torch.nn.Module) -> None:
    for module in net.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.eval()


def finetune_network(source: torch.nn.Module, images: Sequence[ReviewedImage],
                     config: Optional[FinetuneConfig] = None, device: str = "cpu",
                     reporter: Optional[Reporter] = None) -> FinetuneResult:
    """Fine-tune a copy of ``source`` on reviewed ``images`` and check it on held-back
    reviewed cells (see module docstring). Raises :class:`InputError` without reviewed
    cells and :class:`..errors.Cancelled` when cancelled."""
    config = config or FinetuneConfig()
    reporter = reporter or Reporter()
    counts = {k: sum(im.counts()[k] for im in images)
              for k in ("accepted", "rejected", "painted", "unreviewed")}
    if not images or not any(im.reviewed for im in images):
        names = ", ".join(im.name for im in images) or "no images"
        raise InputError(names, "no reviewed cells (accept, reject or paint some cells "
                                "before fine-tuning)")
    dev = torch.device(device)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    held = split_holdout(images, config.holdout, config.seed)
    counts["held_back"] = sum(len(h) for h in held)
    built = [review_targets(im, h, config) for im, h in zip(images, held)]
    crop = min([config.crop] + [min(im.rgb.shape[:2]) for im in images])
    crop -= crop % source.multiple
    if crop < 16:
        raise InputError(images[0].name, "image too small to fine-tune on (< 16 px)")
    pool = WeightedPool([im.rgb for im in images], [t for t, _ in built],
                        [w for _, w in built], crop, config.windows_per_image, rng,
                        config.stain_jitter)
    source = source.to(dev).eval()
    before, n_check = holdout_score(source, images, held, dev) if counts["held_back"] \
        else (math.nan, 0)
    reporter.check()
    net = copy.deepcopy(source)
    strategy = ReviewedDAR(dist_weight=config.dist_weight, probe_batch=config.batch) \
        if config.method == "dar" else SegStrategy("erm", config.dist_weight)
    strategy.setup(net, pool, dev, config.steps, config.seed)
    # the encoder's group has lr 0 unless every layer is trained (its gradients are still
    # cleared each step with the others)
    encoder_lr = config.lr if config.layers == "all" else 0.0
    opt = torch.optim.AdamW([{"params": net.head_parameters()},
                             {"params": net.encoder_parameters(), "lr": encoder_lr}],
                            lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, config.steps) / config.steps)))
    run = StepRunner(opt, sched, config.steps, reporter, label="fine-tuning loss")
    net.train()
    _freeze_batchnorm(net)
    for step in range(config.steps):
        idx = rng.integers(len(pool), size=config.batch)
        x, fg, dist, w = pool.weighted_batch(idx, rng, gen, dev)
        y = class_targets(fg)
        cls, mse = strategy.pixel_loss(net(x), y, dist)
        loss = ((cls + config.dist_weight * mse) * w).sum() / w.sum().clamp_min(1e-6)
        run(step, loss, before_step=lambda s=step: strategy.before_step(s, net))
    net.eval()
    log = dict(run.log(dev), steps=config.steps, strategy=strategy.describe())
    after, _ = holdout_score(net, images, held, dev) if n_check else (math.nan, 0)
    check = {"held_back_cells": n_check, "score_before": before, "score_after": after,
             "score": "mean over held-back cells of the best predicted instance's IoU "
                      "(accepted / painted) or 1 - IoU (rejected)"}
    if not n_check:
        kept, decision = False, "kept the source network"
        reason = "too few reviewed cells to hold any back for the never-worse check"
    elif after >= before:
        kept, decision = True, "fine-tuned network kept"
        reason = f"held-back score {before:.3f} -> {after:.3f} ({n_check} cells)"
    else:
        kept, decision = False, "kept the source network"
        reason = (f"fine-tuning made the held-back cells worse: {before:.3f} -> "
                  f"{after:.3f} ({n_check} cells)")
    net = net.cpu()
    return FinetuneResult(net if kept else source.cpu(), kept, decision, reason, counts,
                          check, log, config, trained=net)

