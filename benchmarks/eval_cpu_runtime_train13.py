"""PSM on train-13 with each CPU network runtime: scores, and agreement with torch fp32.

    .venv/bin/python benchmarks/eval_cpu_runtime_train13.py [--runtimes torch onnxruntime]

Segments every labelled tile whole (as `pathrobust segment` does a 1000 x 1000 image)
once per runtime, prints per-image mean AJI / object Dice against the ground truth, and
the AJI and pixel disagreement of each runtime's labels against the `torch` fp32 labels
(the issue's tolerance: AJI agreement >= 0.99). Labels are read only to score.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _harness import DATA, segment_whole, train13

from napari_pathrobust.engine.metrics import evaluate
from napari_pathrobust.engine.registry import get_method


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runtimes", nargs="+", default=["torch", "onnxruntime"])
    ap.add_argument("--precision", default="fp32")
    args = ap.parse_args()
    runtimes = ["torch"] + [r for r in args.runtimes if r != "torch"]
    scores = {r: [] for r in runtimes}
    agree = {r: [] for r in runtimes}
    seconds = {r: [] for r in runtimes}
    for tile in train13(DATA):
        labels = {}
        for r in runtimes:
            precision = "fp32" if r == "torch" else args.precision
            method = get_method("psm", maps=False, runtime=r, device="cpu",
                                precision=precision)
            start = time.perf_counter()
            labels[r] = segment_whole(tile.rgb, method, tile.stem).astype(np.int64)
            seconds[r].append(time.perf_counter() - start)
            s = evaluate(tile.gt, labels[r])
            scores[r].append((s["aji"], s["object_dice"]))
            ref = labels["torch"]
            agree[r].append((evaluate(ref, labels[r])["aji"] if ref.max() else 1.0,
                             int(((ref > 0) != (labels[r] > 0)).sum())))
        print(tile.stem, {r: f"{agree[r][-1][0]:.4f}/{agree[r][-1][1]}px" for r in runtimes},
              flush=True)
    print("\n| runtime | AJI | object Dice | AJI vs torch fp32 (min / mean) | "
          "mask pixels differing (max) | s / tile |")
    print("|---|---|---|---|---|---|")
    for r in runtimes:
        sc, ag = np.array(scores[r]), np.array(agree[r])
        print(f"| {r}{'' if r == 'torch' else ' ' + args.precision} | {sc[:, 0].mean():.3f} | "
              f"{sc[:, 1].mean():.3f} | {ag[:, 0].min():.4f} / {ag[:, 0].mean():.4f} | "
              f"{int(ag[:, 1].max())} | {np.mean(seconds[r]):.2f} |")


if __name__ == "__main__":
    main()
