"""Experiment: one round of confidence-filtered self-training for the PSM network.

Round 0 is a network trained on the ``classical-agree`` pseudo-labels (e.g.
bench_dar_segmentation.py's ``erm_s0.pt``). Its outputs on the 30 training *images*
give new targets: the round-0 targets, plus every predicted instance that the old
targets left as background or ignored, when the network is confident about it (mean
nucleus probability >= --confident, plausible area and solidity); background stays only
where the network is confident it is background (probability < 1 - --confident).
The distance target is recomputed per nucleus: round-0 nuclei as connected components of
their (Voronoi-separated) mask, plus the added ones.
A round-1 network is trained from scratch on them with the same budget and scored on
train-13 (labels read only to score).

    .venv/bin/python benchmarks/exp_self_training.py --round0 /tmp/dar_seg/erm_s0.pt
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi
from skimage.measure import regionprops

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_dar_segmentation import score  # noqa: E402

from napari_pathrobust.engine.methods.psm import PSMMethod  # noqa: E402
from napari_pathrobust.engine.psm.instances import instances_from_outputs  # noqa: E402
from napari_pathrobust.engine.psm.pseudolabels import (  # noqa: E402
    IGNORE,
    TargetParams,
    Targets,
    normalised_distance,
)


def self_targets(prob, dist, old_fg, confident: float, params: TargetParams):
    """Round-1 targets from round-0 outputs and round-0 targets (see module docstring)."""
    labels = instances_from_outputs(prob, dist)
    fg = old_fg.copy()
    keep = np.zeros(prob.shape, np.int32)
    added = 0
    for region in regionprops(labels, intensity_image=prob):
        r0, c0, r1, c1 = region.bbox
        sl = (slice(r0, r1), slice(c0, c1))
        own = region.image
        if (old_fg[sl][own] == 1).any():
            continue  # already a round-0 nucleus
        ok = (region.intensity_mean >= confident and params.min_area <= region.area
              <= params.max_area and region.solidity >= params.min_solidity)
        if ok:
            keep[sl][own] = region.label
            added += 1
    fg[keep > 0] = 1
    unsure = (fg == 0) & (prob >= 1 - confident)
    fg[unsure] = IGNORE
    inst, _ = ndi.label(old_fg == 1)
    both = np.where(keep > 0, keep + inst.max(), inst)
    return Targets(fg, normalised_distance(both.astype(np.int32)), np.zeros((0, 2)), 0, 0), added


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=Path("/tmp/dar_seg"))
    ap.add_argument("--round0", type=Path, required=True)
    ap.add_argument("--confident", type=float, default=0.8)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    import torch

    from napari_pathrobust.engine.models.weights import save_model
    from napari_pathrobust.engine.psm.segtrain import SegTrainConfig, train_segmentation

    torch.set_num_threads(2)
    with np.load(args.cache / "targets.npz") as blob:
        images, old = list(blob["rgb"]), blob["fg"]
    method = PSMMethod(maps=False, device="cpu", seg_weights=str(args.round0))
    targets, added = [], 0
    for rgb, fg in zip(images, old):
        prob, dist = method.network_outputs(rgb)
        t, n = self_targets(prob, dist, fg, args.confident, TargetParams())
        targets.append(t)
        added += n
    print(f"added {added} confident nuclei; nucleus pixels "
          f"{np.mean([(f == 1).mean() for f in old]):.3f} -> "
          f"{np.mean([(t.fg == 1).mean() for t in targets]):.3f}", flush=True)
    cfg = SegTrainConfig(steps=args.steps, batch=8, crop=192, seed=args.seed)
    net, log = train_segmentation(images, targets, cfg)
    out = args.cache / f"self_c{args.confident}_s{args.seed}.pt"
    save_model(net, out, "compact-unet", {"task": "exp_self_training", "training": log,
                                          "round0": args.round0.name, "labels_used": False})
    print(json.dumps({"weights": str(out), **score(out)}))


if __name__ == "__main__":
    main()
