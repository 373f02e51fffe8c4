"""Pixel size estimated from the nuclei (engine/ihc/pixel_size.py) on images of known
pixel size: MoNuSeg train-13 (H&E, 0.25 um/px) resampled to 0.5, 0.35 and 0.125 um/px
(as benchmarks/eval_mpp.py does), and ki67-dev deepliif (IHC, 40x, ~0.25 um/px) and
glioma (IHC, camera, ~0.13 um/px by its README, an estimate itself).

The constant (NUCLEUS_DIAMETER_UM) was calibrated on the MoNuSeg tuning tiles (odd name
positions) at 0.25; --part report scores the even ones, and the IHC sets are never used
to tune.

    OMP_NUM_THREADS=1 PYTHONPATH=src .venv/bin/python benchmarks/eval_mpp_estimate.py \\
        [--part tune|report|all]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import SHARED, train13  # noqa: E402
from eval_mpp import PARTS, SCALES, resample_tile  # noqa: E402

from napari_pathrobust.engine.ihc.pixel_size import (  # noqa: E402
    NUCLEUS_DIAMETER_UM,
    nucleus_widths,
    weighted_median,
)

KI67 = SHARED / "data" / "ki67-dev"
KI67_MPP = {"deepliif": 0.25, "glioma": 0.13}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=list(PARTS), default="all")
    args = ap.parse_args()
    from skimage.io import imread

    print("| image | stain | true um/px | estimated | error % |")
    print("|---|---|---|---|---|")
    errs: dict = {}
    tune_widths = []
    for i, tile in enumerate(train13()):
        if not PARTS[args.part](i):
            continue
        for mpp in SCALES:
            img, _ = resample_tile(tile.rgb, tile.gt, mpp)
            w = weighted_median(*nucleus_widths(img, "he"))
            if mpp == 0.25 and i % 2 == 1:
                tune_widths.append(w * mpp)
            est = NUCLEUS_DIAMETER_UM / w
            e = 100 * (est - mpp) / mpp
            errs.setdefault(f"monuseg {mpp}", []).append(e)
            print(f"| {tile.stem} | he | {mpp} | {est:.3f} | {e:+.1f} |", flush=True)
    for name, mpp in KI67_MPP.items():
        for path in sorted((KI67 / name / "images").glob("*.png")):
            w = weighted_median(*nucleus_widths(imread(path)[..., :3], "ihc"))
            est = NUCLEUS_DIAMETER_UM / w
            e = 100 * (est - mpp) / mpp
            errs.setdefault(f"{name} {mpp}", []).append(e)
            print(f"| {name}/{path.stem} | ihc | {mpp} | {est:.3f} | {e:+.1f} |", flush=True)
    if tune_widths:
        print(f"\ntuning tiles at 0.25: median single-nucleus diameter "
              f"{np.median(tune_widths):.2f} um (NUCLEUS_DIAMETER_UM={NUCLEUS_DIAMETER_UM})")
    for k, v in errs.items():
        v = np.abs(v)
        print(f"{k}: mean |error| {np.mean(v):.1f} %, max {np.max(v):.1f} % ({len(v)} images)")


if __name__ == "__main__":
    main()
