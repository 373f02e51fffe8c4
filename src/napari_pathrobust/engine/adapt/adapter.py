"""TestTimeAdapter: continual test-time adaptation of a segmentation network over a
stream of tiles (OCL, TENT or none), with stochastic restoration, a BatchNorm prior,
a collapse guard and a per-step log.

The model stays in eval mode (dropout off); BatchNorm uses source statistics unless a
prior mixes in the tile's statistics (TENT uses the tile's statistics alone). The
source weights are kept for restoration, for the collapse guard (a frozen copy gives
the source nucleus fraction of each tile) and for :meth:`TestTimeAdapter.reset`.
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from dataclasses import asdict, dataclass
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..models.ssl_net import normalise
from .ocl import binary_entropy, normalised_probabilities, ocl_loss
from .views import apply_view, check_views, set_bn_prior, undo_view

METHODS = ("ocl", "tent", "none")
#: learning rates (SGD, momentum 0.9); OCL 1e-4 chosen by label-free nucleus-fraction drift
#: on a 240-step stream (1e-3 drifts), see docs/benchmarks.md "OCL"
DEFAULT_LR = {"ocl": 1e-4, "tent": 1e-3, "none": 0.0}
LOG_FIELDS = ("step", "tile", "loss", "positive", "negative", "fraction", "source_fraction",
              "seconds", "event")


@dataclass
class AdaptConfig:
    """Parameters of test-time adaptation (recorded in outputs)."""

    method: str = "ocl"  # ocl | tent | none
    steps: int = 1  # optimisation steps per tile
    lr: Optional[float] = None  # None: DEFAULT_LR[method]
    momentum: float = 0.9
    weight_decay: float = 5e-4
    restore_p: float = 0.01  # OCL: per-element probability of restoring the source value
    pos_weight: float = 3.0
    neg_weight: float = 1.0
    views: Sequence[str] = ("identity", "hflip")
    bn_prior: Optional[float] = None  # OCL: weight of source BN statistics (None = source)
    predict: str = "pre"  # pre: from the pre-update pass; post: after the tile's steps
    average_views: Optional[bool] = None  # None: True when adapting, False for none
    neg_stride: int = 1
    adapt_size: int = 512  # the loss uses a centre crop of at most this side
    guard: bool = True
    max_drift: float = 0.2  # |fraction - source fraction| above this is a collapse
    min_ratio: float = 0.25  # fraction below this share of the source fraction: collapse
    max_fraction: float = 0.8
    channel: int = 0  # the nucleus logit channel
    seed: int = 0

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"unknown adaptation method {self.method!r}; "
                             f"choose from {', '.join(METHODS)}")
        if self.predict not in ("pre", "post"):
            raise ValueError("predict must be 'pre' or 'post'")
        if not 0.0 <= self.restore_p <= 1.0:
            raise ValueError("restore_p must lie in [0, 1]")
        if self.steps < 1:
            raise ValueError("steps must be >= 1")
        self.views = check_views(self.views)

    @property
    def learning_rate(self) -> float:
        return DEFAULT_LR[self.method] if self.lr is None else float(self.lr)


class TestTimeAdapter:
    """Adapt ``model`` (B,3,H,W -> B,C,H,W logits) tile by tile; see module docstring."""

    __test__ = False  # not a pytest class

    def __init__(self, model: nn.Module, config: Optional[AdaptConfig] = None,
                 device: torch.device | str = "cpu", multiple: int = 1):
        self.config = config or AdaptConfig()
        self.device = torch.device(device)
        self.multiple = int(getattr(model, "multiple", multiple))
        self.model = model.to(self.device).eval()
        self.source_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self.source_model = copy.deepcopy(self.model).eval().requires_grad_(False)
        set_bn_prior(self.source_model, None)
        self._generator = torch.Generator().manual_seed(self.config.seed)
        self.log: list[dict] = []
        self.steps_done = 0
        self.tiles_done = 0
        self.rollbacks = 0
        self._configure()

    # ------------------------------------------------------------------ set-up
    def _configure(self) -> None:
        c = self.config
        self.model.requires_grad_(False)
        if c.method == "ocl":
            self.model.requires_grad_(True)
            set_bn_prior(self.model, c.bn_prior) if c.bn_prior is not None else None
        elif c.method == "tent":
            for m in self.model.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.requires_grad_(True)
            set_bn_prior(self.model, 0.0 if c.bn_prior is None else c.bn_prior, detach=False)
        self.params = [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]
        self.optimizer = None
        if self.params:
            wd = c.weight_decay if c.method == "ocl" else 0.0
            self.optimizer = torch.optim.SGD([p for _, p in self.params], lr=c.learning_rate,
                                             momentum=c.momentum, weight_decay=wd)

    def reset(self) -> None:
        """Back to the source weights, with fresh optimiser state."""
        self.model.load_state_dict(self.source_state)
        self._configure()

    def restore(self, p: Optional[float] = None) -> None:
        """Stochastic restoration: each trainable element takes its source value with
        probability ``p`` (default ``config.restore_p``)."""
        p = self.config.restore_p if p is None else float(p)
        if p <= 0.0:
            return
        with torch.no_grad():
            for name, param in self.params:
                source = self.source_state[name]
                if p >= 1.0:
                    param.copy_(source)
                    continue
                mask = torch.rand(param.shape, generator=self._generator) < p
                param.copy_(torch.where(mask.to(param.device), source, param))

    # ------------------------------------------------------------------ forward
    def _views(self, net: nn.Module, x: torch.Tensor, names: Sequence[str]) -> list[torch.Tensor]:
        return [undo_view(net(apply_view(x, v)), v) for v in names]

    def _prediction_views(self) -> tuple[str, ...]:
        c = self.config
        average = c.average_views if c.average_views is not None else c.method != "none"
        return tuple(c.views) if average else ("identity",)

    @torch.no_grad()
    def _predict(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return torch.stack(self._views(net, x, self._prediction_views())).mean(0)

    def _crop(self, x: torch.Tensor) -> torch.Tensor:
        m = self.multiple
        side = max(m, self.config.adapt_size // m * m)
        h, w = x.shape[-2:]
        ch, cw = min(h, side), min(w, side)
        y0, x0 = (h - ch) // 2 // m * m, (w - cw) // 2 // m * m
        return x[..., y0:y0 + ch, x0:x0 + cw]

    def _loss(self, logits: list[torch.Tensor]) -> tuple[torch.Tensor, float, float]:
        c = self.config
        nuc = [v[:, c.channel:c.channel + 1] for v in logits]
        if c.method == "tent":
            loss = torch.stack([binary_entropy(v) for v in nuc]).mean()
            return loss, float("nan"), float("nan")
        z = [normalised_probabilities(v) for v in nuc]
        loss, pos, neg = ocl_loss(z, c.pos_weight, c.neg_weight, c.neg_stride)
        return loss, float(pos.detach()), float(neg.detach())

    def fraction(self, logits: torch.Tensor) -> float:
        """Predicted nucleus fraction (probability > 0.5) of a logits batch."""
        return float((logits[:, self.config.channel] > 0).float().mean())

    def adapt(self, x: torch.Tensor) -> torch.Tensor:
        """Adapt on one normalised tile batch (sides multiples of ``multiple``) and
        return its averaged prediction logits (from the pre-update pass or after the
        tile's steps, see ``config.predict``)."""
        c = self.config
        start = time.perf_counter()
        x = x.to(self.device)
        if c.method == "none" or self.optimizer is None:
            out = self._predict(self.model, x)
            self._record(float("nan"), float("nan"), float("nan"), self.fraction(out),
                         float("nan"), start, "")
            self.tiles_done += 1
            return out
        crop = self._crop(x)
        whole = crop.shape == x.shape
        pre = None
        if not whole and c.predict == "pre":
            pre = self._predict(self.model, x)
        source_fraction = float("nan")
        if c.guard:
            source_fraction = self.fraction(self._predict(self.source_model, x))
        event = ""
        for k in range(c.steps):
            t0 = time.perf_counter() if k else start
            logits = self._views(self.model, crop, c.views)
            if k == 0 and pre is None and c.predict == "pre":
                pre = torch.stack([v.detach() for v in logits]).mean(0) if \
                    self._prediction_views() == tuple(c.views) else self._predict(self.model, x)
            loss, pos, neg = self._loss(logits)
            frac = self.fraction(pre if k == 0 and pre is not None else
                                 torch.stack([v.detach() for v in logits]).mean(0))
            event = self._guard(float(loss.detach()), frac, source_fraction)
            if event:
                self._record(float(loss.detach()), pos, neg, frac, source_fraction, t0, event)
                pre = self._predict(self.source_model, x)  # the source model's prediction
                break
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.restore()
            self._record(float(loss.detach()), pos, neg, frac, source_fraction, t0, "")
        out = pre if c.predict == "pre" or event else self._predict(self.model, x)
        self.tiles_done += 1
        return out

    def _guard(self, loss: float, frac: float, source_fraction: float) -> str:
        """Roll back to the source weights when the prediction collapses; '' otherwise."""
        c = self.config
        if not c.guard:
            return ""
        reason = ""
        if not math.isfinite(loss):
            reason = "non-finite loss"
        elif frac > c.max_fraction:
            reason = f"nucleus fraction {frac:.3f} > {c.max_fraction}"
        elif math.isfinite(source_fraction):
            if abs(frac - source_fraction) > c.max_drift:
                reason = f"nucleus fraction {frac:.3f} drifted from source {source_fraction:.3f}"
            elif source_fraction > 0.02 and frac < c.min_ratio * source_fraction:
                reason = f"nucleus fraction {frac:.3f} collapsed (source {source_fraction:.3f})"
        if not reason:
            return ""
        warnings.warn(f"test-time adaptation rolled back to the source weights: {reason}",
                      RuntimeWarning, stacklevel=3)
        self.rollbacks += 1
        self.reset()
        return f"rollback: {reason}"

    def _record(self, loss, pos, neg, frac, source_fraction, t0, event) -> None:
        self.steps_done += 1
        self.log.append({"step": self.steps_done, "tile": self.tiles_done, "loss": loss,
                         "positive": pos, "negative": neg, "fraction": frac,
                         "source_fraction": source_fraction,
                         "seconds": time.perf_counter() - t0, "event": event})

    # ------------------------------------------------------------------ numpy API
    def adapt_rgb(self, rgb: np.ndarray) -> np.ndarray:
        """(C, H, W) float32 sigmoid outputs for an RGB uint8 tile, adapting on it."""
        h, w = rgb.shape[:2]
        pixels = np.require(rgb[..., :3], requirements=["C", "W"])
        x = normalise(torch.from_numpy(pixels)[None])
        m = self.multiple
        pad_h, pad_w = (-h) % m, (-w) % m
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect")
        logits = self.adapt(x)
        return torch.sigmoid(logits)[0, :, :h, :w].float().cpu().numpy()

    def describe(self) -> dict:
        """Configuration and stream summary (JSON-serialisable)."""
        cfg = asdict(self.config)
        cfg["views"] = list(self.config.views)
        cfg["lr"] = self.config.learning_rate
        return {"config": cfg, "steps": self.steps_done, "tiles": self.tiles_done,
                "rollbacks": self.rollbacks, "trainable_parameters":
                    int(sum(p.numel() for _, p in self.params))}
