"""The objectness filter on the 17 MoNuSeg tiles outside train-13 (issue 26).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/eval_objectness_masks.py

Those tiles have no instance labels, only approximate binary nucleus masks
(``binary_masks/``, foreground IoU 0.92-0.97 against the labels where both exist): they
score pixel F1 and nothing else, and say how many of the objects the filter drops lie
mostly inside a masked nucleus. psm, colours as scanned, each tile whole through the
pipeline; rows: no filter, the default filter, and the default with a fixed 150 px
area for the trusted nuclei (``MEDIAN_SHARE`` off), the variant this check replaced.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from _harness import DATA, segment_whole


def main() -> None:
    import tifffile

    from napari_pathrobust.engine.psm import objectness
    from napari_pathrobust.engine.registry import get_method

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    args = ap.parse_args()
    labelled = {p.stem for p in (args.data / "labels").glob("*.tif")}
    tiles = [p for p in sorted((args.data / "images").glob("*.tif")) if p.stem not in labelled]
    rows = {"no filter (objectness=0)": (0.0, 0.5), "default filter": (6.0, 0.5),
            "default, trusted nuclei >= 150 px": (6.0, 1e9)}
    f1 = {name: [] for name in rows}
    dropped = {name: [0, 0] for name in rows}
    for path in tiles:
        rgb = tifffile.imread(path)[..., :3]
        mask = tifffile.imread(args.data / "binary_masks" / path.name) > 0
        ref = None
        for name, (cutoff, share) in rows.items():
            objectness.MEDIAN_SHARE = share
            method = get_method("psm", device="cpu", maps=False, normalise=False,
                                objectness=cutoff)
            labels = segment_whole(rgb, method, path.stem)
            fg = labels > 0
            f1[name].append(2 * (fg & mask).sum() / (fg.sum() + mask.sum()))
            if ref is None:
                ref = labels
                continue
            gone = np.setdiff1d(np.unique(ref[(ref > 0) & ~fg]), [0])
            inside = np.bincount(ref.ravel(), weights=mask.ravel(), minlength=ref.max() + 1)
            area = np.bincount(ref.ravel(), minlength=ref.max() + 1)
            dropped[name][0] += gone.size
            dropped[name][1] += int((inside[gone] / area[gone] > 0.5).sum())
        print(path.stem, " ".join(f"{v[-1]:.3f}" for v in f1.values()), flush=True)
    objectness.MEDIAN_SHARE = 0.5
    print(f"\n{len(tiles)} tiles outside train-13\n")
    print("| run | pixel F1 (mean) | objects dropped | of them mostly inside a masked nucleus |")
    print("|---|---|---|---|")
    for name in rows:
        n, inside = dropped[name]
        print(f"| {name} | {np.mean(f1[name]):.4f} | {n} | {inside} |")


if __name__ == "__main__":
    main()
