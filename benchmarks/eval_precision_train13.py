"""Reduced-precision PSM inference against float32 on train-13 (issue 8 tolerance).

For each train-13 tile: full PSM (shipped networks) in fp32 and in PRECISION on DEVICE;
prints AJI / object Dice against the labels for both, the AJI of the reduced-precision
labels against the fp32 labels (1 = identical instances), the largest probability
difference, and seconds per tile.

    .venv/bin/python benchmarks/eval_precision_train13.py --device cpu --precision bf16
    python benchmarks/eval_precision_train13.py --device cuda --precision fp16
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _harness import DATA, segment_whole, train13

from napari_pathrobust.engine.metrics import aji, evaluate
from napari_pathrobust.engine.registry import get_method


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="bf16")
    args = ap.parse_args()
    full = get_method("psm", device=args.device, maps=False, precision="fp32")
    half = get_method("psm", device=args.device, maps=False, precision=args.precision)
    rows = []
    for tile in train13(args.data):
        rgb, gt = tile.rgb, tile.gt.astype(np.int64)
        out = {}
        for name, method in (("fp32", full), (args.precision, half)):
            start = time.perf_counter()
            labels = segment_whole(rgb, method, tile.stem).astype(np.int64)
            out[name] = (labels, time.perf_counter() - start, method.network_outputs(rgb)[0])
        (a, ta, pa), (b, tb, pb) = out["fp32"], out[args.precision]
        ea, eb = evaluate(gt, a), evaluate(gt, b)
        rows.append([ea["aji"], eb["aji"], ea["object_dice"], eb["object_dice"], aji(a, b),
                     float(np.abs(pa - pb).max()), ta, tb])
    r = np.array(rows)
    print(f"| device | precision | AJI fp32 | AJI {args.precision} | Dice fp32 | "
          f"Dice {args.precision} | AJI({args.precision} vs fp32) min / mean | "
          f"max prob diff | s / tile fp32 | s / tile {args.precision} |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {args.device} | {args.precision} | {r[:, 0].mean():.4f} | {r[:, 1].mean():.4f} | "
          f"{r[:, 2].mean():.4f} | {r[:, 3].mean():.4f} | {r[:, 4].min():.3f} / "
          f"{r[:, 4].mean():.3f} | {r[:, 5].max():.3f} | {r[:, 6].mean():.2f} | "
          f"{r[:, 7].mean():.2f} |")


if __name__ == "__main__":
    main()
