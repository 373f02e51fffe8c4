#!/usr/bin/env python3
"""Sensitivity of a project method to the 11 benchmark corruptions on MoNuSeg train-13.

GT labels are carried through every geometric transform. Affordable on 2 shared cores:
a centred ``--crop`` (default 512) of each of the 13 labelled tiles, severities 1,3,5.
Prints the kind ranking (mean AJI drop from clean) and writes the full report.

    .venv/bin/python benchmarks/eval_robustness_train13.py [--method classical]
        [--crop 512] [--severities 1,3,5] [--out /tmp/robustness-train13]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from _harness import DATA  # noqa: E402

from napari_pathrobust.engine.corrupt import BENCHMARK_KINDS  # noqa: E402
from napari_pathrobust.engine.jobs.robustness import robustness_files  # noqa: E402
from napari_pathrobust.engine.robustness import parse_severities, summarise  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--method", default="classical")
    ap.add_argument("--crop", type=int, default=512)
    ap.add_argument("--severities", default="1,3,5")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("/tmp/robustness-train13"))
    args = ap.parse_args(argv)
    gt = args.data / "labels"
    stems = sorted(p.stem for p in gt.glob("*.tif"))
    images = [args.data / "images" / f"{s}.tif" for s in stems]
    t0 = time.perf_counter()
    res = robustness_files(images, args.out, args.method, list(BENCHMARK_KINDS),
                           parse_severities(args.severities), gt_dir=gt, seed=args.seed,
                           crop=args.crop, device="cpu")
    secs = time.perf_counter() - t0
    print(f"{args.method} on train-13 ({len(images)} tiles, crop {args.crop or 'none'}, "
          f"severities {args.severities}, seed {args.seed}): {secs:.0f} s")
    metrics = ["aji", "object_dice", "pixel_f1", "detection_f1"]
    tables = {m: summarise(res["rows"], m) for m in metrics}
    clean = {m: next(iter(tables[m].values()))[0] for m in metrics}
    print("clean: " + ", ".join(f"{m} {v:.3f}" for m, v in clean.items()))
    sevs = parse_severities(args.severities)
    print("| rank | kind | mean AJI drop | " + " | ".join(f"AJI s{s}" for s in sevs)
          + " | " + " | ".join(f"det F1 s{s}" for s in sevs) + " |")
    print("|---" * (3 + 2 * len(sevs)) + "|")
    for i, (kind, drop) in enumerate(res["ranking"], 1):
        a = " | ".join(f"{tables['aji'][kind][s]:.3f}" for s in sevs)
        d = " | ".join(f"{tables['detection_f1'][kind][s]:.3f}" for s in sevs)
        print(f"| {i} | {kind} | {drop:.3f} | {a} | {d} |")
    print(f"report: {res['html']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
