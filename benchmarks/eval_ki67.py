"""Ki-67 on real fields: detection, positive/negative F1 and the labelling index against
per-cell truth (../shared/data/ki67-dev), run as a user runs it.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/eval_ki67.py [--sets deepliif glioma]
        [--methods psm classical] [--extra --param ...] [--out /tmp/ki67-eval]

Each field goes through `pathrobust segment --stain ihc` in a child process (defaults,
no pixel size given unless ``--extra --mpp X``), so the figures include what a user
gets. Scoring follows the data's README: predicted cell centres are matched to truth
points one-to-one (Hungarian) within 10 px at 40x (2.5 um; the radius scales with the
set's pixel size: 0.25 um/px for deepliif, ~0.13 for glioma), for all cells (detection
F1) and per class (a positive matched to a positive: positive F1; likewise negative
F1). The Ki-67 index error is |predicted - true| positive share in percentage points.
Truth is read only to score. Each set's mean is followed by the means over its
tuning fields (:data:`TUNING_FIELDS`, looked at while tuning) and its report fields.
``--cells tumour`` (default) scores the cells counted in the tumour-cell index (the
label-free cell-type rule leaves immune and stromal nuclei out:
engine/ihc/cell_type.py), ``--cells all`` every detected cell; ``--rescore`` scores an
earlier ``--out`` folder again without running anything.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

import numpy as np
from _harness import SHARED, run_segment
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree

from napari_pathrobust.engine.ihc.cell_type import COLUMNS as TYPE_COLUMNS
from napari_pathrobust.engine.ihc.cell_type import TUMOUR, cell_types

KI67 = SHARED / "data" / "ki67-dev"
#: the sets' pixel sizes for the match radius only (never given to the method)
SET_MPP = {"deepliif": 0.25, "glioma": 0.13}
RADIUS_UM = 2.5
#: fields looked at while tuning (docs/ihc.md); the others are only scored to report
TUNING_FIELDS = ("test_22_2", "test_34_3", "test_6_2", "test_799_2",
                 "1309620_A2-27", "1309620_A2-28")
POSITIVE = ("Positive", "1+", "2+", "3+")


def read_truth(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2) x/y centres and a boolean 'positive' per cell from a points CSV."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    xy = np.array([[float(r["x"]), float(r["y"])] for r in rows]).reshape(-1, 2)
    return xy, np.array([r["cls"] == "positive" for r in rows], bool)


def read_predicted(path: Path, tumour_only: bool = False
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centres, 'positive' and 'counted in the index' per predicted cell (all cells, or
    with ``tumour_only`` the cells the label-free cell-type rule calls Tumor:
    engine/ihc/cell_type.py, on the CSV's measurements)."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    xy = np.array([[float(r["x"]), float(r["y"])] for r in rows]).reshape(-1, 2)
    names = [r.get("intensity_class") or r.get("classification") or "" for r in rows]
    positive = np.array([n.split(":")[-1].strip() in POSITIVE for n in names], bool)
    counted = np.ones(len(rows), bool)
    if tumour_only and rows:
        if "cell_type" in rows[0]:
            types = np.array([r["cell_type"] for r in rows], object)
        else:
            table = {"label": np.arange(len(rows))}
            for key in TYPE_COLUMNS:
                if key in rows[0]:
                    table[key] = np.array([float(r[key] or "nan") for r in rows])
            types = cell_types(table)
        counted = types == TUMOUR
    return xy, positive, counted


def matched(pred: np.ndarray, truth: np.ndarray, radius: float) -> int:
    """Pairs of a one-to-one (Hungarian) matching within ``radius``."""
    if len(pred) == 0 or len(truth) == 0:
        return 0
    pairs = cKDTree(pred).sparse_distance_matrix(cKDTree(truth), radius).tocoo()
    if pairs.nnz == 0:
        return 0
    cost = np.full((len(pred), len(truth)), 1e6)
    cost[pairs.row, pairs.col] = pairs.data
    rows, cols = linear_sum_assignment(cost)
    return int(np.sum(cost[rows, cols] <= radius))


def f1(pred: np.ndarray, truth: np.ndarray, radius: float) -> float:
    if len(pred) + len(truth) == 0:
        return 1.0
    return 2 * matched(pred, truth, radius) / (len(pred) + len(truth))


def score_field(pred_csv: Path, truth_csv: Path, mpp: float, tumour_only: bool = False
                ) -> dict:
    """Detection, positive and negative F1 and Ki-67 indices of one field."""
    radius = RADIUS_UM / mpp
    txy, tpos = read_truth(truth_csv)
    pxy, ppos, counted = read_predicted(pred_csv, tumour_only)
    pxy, ppos = pxy[counted], ppos[counted]
    return {"det_f1": f1(pxy, txy, radius),
            "pos_f1": f1(pxy[ppos], txy[tpos], radius),
            "neg_f1": f1(pxy[~ppos], txy[~tpos], radius),
            "index": 100 * ppos.mean() if len(ppos) else 0.0,
            "true_index": 100 * tpos.mean() if len(tpos) else 0.0,
            "n_pred": len(pxy), "n_true": len(txy)}


def _print_mean(name: str, method: str, label: str, rows: list[dict]) -> None:
    mean = {k: float(np.mean([r[k] for r in rows]))
            for k in ("det_f1", "pos_f1", "neg_f1", "seconds", "peak_mb")}
    err = float(np.mean([abs(r["index"] - r["true_index"]) for r in rows]))
    print(f"| {name} | {method} | **{label} {len(rows)}** | | "
          f"**{mean['det_f1']:.3f}** | **{mean['pos_f1']:.3f}** | "
          f"**{mean['neg_f1']:.3f}** | | **{err:.1f}** | {mean['seconds']:.1f} "
          f"| {mean['peak_mb']:.0f} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="+", default=list(SET_MPP))
    ap.add_argument("--methods", nargs="+", default=["psm", "classical"])
    ap.add_argument("--fields", nargs="*", default=None, help="only these stems")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--rescore", action="store_true",
                    help="score the outputs already in --out (no run)")
    ap.add_argument("--cells", choices=("tumour", "all"), default="tumour",
                    help="score the cells of the tumour index (default) or all cells")
    ap.add_argument("--extra", nargs=argparse.REMAINDER, default=[],
                    help="more `pathrobust segment` arguments (last on the line)")
    args = ap.parse_args()
    root = args.out or Path(tempfile.mkdtemp(prefix="ki67-eval-"))
    print("| set | method | field | cells (pred/true) | detection F1 | positive F1 "
          "| negative F1 | index (pred/true) | index error | s | peak MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for method in args.methods:
        for name in args.sets:
            rows = []
            for image in sorted((KI67 / name / "images").glob("*.png")):
                if args.fields and image.stem not in args.fields:
                    continue
                outdir = root / method / name / image.stem
                if args.rescore:
                    run = {"seconds": float("nan"), "peak_mb": float("nan")}
                else:
                    run = run_segment(image, outdir, ["--method", method, "--stain", "ihc",
                                                      "--workers", "1", *args.extra])
                row = score_field(outdir / f"{image.stem}_points.csv",
                                  KI67 / name / "points" / f"{image.stem}.csv", SET_MPP[name],
                                  args.cells == "tumour")
                row.update(seconds=run["seconds"], peak_mb=run["peak_mb"],
                           tuning=image.stem in TUNING_FIELDS)
                rows.append(row)
                print(f"| {name} | {method} | {image.stem} | {row['n_pred']}/{row['n_true']} "
                      f"| {row['det_f1']:.3f} | {row['pos_f1']:.3f} | {row['neg_f1']:.3f} "
                      f"| {row['index']:.1f}/{row['true_index']:.1f} "
                      f"| {abs(row['index'] - row['true_index']):.1f} "
                      f"| {row['seconds']:.1f} | {row['peak_mb']:.0f} |", flush=True)
            groups = {"mean of": rows,
                      "tuning fields, mean of": [r for r in rows if r["tuning"]],
                      "report fields, mean of": [r for r in rows if not r["tuning"]]}
            for label, group in groups.items():
                if group and (label == "mean of" or len(group) < len(rows)):
                    _print_mean(name, method, label, group)


if __name__ == "__main__":
    main()
