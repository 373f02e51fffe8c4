#!/usr/bin/env python3
"""Time every corruption on a 1024x1024 tile (preview targets) and, optionally, the full
robustness report on one 1000x1000 image (11 kinds x 5 severities, classical).

    .venv/bin/python benchmarks/bench_corruptions.py [--device cpu] [--repeat 5] [--report]

Targets (2-core CPU): photometric <= 100 ms, geometric <= 300 ms per 1024^2 preview;
report < 120 s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from _harness import DATA  # noqa: E402

from napari_pathrobust.engine.corrupt import BENCHMARK_KINDS, CORRUPTIONS, corrupt  # noqa: E402

TARGET_MS = {"photometric": 100, "geometric": 300}


def _image(side: int) -> np.ndarray:
    import tifffile

    files = sorted((DATA / "images").glob("*.tif"))
    if files:
        img = tifffile.imread(files[0])[..., :3]
        reps = -(-side // min(img.shape[:2]))
        img = np.tile(img, (reps, reps, 1)) if reps > 1 else img
        return np.ascontiguousarray(img[:side, :side])
    from napari_pathrobust.engine.synthetic import synthetic_he_tile

    return synthetic_he_tile((side, side), seed=0)[0]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--report", action="store_true", help="also time the full report")
    args = ap.parse_args(argv)
    img = _image(1024)
    print("| kind | family | severity 3 median ms | severity 5 median ms | target ms | ok |")
    print("|---|---|---|---|---|---|")
    for name, spec in CORRUPTIONS.items():
        meds = []
        for sev in (3, 5):
            corrupt(img, name, sev, 0, args.device)
            ts = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                corrupt(img, name, sev, 0, args.device)
                ts.append((time.perf_counter() - t) * 1000)
            meds.append(float(np.median(ts)))
        target = TARGET_MS.get(spec.family)
        ok = "" if target is None else ("yes" if max(meds) <= target else "NO")
        print(f"| {name} | {spec.family} | {meds[0]:.0f} | {meds[1]:.0f} | "
              f"{target or '-'} | {ok} |")
    if args.report:
        from napari_pathrobust.engine.jobs.robustness import robustness_report
        from napari_pathrobust.engine.robustness import RobustnessImage

        big = _image(1000)
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            robustness_report([RobustnessImage("bench", big)], tmp, "classical",
                              list(BENCHMARK_KINDS), [1, 2, 3, 4, 5], 0, args.device)
            print(f"full report, 1000x1000, 11 kinds x 5 severities, classical: "
                  f"{time.perf_counter() - t:.1f} s (target < 120 s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
