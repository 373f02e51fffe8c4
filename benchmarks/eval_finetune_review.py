"""Simulated review -> fine-tuned PSM network, on MoNuSeg train-13 split by organ.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/eval_finetune_review.py \
        [--organs kidney breast lung] [--ks 25 50 100 200] [--methods erm dar] \
        [--steps 60] [--threads 1] [--out /tmp/finetune-review.json]

Per organ with >= 3 labelled tiles: the first two tiles (name order) are "reviewed".
The shipped network's cells (the psm method's full pipeline, without stain
normalisation, as ``psm@NAME`` runs) are shown to a simulated reviewer who looks at
``k`` of them (seeded, half per tile) and, from the true nuclei:
accepts a predicted cell matching one true nucleus (IoU >= 0.5), rejects one that
matches none (no true nucleus covers half of it), and repaints merged (>= 2 true nuclei
with half their area inside) and split (one true nucleus, IoU < 0.5) cells with the
true masks. Every other cell stays unreviewed. ``engine.psm.finetune`` fine-tunes the
network on that review; the same organ's other tiles and the other organs' tiles are
scored (AJI, the project's metrics, identical to ../shared/eval/nuclei_metrics.py)
before and after. The labels stand in for a reviewer on the two reviewed tiles only;
they are never scored.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
import torch
from _harness import DATA, segment_whole, train13
from _organ_patches import organ_of

from napari_pathrobust.engine.metrics import evaluate
from napari_pathrobust.engine.psm.finetune import (
    FinetuneConfig,
    finetune_network,
    reviewed_image,
)
from napari_pathrobust.engine.registry import get_method


def psm_with(net=None):
    """The psm method without stain normalisation (as psm@NAME runs), optionally with
    another downstream network."""
    method = get_method("psm", device="cpu", normalise=False, maps=False)
    if net is not None:
        method.seg_net = copy.deepcopy(net).eval()
    return method


def simulate_review(pred: np.ndarray, gt: np.ndarray, cells: list[int], start: int):
    """(labels, table, counts) after the simulated reviewer looked at ``cells``."""
    labels = pred.astype(np.int32).copy()
    status = {int(c): "unreviewed" for c in np.unique(pred) if c}
    painted: set[int] = set()
    counts = {"accepted": 0, "rejected": 0, "repainted": 0}
    next_id = max(start, int(labels.max()) + 1)
    gt_area = np.bincount(gt.ravel())
    for cell in cells:
        own = labels == cell
        if not own.any():   # repainted with a neighbour already
            continue
        ids, inter = np.unique(gt[own], return_counts=True)
        keep = ids > 0
        ids, inter = ids[keep], inter[keep]
        if not len(ids):
            status[cell] = "rejected"
            counts["rejected"] += 1
            continue
        area = int(own.sum())
        iou = inter / (area + gt_area[ids] - inter)
        inside = inter / gt_area[ids]   # share of each true nucleus inside the cell
        if iou.max() >= 0.5:
            status[cell] = "accepted"
            counts["accepted"] += 1
            continue
        if inter.sum() < 0.5 * area:
            status[cell] = "rejected"
            counts["rejected"] += 1
            continue
        merged = ids[inside >= 0.5]
        targets = merged if len(merged) >= 2 else ids[[int(np.argmax(inter))]]
        for g in targets:   # repaint: the true nucleus replaces what was there
            mask = gt == g
            labels[own] = np.where(labels[own] == cell, 0, labels[own])
            labels[mask] = next_id
            status[next_id] = "accepted"
            painted.add(next_id)
            next_id += 1
        counts["repainted"] += 1
    present = set(np.unique(labels).tolist()) - {0}
    ids = sorted(i for i in status if i in present)
    table = {"label": ids, "status": [status[i] for i in ids],
             "painted": [i in painted for i in ids]}
    return labels, table, counts


def score(tiles, net) -> dict[str, float]:
    out = {}
    for tile in tiles:
        labels = segment_whole(tile.rgb, psm_with(net), tile.stem)
        out[tile.stem] = float(evaluate(tile.gt, labels.astype(np.int64))["aji"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--organs", nargs="+", default=["kidney", "breast", "lung"])
    ap.add_argument("--ks", nargs="+", type=int, default=[25, 50, 100, 200])
    ap.add_argument("--methods", nargs="+", default=["erm", "dar"])
    ap.add_argument("--steps", type=int, default=FinetuneConfig.steps)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--same-only", action="store_true",
                    help="score the reviewed organ's other tiles only (tuning runs)")
    ap.add_argument("--lr", type=float, default=FinetuneConfig.lr)
    ap.add_argument("--pseudo-weight", type=float, default=FinetuneConfig.pseudo_weight)
    ap.add_argument("--layers", default=FinetuneConfig.layers, choices=("decoder", "all"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("/tmp/finetune-review.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tiles = list(train13(args.data))
    organ = {t.stem: organ_of(Path(t.stem + ".tif")) for t in tiles}
    base_net = psm_with().seg_net
    t0 = time.perf_counter()
    wanted = [t for t in tiles if organ[t.stem] in args.organs] if args.same_only else tiles
    baseline = score(wanted, None)
    print(f"baseline scored in {time.perf_counter() - t0:.0f} s: mean AJI "
          f"{np.mean(list(baseline.values())):.3f}", flush=True)
    preds = {}
    results = {"baseline": baseline, "runs": []}
    for name in args.organs:
        own = [t for t in tiles if organ[t.stem] == name]
        if len(own) < 3:
            print(f"{name}: {len(own)} labelled tiles, skipped (need >= 3)")
            continue
        reviewed, held = own[:2], own[2:]
        others = [t for t in tiles if organ[t.stem] != name]
        for t in reviewed:
            if t.stem not in preds:
                preds[t.stem] = segment_whole(t.rgb, psm_with(), t.stem)
        rng = np.random.default_rng(args.seed)
        orders = [rng.permutation([int(c) for c in np.unique(preds[t.stem]) if c])
                  for t in reviewed]
        for k in args.ks:
            images, counts = [], {"accepted": 0, "rejected": 0, "repainted": 0}
            for t, order, n in zip(reviewed, orders, (k - k // 2, k // 2)):
                labels, table, c = simulate_review(preds[t.stem], t.gt, list(order[:n]),
                                                   int(preds[t.stem].max()) + 1)
                images.append(reviewed_image(t.stem, t.rgb, labels, table))
                counts = {key: counts[key] + c[key] for key in counts}
            for method in args.methods:
                config = FinetuneConfig(method=method, steps=args.steps, seed=args.seed,
                                        lr=args.lr, pseudo_weight=args.pseudo_weight,
                                        layers=args.layers)
                start, cpu = time.perf_counter(), time.process_time()
                result = finetune_network(base_net, images, config, "cpu")
                seconds = time.perf_counter() - start
                cpu = time.process_time() - cpu
                same = score(held, result.trained)
                other = score(others, result.trained) if not args.same_only else {}
                row = {"organ": name, "k": k, "method": method, "review": counts,
                       "seconds": seconds, "cpu_seconds": cpu, "kept": result.kept,
                       "reason": result.reason,
                       "same": same, "other": other,
                       "same_gain": float(np.mean([same[s] - baseline[s] for s in same])),
                       "other_gain": float(np.mean([other[s] - baseline[s] for s in other]
                                                   or [np.nan])),
                       "same_before": float(np.mean([baseline[s] for s in same])),
                       "other_before": float(np.mean([baseline[s] for s in other] or [np.nan])),
                       "check": result.check}
                results["runs"].append(row)
                print(f"| {name} | {k} | {method} | {counts['accepted']}/"
                      f"{counts['rejected']}/{counts['repainted']} | {cpu:.0f} ({seconds:.0f}) | "
                      f"{row['same_before']:.3f} | {row['same_gain']:+.3f} | "
                      f"{row['other_before']:.3f} | {row['other_gain']:+.3f} | "
                      f"{'kept' if result.kept else 'source'} "
                      f"({result.check['score_before']:.3f} -> "
                      f"{result.check['score_after']:.3f}) |", flush=True)
                args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
