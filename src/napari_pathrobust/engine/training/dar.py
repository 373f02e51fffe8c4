"""DAR: gradient-aware decoupling and regulation under label noise + class imbalance.

Reconstruction of Zhang et al., Neural Networks 2024 (no official code; choices in
docs/dar.md). After ``warmup_epochs`` of plain training the strategy

1. selects a class-balanced probe set of low early-loss items (:mod:`.probe`);
2. trains an auxiliary copy of the network on the probe set (class-balanced loss) and
   takes its gradient ``r`` as the reference; ``Omega`` holds, per parameter tensor and
   output unit (a row of a Linear weight, a filter of a Conv weight, an element of a
   bias / norm vector), the cosine between the main gradient ``g`` and ``r`` (in [-1, 1]);
3. updates encoder and head with separate rules: per tensor the fraction ``crucial`` of
   units with the largest ``sum |theta * g|`` takes the normal step ``g``; every other
   unit takes ``g`` where ``Omega >= threshold`` (per part) and a rectified direction
   where ``Omega < threshold`` (``reverse``: ``-g``; ``project``: ``g`` minus its
   component along ``r``; ``reference``: ``r``; ``zero``: no step).

With ``r == g`` every ``Omega`` is 1 and the update is exactly the ERM update.
"""

from __future__ import annotations

import copy
from typing import Optional, Sequence

import numpy as np
import torch

from .loop import Strategy, make_optimizer, masked_mean
from .probe import (
    EarlyLossRecorder,
    knn_label_agreement,
    probe_targets,
    sample_class_loss,
    select_probe,
)

RULES = ("reverse", "project", "reference", "zero")


def split_parameters(model: torch.nn.Module) -> tuple[list, list]:
    """``(encoder, head)`` parameter lists of ``model``.

    Uses ``model.encoder_parameters()`` / ``model.head_parameters()`` when defined, else
    ``model.encoder`` / ``model.head`` sub-modules, else treats the last module that owns
    parameters as the head and everything else as the encoder.
    """
    if hasattr(model, "encoder_parameters") and hasattr(model, "head_parameters"):
        enc, head = list(model.encoder_parameters()), list(model.head_parameters())
    elif hasattr(model, "encoder") and hasattr(model, "head"):
        enc, head = list(model.encoder.parameters()), list(model.head.parameters())
    else:
        owners = [m for m in model.modules() if list(m.parameters(recurse=False))]
        if len(owners) < 2:
            raise ValueError("cannot split a model with < 2 parameterised modules")
        head = list(owners[-1].parameters(recurse=False))
        ids = {id(p) for p in head}
        enc = [p for p in model.parameters() if id(p) not in ids]
    if {id(p) for p in enc} & {id(p) for p in head}:
        raise ValueError("encoder and head parameter groups overlap")
    return [p for p in enc if p.requires_grad], [p for p in head if p.requires_grad]


def _units(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(t.shape[0], -1) if t.dim() >= 2 else t.reshape(-1, 1)


def unit_cosine(g: torch.Tensor, r: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Cosine similarity per output unit of two same-shaped gradient tensors."""
    gu, ru = _units(g), _units(r)
    dot = (gu * ru).sum(1)
    return dot / (gu.norm(dim=1) * ru.norm(dim=1)).clamp_min(eps)


def rectify(g: torch.Tensor, r: torch.Tensor, theta: torch.Tensor, crucial: float,
            rule: str, threshold: float = 0.0, eps: float = 1e-12,
            keep: Optional[torch.Tensor] = None
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The DAR update direction for one tensor; returns ``(direction, omega, rectified)``.

    ``keep`` (bool per output unit) forces units to take the plain gradient ``g``.
    """
    gu, ru = _units(g), _units(r)
    omega = unit_cosine(g, r, eps)
    n_units = gu.shape[0]
    n_crucial = int(round(crucial * n_units))
    protected = torch.zeros(n_units, dtype=torch.bool, device=g.device)
    if n_crucial > 0:
        score = (_units(theta.detach()) * gu).abs().sum(1)
        protected[torch.topk(score, n_crucial).indices] = True
    if keep is not None:
        protected |= keep.to(device=g.device, dtype=torch.bool)
    fix = (omega < threshold - 1e-6) & ~protected
    if rule == "reverse":
        alt = -gu
    elif rule == "project":
        coef = (gu * ru).sum(1, keepdim=True) / (ru * ru).sum(1, keepdim=True).clamp_min(eps)
        alt = gu - coef * ru
    elif rule == "reference":
        alt = ru
    elif rule == "zero":
        alt = torch.zeros_like(gu)
    else:
        raise ValueError(f"rule {rule!r}: expected one of {RULES}")
    out = torch.where(fix.unsqueeze(1), alt, gu)
    return out.reshape(g.shape), omega, fix


def balanced_loss(per_elem: torch.Tensor, targets: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Mean over the classes present of each class's mean element loss."""
    per = per_elem.reshape(-1)
    t = targets.reshape(-1)
    terms = [per[t == c].mean() for c in range(n_classes) if bool((t == c).any())]
    return torch.stack(terms).mean() if terms else per.sum() * 0.0


class DARStrategy(Strategy):
    """DAR training strategy (see the module docstring and docs/dar.md).

    Parameters: ``warmup_epochs`` of plain training (early-loss recording);
    ``probe_per_class`` probe items per class; ``crucial`` = (encoder, head) fraction
    of units per tensor updated normally; ``encoder_rule`` / ``head_rule`` the direction
    for redundant units whose Omega is below ``threshold`` = (encoder, head); the
    auxiliary network is re-synchronised to the main one every ``sync_every`` steps and
    trained on probe batches of ``probe_batch`` items with SGD at ``aux_lr``; ``split``
    optionally gives the ``(encoder, head)`` parameter lists.

    Tail-class safeguard (``probe_filter="knn"``, classification targets only): at the
    end of warm-up every sample's label is scored by the share of its ``knn`` nearest
    neighbours in the head's input features that carry the same label; only items
    scoring ``>= min_trust`` can enter the probe. A class with fewer than ``min_probe``
    such items is *unreliable*: it has no probe items and its classifier rows always take
    the plain (ERM) gradient. With fewer than two reliable classes DAR is plain ERM.
    """

    def __init__(self, warmup_epochs: int = 25, probe_per_class: int = 5,
                 crucial: Sequence[float] = (0.0, 0.0), encoder_rule: str = "reference",
                 head_rule: str = "reference", threshold: Sequence[float] = (0.5, 1.0),
                 sync_every: int = 1, aux_lr: float = 0.01,
                 probe_batch: int = 256, probe_filter: str = "knn_rank", knn: int = 10,
                 min_trust: float = 0.5, min_probe: int = 2, loss: str = "ce", split=None,
                 **loss_kwargs):
        super().__init__(loss, **loss_kwargs)
        for rule in (encoder_rule, head_rule):
            if rule not in RULES:
                raise ValueError(f"rule {rule!r}: expected one of {RULES}")
        self.warmup_epochs = int(warmup_epochs)
        self.probe_per_class = int(probe_per_class)
        self.crucial = (float(crucial[0]), float(crucial[1]))
        self.rules = (encoder_rule, head_rule)
        self.threshold = (float(threshold[0]), float(threshold[1]))
        self.sync_every = max(1, int(sync_every))
        self.aux_lr = float(aux_lr)
        self.probe_batch = int(probe_batch)
        self.split = split
        if probe_filter not in ("none", "knn", "knn_rank"):
            raise ValueError(f"probe_filter {probe_filter!r}: expected none, knn or knn_rank")
        self.probe_filter = probe_filter
        self.knn = int(knn)
        self.min_trust = float(min_trust)
        self.min_probe = max(1, int(min_probe))
        self.reliable: Optional[np.ndarray] = None
        self.aux: Optional[torch.nn.Module] = None
        self.probe: Optional[tuple[np.ndarray, np.ndarray]] = None
        self._epoch = 0
        self._steps = 0
        self._fixed = [0.0, 0.0, 0.0, 0.0]  # rectified units / units, per part

    @property
    def name(self) -> str:
        return "dar"

    def setup(self, model, data, n_classes, device, gen) -> None:
        super().setup(model, data, n_classes, device, gen)
        self.bind(model, n_classes)
        self.reliable = None
        self.recorder = EarlyLossRecorder(len(data), n_classes)
        # own generator for probe batches: the shuffling stream stays the same as ERM's
        self.gen = torch.Generator().manual_seed(gen.initial_seed() + 7919)
        self.data = data
        self.device = device

    def bind(self, model: torch.nn.Module, n_classes: int) -> None:
        """Prepare :meth:`apply_rectification` for a trainer other than ``train_model``
        (every class reliable)."""
        self.n_classes = n_classes
        enc, head = self.split if self.split is not None else split_parameters(model)
        names = {id(p): i for i, p in enumerate(model.parameters())}
        self._groups = [[names[id(p)] for p in enc], [names[id(p)] for p in head]]
        self._head_params = head
        self.reliable = np.ones(n_classes, dtype=bool)

    def on_epoch_start(self, epoch, model, data) -> None:
        self._epoch = epoch
        if epoch == self.warmup_epochs and self.probe is None:
            trust = self.label_trust(model, data)
            if trust is None:
                self.probe = select_probe(self.recorder.mean(), self.probe_per_class)
            else:
                early = self.recorder.mean()
                if self.probe_filter == "knn_rank":
                    self.probe = select_probe(early, self.probe_per_class, trust, 0.0, 1,
                                              "trust")
                else:
                    self.probe = select_probe(early, self.probe_per_class, trust,
                                              self.min_trust, self.min_probe)
            self.reliable = np.zeros(self.n_classes, dtype=bool)
            self.reliable[np.unique(self.probe[1])] = True
            self.aux = copy.deepcopy(model)
            self.aux_opt = make_optimizer(self.aux.parameters(), "sgd", self.aux_lr, 0.0, 0.0)

    def _head_module(self, model: torch.nn.Module) -> Optional[torch.nn.Module]:
        first = self._head_params[0] if self._head_params else None
        for m in model.modules():
            if any(p is first for p in m.parameters(recurse=False)):
                return m
        return None

    @torch.no_grad()
    def head_features(self, model: torch.nn.Module, data, batch: int = 512) -> torch.Tensor:
        """The head module's input for every training sample (evaluation mode)."""
        head = self._head_module(model)
        if head is None:
            raise ValueError("cannot find the module owning the head parameters")
        feats = []
        hook = head.register_forward_pre_hook(lambda m, inp: feats.append(inp[0].detach()))
        was_training = model.training
        model.eval()
        try:
            for s in range(0, len(data), batch):
                x, _ = data.take(torch.arange(s, min(s + batch, len(data))))
                model(x.to(self.device))
        finally:
            hook.remove()
            model.train(was_training)
        return torch.cat([f.reshape(len(f), -1).cpu() for f in feats])

    def label_trust(self, model: torch.nn.Module, data) -> Optional[np.ndarray]:
        """Per-sample kNN label agreement (``None`` when the filter does not apply)."""
        if self.probe_filter == "none":
            return None
        _, y = data.take(torch.arange(min(len(data), 2)))
        if y.dim() != 1:
            return None            # per-pixel targets: no per-item feature vector
        y = data.take(torch.arange(len(data)))[1].cpu().numpy()
        return knn_label_agreement(self.head_features(model, data).numpy(), y, self.knn)

    def pop_rectified(self) -> dict:
        """Shares of encoder / head units rectified since the last call (then reset)."""
        fe, ne, fh, nh = self._fixed
        self._fixed = [0.0, 0.0, 0.0, 0.0]
        return {"rectified_encoder": fe / max(ne, 1), "rectified_head": fh / max(nh, 1)}

    def on_epoch_end(self, epoch, model, data) -> dict:
        if self.probe is None:
            return {"phase": "warmup"}
        return {"phase": "dar", "probe_items": int(len(self.probe[0])),
                "reliable_classes": int(self.reliable.sum()), **self.pop_rectified()}

    def _probe_batch(self):
        samples, classes = self.probe
        pick = torch.arange(len(samples))
        if len(samples) > self.probe_batch:
            pick = torch.randperm(len(samples), generator=self.gen)[:self.probe_batch]
        x, y = self.data.take(torch.as_tensor(samples[pick.numpy()]))
        y = probe_targets(y, torch.as_tensor(classes[pick.numpy()]))
        return x.to(self.device), y.to(self.device)

    def reference_gradients(self, model: torch.nn.Module) -> list[torch.Tensor]:
        """One auxiliary step on a probe batch; returns its gradients (the reference)."""
        if self._steps % self.sync_every == 0:
            self.aux.load_state_dict(model.state_dict())
        self.aux_opt.zero_grad(set_to_none=True)
        x, y = self._probe_batch()
        balanced_loss(self.loss_fn(self.aux(x), y), y, self.n_classes).backward()
        ref = [p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p)
               for p in self.aux.parameters()]
        self.aux_opt.step()
        return ref

    def step(self, model, optimizer, idx, x, y) -> float:
        optimizer.zero_grad(set_to_none=True)
        per = self.loss_fn(model(x), y)
        loss = masked_mean(per, y)
        loss.backward()
        if self.probe is None:
            if self._epoch < self.warmup_epochs:
                self.recorder.add(idx, sample_class_loss(per, y, self.n_classes))
            optimizer.step()
            return float(loss.detach())
        if int(self.reliable.sum()) < 2:      # no usable probe: plain ERM
            optimizer.step()
            return float(loss.detach())
        ref = self.reference_gradients(model)
        self._steps += 1
        params = list(model.parameters())
        self.apply_rectification(params, ref)
        optimizer.step()
        return float(loss.detach())

    def apply_rectification(self, params: list, ref: list) -> list[torch.Tensor]:
        """Replace each parameter's ``.grad`` by its DAR direction; returns Omega per tensor."""
        omegas = []
        unreliable = None
        if self.reliable is not None and not self.reliable.all():
            unreliable = torch.as_tensor(~self.reliable)
        for part, group in enumerate(self._groups):
            for i in group:
                p = params[i]
                if p.grad is None:
                    continue
                keep = None       # classifier rows of unreliable classes: ERM step
                if part == 1 and unreliable is not None and p.shape[0] == self.n_classes:
                    keep = unreliable
                d, omega, fix = rectify(p.grad, ref[i], p, self.crucial[part], self.rules[part],
                                          self.threshold[part], keep=keep)
                p.grad.copy_(d)
                omegas.append(omega)
                self._fixed[2 * part] += float(fix.sum())
                self._fixed[2 * part + 1] += fix.numel()
        return omegas

    def describe(self) -> dict:
        return {**super().describe(), "strategy": "dar", "warmup_epochs": self.warmup_epochs,
                "probe_per_class": self.probe_per_class, "crucial": list(self.crucial),
                "encoder_rule": self.rules[0], "head_rule": self.rules[1],
                "threshold": list(self.threshold),
                "sync_every": self.sync_every, "aux_lr": self.aux_lr,
                "probe_batch": self.probe_batch, "probe_filter": self.probe_filter,
                "knn": self.knn, "min_trust": self.min_trust, "min_probe": self.min_probe}


def get_strategy(name: str, **kwargs) -> Strategy:
    """Strategy by name: ``erm``, ``focal``, ``gce``, ``reweight`` or ``dar``."""
    name = name.lower()
    if name == "dar":
        return DARStrategy(**kwargs)
    if name in ("erm", "ce"):
        return Strategy("ce", **kwargs)
    if name in ("focal", "gce", "reweight"):
        return Strategy(name, **kwargs)
    raise ValueError(f"strategy {name!r}: expected erm, focal, gce, reweight or dar")
