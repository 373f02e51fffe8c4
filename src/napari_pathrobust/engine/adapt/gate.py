"""Never-worse gate: per slide, keep the adapted network or roll back to the source.

Label-free signals, measured for the source and the adapted network on all the slide's
sample tiles (``confidence`` on the tiles held back from adaptation only; the others
include tiles the adaptation saw):

- ``flip_agreement``: Dice between the nucleus masks predicted on a tile and on its
  mirror image (mapped back); a network the slide confuses disagrees with itself.
- ``confidence``: mean ``|2p - 1|`` of the nucleus probability on the held-back tiles.
- ``fraction``, ``count_per_mpx``, ``median_area``: nucleus fraction, density and size
  of the instances, for plausibility (an adaptation must not invent or erase tissue).

:func:`decide` keeps the adapted network only when its prediction stays plausible
against the source's and it gains clearly in self-agreement or confidence; otherwise
the slide gets the source network's result, unchanged. :func:`outcome_message` says the
outcome in plain words (status lines, the CLI); :func:`outcome_details` gives the
numbers behind it (tooltips).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from .views import apply_view, undo_view


@dataclass
class GateThresholds:
    """Decision thresholds, chosen on the protocol's tune split (docs/adaptation.md;
    the a-priori values were 0.01 / 0.005 / 1.6)."""

    min_gain: float = 0.01  # flip-agreement or confidence gain needed to keep
    max_drop: float = 1.0  # neither may drop by more than this (1.0: no such check)
    max_ratio: float = 3.0  # fraction / density / size ratios adapted : source within
    # [1 / max_ratio, max_ratio]


@dataclass
class Decision:
    """Keep the adapted network or not, why, and the signals behind it."""

    keep: bool
    reason: str
    source: dict
    adapted: dict
    outcome: str = ""  # a key of OUTCOMES: what decided it

    def as_dict(self) -> dict:
        return asdict(self)


@torch.no_grad()
def gate_signals(net: torch.nn.Module, tiles: Sequence[torch.Tensor],
                 held: Sequence[int], instances: Callable[[np.ndarray, np.ndarray], np.ndarray],
                 channel: int = 0) -> dict:
    """Signals of ``net`` on normalised ``tiles``; ``held``: indices of held-back tiles
    (confidence); ``instances(prob, dist)`` -> labels for the size / density signals."""
    inter = total = 0.0
    conf, frac, counts, areas, pixels = [], [], 0, [], 0
    for i, x in enumerate(tiles):
        out = torch.sigmoid(net(x))
        flip = torch.sigmoid(undo_view(net(apply_view(x, "hflip")), "hflip"))
        p, q = out[0, channel] > 0.5, flip[0, channel] > 0.5
        inter += float((p & q).sum())
        total += float(p.sum() + q.sum())
        prob = out[0, channel].float().cpu().numpy()
        frac.append(float(p.float().mean()))
        if i in held or not held:
            conf.append(float(np.abs(2 * prob - 1).mean()))
        dist = out[0, 1 - channel].float().cpu().numpy() if out.shape[1] > 1 else prob
        labels = instances(prob, dist)
        sizes = np.bincount(labels.ravel())[1:]
        sizes = sizes[sizes > 0]
        counts += len(sizes)
        areas.append(sizes)
        pixels += prob.size
    areas = np.concatenate(areas) if areas else np.zeros(0)
    return {"flip_agreement": 2 * inter / total if total else 1.0,
            "confidence": float(np.mean(conf)) if conf else 0.0,
            "fraction": float(np.mean(frac)) if frac else 0.0,
            "count_per_mpx": counts / max(pixels, 1) * 1e6,
            "median_area": float(np.median(areas)) if areas.size else 0.0}


def _ratio(a: float, b: float) -> float:
    if a <= 0 and b <= 0:
        return 1.0
    return max(a, 1e-9) / max(b, 1e-9)


def decide(source: dict, adapted: dict, thresholds: GateThresholds | None = None) -> Decision:
    """Keep the adapted network when plausible and clearly better (see module doc); a
    signal missing from both sides (``flip_agreement``) was not measured and is skipped."""
    t = thresholds or GateThresholds()
    for key, label in (("fraction", "nucleus fraction"), ("count_per_mpx", "nucleus density"),
                       ("median_area", "nucleus size")):
        r = _ratio(adapted[key], source[key])
        if not 1 / t.max_ratio <= r <= t.max_ratio:
            return Decision(False, f"{label} changed x{r:.2f} (implausible)", source, adapted,
                            "implausible")
    flip = "flip_agreement" in source and "flip_agreement" in adapted  # else not measured
    d_flip = adapted["flip_agreement"] - source["flip_agreement"] if flip else -np.inf
    d_conf = adapted["confidence"] - source["confidence"]
    deltas = f"(flip {d_flip:+.3f}, confidence {d_conf:+.3f})" if flip else \
        f"(confidence {d_conf:+.3f})"
    if (flip and d_flip < -t.max_drop) or d_conf < -t.max_drop:
        return Decision(False, f"less consistent {deltas}", source, adapted, "less_consistent")
    if max(d_flip, d_conf) < t.min_gain:
        return Decision(False, f"no clear gain {deltas}", source, adapted, "no_gain")
    return Decision(True, f"more consistent {deltas}", source, adapted,
                    "agrees" if d_flip >= t.min_gain else "confident")


#: the outcome in plain words, by what decided it (``Decision.outcome``; ``off``:
#: method none, ``unchecked``: the gate was off)
OUTCOMES = {
    "agrees": "Adapted network kept: it agrees better with itself on this slide",
    "confident": "Adapted network kept: it is clearly more confident on this slide",
    "no_gain": "Original network kept: adapting gave no clear gain on this slide",
    "less_consistent": "Original network kept: the adapted one was less consistent on "
                       "this slide",
    "implausible": "Original network kept: the adapted one changed the nuclei's size or "
                   "number too much on this slide",
    "unchecked": "Adapted network used: the never-worse check was off",
    "off": "Original network used: adaptation was off (method none)",
}

#: the gate's signals as the tooltip names them
SIGNAL_NAMES = {"flip_agreement": "flip agreement", "confidence": "confidence",
                "fraction": "nucleus fraction", "count_per_mpx": "nuclei per megapixel",
                "median_area": "median nucleus area (px)"}


def outcome_message(kept: bool, decision: Decision | None = None) -> str:
    """What adaptation did to a slide, in plain words (no numbers: see
    :func:`outcome_details`). ``decision`` None: the gate did not run."""
    if decision is None:
        return OUTCOMES["unchecked" if kept else "off"]
    return OUTCOMES.get(decision.outcome) or (
        OUTCOMES["agrees"] if decision.keep else OUTCOMES["no_gain"])


def outcome_details(method: str, reason: str, decision: Decision | None = None) -> str:
    """The numbers behind :func:`outcome_message`, a few lines for a tooltip: the method,
    the gate's reason, and each signal for the original and the adapted network."""
    lines = [f"method {method}: {reason}"]
    if decision is not None:
        lines.append("signal: original -> adapted network")
        for key, name in SIGNAL_NAMES.items():
            a, b = decision.source.get(key), decision.adapted.get(key)
            if a is not None and b is not None:
                digits = 0 if key in ("count_per_mpx", "median_area") else 3
                lines.append(f"{name}: {a:.{digits}f} -> {b:.{digits}f}")
    return "\n".join(lines)
