"""IHC detection, classes, bins and scores on synthetic H-DAB tiles (issue 17).

For each method (``--stain ihc``) on ``--tiles`` seeded synthetic IHC tiles with known
nuclei, classes and DAB levels (:func:`engine.synthetic.synthetic_ihc_tile`: blue,
weak / moderate / strong brown nuclei, brown cytoplasm rims, pigment): detection F1 at
6 px (Hungarian centroid matching), positive / negative and 1+/2+/3+ bin accuracy on the
matched cells, Ki-67 index and H-score error against the truth (worst tile and mean).
Also the bundled H&E demo crop run as IHC (should be ~0 % positive) and scikit-image's
IHC sample (no truth: counts only). Classes and scores come from
:mod:`napari_pathrobust.engine.ihc.scoring` with its defaults (0.2 / 0.4 / 0.6 OD on
``dab_nucleus_mean``); a local threshold fallback is used if that module is missing.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/eval_ihc_synthetic.py --tiles 8
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree

from napari_pathrobust._sample_data import IHC_SAMPLE_MPP
from napari_pathrobust.engine.ihc.scoring import IhcThresholds, classify_cells, ihc_summary
from napari_pathrobust.engine.io import slide_from_array
from napari_pathrobust.engine.nucleus_records import features_table
from napari_pathrobust.engine.registry import get_method
from napari_pathrobust.engine.synthetic import synthetic_ihc_tile
from napari_pathrobust.engine.tiled.pipeline import segment_slide

TARGETS = {"f1": 0.85, "pn_acc": 0.95, "bin_acc": 0.85, "ki67_err": 2.0, "h_err": 10.0}

def score(table):
    """Classes (bins 0.2 / 0.4 / 0.6 on dab_nucleus_mean) and the summary, as a run does."""
    t = IhcThresholds(mode="bins")
    return classify_cells(table, t), ihc_summary(table, t)


def run(method_name: str, rgb: np.ndarray, mpp=None):
    """Segment one image as IHC: (cell table with the IHC columns, labels, seconds)."""
    kw = {"device": "cpu"} if method_name == "psm" else {}
    method = get_method(method_name, stain="ihc", **kw)
    start = time.perf_counter()
    res = segment_slide(slide_from_array(rgb, mpp=mpp), method, workers=1,
                        keep_records=True, polygons=False)
    seconds = time.perf_counter() - start
    return features_table(res.records), np.asarray(res.labels), seconds


def match(truth_yx: np.ndarray, pred_yx: np.ndarray, radius: float = 6.0):
    """One-to-one Hungarian matching within ``radius``: (truth index, pred index) pairs."""
    if not len(truth_yx) or not len(pred_yx):
        return np.zeros(0, int), np.zeros(0, int)
    cost = np.full((len(truth_yx), len(pred_yx)), 1e6)
    pairs = cKDTree(truth_yx).query_ball_tree(cKDTree(pred_yx), radius)
    for i, js in enumerate(pairs):
        for j in js:
            cost[i, j] = np.hypot(*(truth_yx[i] - pred_yx[j]))
    ti, pj = linear_sum_assignment(cost)
    ok = cost[ti, pj] <= radius
    return ti[ok], pj[ok]


def evaluate_tile(method_name: str, seed: int, size: int) -> dict:
    rgb, _, truth = synthetic_ihc_tile(size=size, seed=seed)
    table, _, seconds = run(method_name, rgb)
    table, summary = score(table)
    pred_yx = np.stack([table["y"], table["x"]], axis=1) if len(table["x"]) else np.zeros((0, 2))
    ti, pj = match(truth[["y", "x"]].to_numpy(), pred_yx)
    tp = len(ti)
    f1 = 2 * tp / (len(truth) + len(pred_yx)) if len(truth) + len(pred_yx) else 1.0
    pred_bin = np.asarray(table["ihc_bin"])[pj]
    true_bin = truth["bin"].to_numpy()[ti]
    pct = np.bincount(truth["bin"], minlength=4) / len(truth) * 100
    return {"f1": f1, "pn_acc": float(np.mean((pred_bin > 0) == (true_bin > 0))),
            "bin_acc": float(np.mean(pred_bin == true_bin)),
            "ki67_err": abs(summary["labelling_index"] - truth["positive"].mean() * 100),
            "h_err": abs(summary["h_score"] - (pct[1] + 2 * pct[2] + 3 * pct[3])),
            "seconds": seconds, "mp": size * size / 1e6}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiles", type=int, default=8, help="synthetic tiles (seeds 0..N-1)")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--methods", nargs="+", default=["classical", "psm"])
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    rows = []
    for name in args.methods:
        per = [evaluate_tile(name, seed, args.size) for seed in range(args.tiles)]
        agg = {k: np.array([p[k] for p in per]) for k in per[0]}
        rows.append((name, agg))
        print(f"{name}: " + ", ".join(f"{k} {v.mean():.3f}" for k, v in agg.items()), flush=True)
    print(f"{args.tiles} synthetic IHC tiles of {args.size} x {args.size} px (seeds "
          f"0-{args.tiles - 1}); worst tile (mean) per column.\n")
    print("| method | detection F1 @ 6 px | pos/neg accuracy | bin accuracy | "
          "Ki-67 index error (points) | H-score error | s per tile |")
    print("|---|---|---|---|---|---|---|")
    for name, a in rows:
        print(f"| {name} | {a['f1'].min():.3f} ({a['f1'].mean():.3f}) | "
              f"{a['pn_acc'].min():.3f} ({a['pn_acc'].mean():.3f}) | "
              f"{a['bin_acc'].min():.3f} ({a['bin_acc'].mean():.3f}) | "
              f"{a['ki67_err'].max():.2f} ({a['ki67_err'].mean():.2f}) | "
              f"{a['h_err'].max():.1f} ({a['h_err'].mean():.1f}) | "
              f"{a['seconds'].mean():.2f} |")
    print(f"| target | >= {TARGETS['f1']} | >= {TARGETS['pn_acc']} | >= {TARGETS['bin_acc']} "
          f"| <= {TARGETS['ki67_err']:g} | <= {TARGETS['h_err']:g} | |")

    from skimage.data import immunohistochemistry

    from napari_pathrobust._resources import DEMO_IMAGE, resource_path
    from napari_pathrobust.engine.io import open_image

    he = np.asarray(open_image(resource_path(DEMO_IMAGE)).data.compute())[..., :3]
    print("\n| image | method | cells | positive | Ki-67 index % | H-score |")
    print("|---|---|---|---|---|---|")
    for label, rgb, mpp in (("H&E demo crop run as IHC", he, 0.25),
                            (f"scikit-image IHC sample (no truth, {IHC_SAMPLE_MPP} um/px)",
                             immunohistochemistry(), IHC_SAMPLE_MPP)):
        for name in args.methods:
            table, _, _ = run(name, rgb, mpp)
            _, s = score(table)
            print(f"| {label} | {name} | {s['n_cells']} | {s['n_positive']} | "
                  f"{s['labelling_index']:.1f} | {s['h_score']:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
