"""Any magnification (issue 15): train-13 resampled to other pixel sizes, segmented by
``pathrobust segment`` and scored against labels resampled the same way.

Each labelled MoNuSeg train-13 tile (1000 x 1000, 40x, ~0.25 um/px) is resampled here
with Pillow (antialiased bicubic, edge-aligned: the output covers the same tissue) to
0.5, 0.35 and 0.125 um/px and written as a TIFF with its resolution tags (pixels per
cm); its labels are resampled by nearest neighbour on the same grid. 0.25 is the 40x
reference, written the same way. ``segment`` then reads the pixel size from the tags and
works at the method's resolution. Scores: the project's metrics (engine/metrics.py);
speed: segmentation seconds per mm2 of tissue (from ``_run.json``).

    PYTHONPATH=src .venv/bin/python benchmarks/eval_mpp.py [--tiles N] [--methods psm classical]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import DATA, train13  # noqa: E402

SCALES = (0.25, 0.5, 0.35, 0.125)
SOURCE_MPP = 0.25


def resample_tile(rgb: np.ndarray, gt: np.ndarray, mpp: float):
    """(image, labels) of a 0.25 um/px tile at ``mpp`` (same extent, origin-anchored)."""
    from PIL import Image

    factor = SOURCE_MPP / mpp
    ny, nx = (max(1, int(round(n * factor))) for n in rgb.shape[:2])
    if (ny, nx) == rgb.shape[:2]:
        return rgb, gt
    img = np.asarray(Image.fromarray(rgb).resize((nx, ny), Image.BICUBIC, reducing_gap=None))
    iy = np.clip(np.floor((np.arange(ny) + 0.5) * rgb.shape[0] / ny).astype(int), 0,
                 rgb.shape[0] - 1)
    ix = np.clip(np.floor((np.arange(nx) + 0.5) * rgb.shape[1] / nx).astype(int), 0,
                 rgb.shape[1] - 1)
    return np.ascontiguousarray(img), np.ascontiguousarray(gt[iy[:, None], ix[None, :]])


def write_tiles(folder: Path, tiles, mpp: float) -> dict[str, np.ndarray]:
    """TIFFs with resolution tags in ``folder``; returns the resampled labels by stem."""
    import tifffile

    folder.mkdir(parents=True, exist_ok=True)
    labels = {}
    for tile in tiles:
        img, gt = resample_tile(tile.rgb, tile.gt, mpp)
        tifffile.imwrite(folder / f"{tile.stem}.tif", img, photometric="rgb",
                         resolution=(1e4 / mpp, 1e4 / mpp), resolutionunit="CENTIMETER")
        labels[tile.stem] = gt
    return labels


def run_scale(method: str, folder: Path, out: Path, labels: dict, mpp: float) -> dict:
    import tifffile

    from napari_pathrobust.cli import main
    from napari_pathrobust.engine.metrics import evaluate

    code = main(["-q", "segment", str(folder), "-o", str(out), "--method", method,
                 "--workers", "1"])
    if code != 0:
        raise SystemExit(f"segment failed at {mpp} um/px ({method})")
    rows, per_mm2 = [], []
    for stem, gt in labels.items():
        pred = tifffile.imread(out / f"{stem}_labels.tif").astype(np.int64)
        run = json.loads((out / f"{stem}_run.json").read_text())
        assert run["pixel_size"]["mpp"] == mpp, run["pixel_size"]
        scores = evaluate(gt.astype(np.int64), pred)
        rows.append([scores["aji"], scores["object_dice"]])
        area_mm2 = gt.shape[0] * gt.shape[1] * mpp * mpp / 1e6
        per_mm2.append(run["seconds"] / area_mm2)
    aji, dice = np.mean(rows, axis=0)
    return {"aji": float(aji), "object_dice": float(dice),
            "s_per_mm2": float(np.mean(per_mm2)), "n": len(rows)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--out", type=Path, default=Path("/tmp/eval-mpp"))
    ap.add_argument("--tiles", type=int, default=0, help="first N tiles only (0: all 13)")
    ap.add_argument("--methods", nargs="+", default=["psm", "classical"])
    ap.add_argument("--scales", nargs="+", type=float, default=list(SCALES))
    args = ap.parse_args(argv)
    tiles = list(train13(args.data))
    tiles = tiles[:args.tiles] if args.tiles else tiles
    results = {}
    for mpp in args.scales:
        folder = args.out / f"images_{mpp:g}"
        labels = write_tiles(folder, tiles, mpp)
        for method in args.methods:
            res = run_scale(method, folder, args.out / f"{method}_{mpp:g}", labels, mpp)
            results[(method, mpp)] = res
            print(f"{method} {mpp:g} um/px: AJI {res['aji']:.3f} Dice {res['object_dice']:.3f} "
                  f"{res['s_per_mm2']:.2f} s/mm2", flush=True)
    print(f"\n| method | um/px | AJI | object Dice | dAJI vs 0.25 | dDice vs 0.25 | s per mm2 |"
          f"  ({len(tiles)} train-13 tiles)")
    print("|---|---|---|---|---|---|---|")
    for (method, mpp), res in results.items():
        ref = results.get((method, SOURCE_MPP))
        d_aji = f"{res['aji'] - ref['aji']:+.3f}" if ref else "-"
        d_dice = f"{res['object_dice'] - ref['object_dice']:+.3f}" if ref else "-"
        print(f"| {method} | {mpp:g} | {res['aji']:.3f} | {res['object_dice']:.3f} | {d_aji} "
              f"| {d_dice} | {res['s_per_mm2']:.2f} |")
    (args.out / "eval_mpp.json").write_text(json.dumps(
        [{"method": m, "mpp": s, **r} for (m, s), r in results.items()], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
