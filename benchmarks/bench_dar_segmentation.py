"""ERM vs DAR (and the other strategies) for the PSM downstream network on pseudo-masks.

The real use of DAR (issue 7b): the same pseudo-label targets (``classical-agree``, the
shipped variant, built from the 30 MoNuSeg *images* only with the shipped activation
network), the same initialisation and batch order, one network per strategy and seed.
Each training runs in a child process (peak RSS, seconds per step); every network is
then scored on train-13 with the full PSM pipeline (threshold 0.5).

    .venv/bin/python benchmarks/bench_dar_segmentation.py --steps 600 --seeds 0 1 2 \
        --strategies erm dar --cache /tmp/dar_seg

``--hold-out breast,kidney`` instead trains one network per strategy and seed on the
images of the other organs only (for the OCL held-out-organ stream, eval_ocl.py) and
skips the train-13 scoring.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import tifffile
from _harness import DATA, score_train13

COLUMNS = ("aji", "object_dice", "pixel_f1", "detection_f1")


def prepare(cache: Path, seed: int = 0) -> Path:
    """Pseudo-label targets for the 30 images, cached as one .npz."""
    path = cache / "targets.npz"
    if path.exists():
        return path
    from napari_pathrobust.engine.methods.psm import BUILDERS, SSL_WEIGHTS, _bundled
    from napari_pathrobust.engine.models.weights import load_model
    from napari_pathrobust.engine.psm.activation import SelfActivation
    from napari_pathrobust.engine.psm.clustering import SemanticClustering
    from napari_pathrobust.engine.psm.workflow import (
        agreement_labels,
        pseudo_masks,
        targets_for,
        variant_sources,
    )

    names = sorted(p.stem for p in (DATA / "images").glob("*.tif"))
    images = [tifffile.imread(DATA / "images" / f"{n}.tif")[..., :3] for n in names]
    net, _ = load_model(_bundled(SSL_WEIGHTS), BUILDERS)
    t0 = time.perf_counter()
    masks = [m.mask for m in pseudo_masks(SelfActivation(net, "cpu"),
                                          SemanticClustering(seed=seed), images)]
    sources, other = variant_sources("classical-agree", masks, agreement_labels(images))
    targets = targets_for(sources, None, other)
    print(f"targets for {len(images)} images in {time.perf_counter() - t0:.0f} s", flush=True)
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, names=np.array(names), rgb=np.stack(images),
             fg=np.stack([t.fg for t in targets]), dist=np.stack([t.dist for t in targets]))
    return path


def train_one(cache: Path, strategy: str, seed: int, steps: int, batch: int, crop: int,
              threads: int, hold_out: tuple[str, ...] = ()) -> None:
    """Child process: train one network, save it, print a JSON line of costs."""
    import torch

    from napari_pathrobust.engine.models.weights import save_model
    from napari_pathrobust.engine.psm.pseudolabels import Targets
    from napari_pathrobust.engine.psm.segtrain import SegTrainConfig, train_segmentation

    torch.set_num_threads(threads)
    from _organ_patches import organ_of

    with np.load(cache / "targets.npz") as blob:   # each blob[key] reads the whole array
        names, rgb, fg, dist = (blob[k] for k in ("names", "rgb", "fg", "dist"))
    keep = [i for i, n in enumerate(names) if organ_of(Path(str(n))) not in hold_out]
    images = [rgb[i] for i in keep]
    targets = [Targets(fg[i], dist[i], np.zeros((0, 2)), 0, 0) for i in keep]
    cfg = SegTrainConfig(steps=steps, batch=batch, crop=crop, seed=seed, strategy=strategy)
    net, log = train_segmentation(images, targets, cfg)
    tag = f"_without_{'_'.join(hold_out)}" if hold_out else ""
    out = cache / f"{strategy}{tag}_s{seed}.pt"
    save_model(net, out, "compact-unet", {
        "task": "bench_dar_segmentation", "training": log, "labels_used": False,
        "data": [str(names[i]) for i in keep], "held_out_organs": list(hold_out)})
    print(json.dumps({"weights": str(out), "seconds": log["seconds"],
                      "seconds_per_step": log["seconds"] / steps,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "final_loss": log["final_loss"], "dar": log["strategy"]}))


def score(weights: Path) -> dict:
    """Mean train-13 scores of the full PSM pipeline with ``weights``."""
    from napari_pathrobust.engine.registry import get_method

    res = score_train13(lambda: get_method("psm", device="cpu", seg_weights=str(weights),
                                           maps=False), columns=COLUMNS)
    return {c: res[c] for c in COLUMNS}   # "seconds" stays the training's


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=Path("/tmp/dar_seg"))
    ap.add_argument("--strategies", nargs="+", default=["erm", "dar"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=192)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--hold-out", default="", help="comma list of organs left out")
    ap.add_argument("--train-one", nargs=2, metavar=("STRATEGY", "SEED"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    hold_out = tuple(o for o in args.hold_out.split(",") if o)
    if args.train_one:
        train_one(args.cache, args.train_one[0], int(args.train_one[1]), args.steps,
                  args.batch, args.crop, args.threads, hold_out)
        return
    prepare(args.cache)
    results: dict[str, list[dict]] = {}
    for strategy in args.strategies:
        for seed in args.seeds:
            cmd = [sys.executable, __file__, "--cache", str(args.cache), "--steps",
                   str(args.steps), "--batch", str(args.batch), "--crop", str(args.crop),
                   "--threads", str(args.threads), "--hold-out", args.hold_out,
                   "--train-one", strategy, str(seed)]
            run = json.loads(subprocess.run(cmd, check=True, capture_output=True,
                                            text=True).stdout.strip().splitlines()[-1])
            if hold_out:
                print(f"{strategy} seed {seed} without {args.hold_out}: {run['weights']}")
                continue
            run.update(score(Path(run["weights"])))
            results.setdefault(strategy, []).append(run)
            print(f"{strategy} seed {seed}: " + ", ".join(
                f"{k} {run[k]:.3f}" for k in (*COLUMNS, "seconds_per_step", "peak_rss_mb")),
                flush=True)
    if hold_out:
        return
    (args.cache / "results.json").write_text(json.dumps(results, indent=2, default=str))
    print(f"\n| strategy | {' | '.join(COLUMNS)} | s / step | peak RSS (MB) |")
    print("|---|" + "---|" * (len(COLUMNS) + 2))
    for strategy, runs in results.items():
        cells = [f"{np.mean([r[c] for r in runs]):.3f} +- {np.std([r[c] for r in runs]):.3f}"
                 for c in COLUMNS]
        cost = [np.mean([r["seconds_per_step"] for r in runs]),
                np.max([r["peak_rss_mb"] for r in runs])]
        print(f"| {strategy} | " + " | ".join(cells) + f" | {cost[0]:.2f} | {cost[1]:.0f} |")


if __name__ == "__main__":
    main()
