"""Cell classifier: balanced accuracy against the number of named cells per class.

For each data set, every cell is measured once (``api.measure_cells`` on the image and
the truth labels, so the figure is about classifying, not segmenting); for each n in
--counts and each seed, n cells per class are drawn as the pathologist's named cells, a
classifier is fitted on them (``api.CellClassifier.fit``) and every other cell is
classified; the score is scikit-learn's balanced accuracy on those.

Data sets:
- ``ki67-deepliif``, ``ki67-glioma``: /work/shared/data/ki67-dev (real Ki-67 IHC fields,
  per-cell positive / negative truth; an intensity-type class, see its README)
- ``synthetic``: generated H&E-like cells of three types that differ in size, shape,
  stain and density with overlapping distributions (known classes).
- ``brca-m2c``: real cell types. BRCA-M2C (Abousamra et al., ICCV 2021; TopoXLab/
  Dataset-BRCA-M2C @ 90e5954, BSD-3-Clause): 120 TCGA breast-cancer H&E patches at
  about 0.5 um/px, 113 patients, with a dot per cell classed lymphocyte, tumour /
  epithelial or stromal. Fetch it into the cache (never the project):
  ``git clone https://github.com/TopoXLab/Dataset-BRCA-M2C
  ~/.cache/pathrobust/celltype/brca_m2c``. The set has centres, not masks, so the cells
  are the nuclei our own run found, as a pathologist would name them: segment the
  patches first (``pathrobust segment <cache>/images/*.png --mpp 0.5 -o DIR``, give DIR
  as ``--brca-results``); a nucleus takes the class of the one dot inside its mask
  (nuclei with none or several are not named). Named cells are drawn from the authors'
  train + val patches and scored on their 30 test patches (other patients' slides:
  ``across slides``); ``brca-m2c-pooled`` draws and scores within the test patches.

Run: ``OMP_NUM_THREADS=1 python benchmarks/eval_classifier.py`` (results JSON in
~/.cache/pathrobust/eval_classifier.json, a Markdown table on stdout).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from napari_pathrobust.engine import api
from napari_pathrobust.engine.stain import RGB_FROM_HED

KI67 = Path("/work/shared/data/ki67-dev")
#: pixel sizes: deepliif 40x (about 0.25 um/px); glioma undocumented (about 0.13 um/px)
KI67_MPP = {"deepliif": 0.25, "glioma": 0.13}
BRCA = Path.home() / ".cache/pathrobust/celltype/brca_m2c"
BRCA_CLASSES = {1: "Immune cells", 2: "Tumor", 3: "Stroma"}
BRCA_MPP = 0.5


def ki67_cells(name: str):
    """Feature table and class per cell of every field of one ki67-dev set."""
    import csv

    import tifffile
    from skimage.io import imread

    tables, classes = [], []
    for image in sorted((KI67 / name / "images").glob("*.png")):
        rgb = imread(image)[..., :3]
        labels = tifffile.imread(KI67 / name / "labels" / f"{image.stem}.tif")
        with open(KI67 / name / "points" / f"{image.stem}.csv", newline="") as fh:
            cls = [row["cls"] for row in csv.DictReader(fh)]
        table = api.measure_cells(rgb, labels, KI67_MPP[name])
        keep = (table["label"] >= 1) & (table["label"] <= len(cls))
        tables.append({k: v[keep] for k, v in table.items()})
        classes += [cls[v - 1] for v in table["label"][keep]]
    return _stack(tables), np.asarray(classes)


def synthetic_cells(seed: int = 0, size: int = 1024, fields: int = 4):
    """Three cell types on generated H&E fields: tumour (large, pale, irregular, crowded),
    lymphocyte (small, dark, round) and stromal (elongated, mid-dark, sparse)."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    kinds = {  # size (px, 0.5 um/px), aspect, hematoxylin, eosin around, share
        "Tumor": ((7, 12), (0.6, 1.0), (0.35, 0.75), (0.2, 0.45), 0.45),
        "Immune cells": ((5, 9), (0.75, 1.0), (0.5, 0.95), (0.15, 0.4), 0.35),
        "Stroma": ((6, 11), (0.35, 0.75), (0.4, 0.8), (0.3, 0.6), 0.20)}
    names = list(kinds)
    tables, classes = [], []
    for _ in range(fields):
        h_od = np.zeros((size, size), np.float32)
        e_od = np.full((size, size), 0.15, np.float32) + rng.normal(0, 0.03, (size, size))
        labels = np.zeros((size, size), np.int32)
        truth = []
        yy, xx = np.mgrid[:size, :size]
        for k in range(1, 700):
            kind = names[rng.choice(3, p=[kinds[n][4] for n in names])]
            (r0, r1), (a0, a1), (h0, h1), (e0, e1), _ = kinds[kind]
            cy, cx = rng.uniform(20, size - 20, 2)
            if kind == "Tumor" and truth and rng.random() < 0.6:  # tumour cells cluster
                ty, tx = truth[rng.integers(len(truth))][1:]
                cy, cx = np.clip([ty + rng.normal(0, 25), tx + rng.normal(0, 25)], 20,
                                 size - 20)
            a = rng.uniform(r0, r1)
            b = a * rng.uniform(a0, a1)
            t = rng.uniform(0, np.pi)
            box = (slice(int(cy - a - 6), int(cy + a + 6)), slice(int(cx - a - 6), int(cx + a + 6)))
            dy, dx = yy[box] - cy, xx[box] - cx
            u, v = dy * np.cos(t) + dx * np.sin(t), -dy * np.sin(t) + dx * np.cos(t)
            wobble = 1 + (0.15 if kind == "Tumor" else 0.05) * np.sin(
                rng.integers(3, 7) * np.arctan2(v, u) + rng.uniform(0, 6))
            inside = (u / a) ** 2 + (v / b) ** 2 <= wobble ** 2
            if labels[box][inside].any() or not inside.any():
                continue
            labels[box][inside] = k
            h_od[box][inside] = rng.uniform(h0, h1) + rng.normal(0, 0.12, inside.sum())
            ring = ((u / (a + 4)) ** 2 + (v / (b + 4)) ** 2 <= 1) & ~inside
            e_od[box][ring] = rng.uniform(e0, e1)
            truth.append((kind, cy, cx))
        od = (np.clip(h_od, 0, None)[..., None] * RGB_FROM_HED[0]
              + np.clip(e_od, 0, None)[..., None] * RGB_FROM_HED[1])
        od = ndimage.gaussian_filter(od, (0.7, 0.7, 0))
        rgb = np.clip(256 * 10 ** -od - 1 + rng.normal(0, 3, od.shape), 0, 255).astype(np.uint8)
        labels, _ = _relabel(labels)
        kind_of = {}
        for (kind, cy, cx) in truth:
            value = labels[int(cy), int(cx)] if labels[int(cy), int(cx)] else 0
            if value:
                kind_of[int(value)] = kind
        table = api.measure_cells(rgb, labels, 0.5)
        keep = np.isin(table["label"], list(kind_of))
        tables.append({k: v[keep] for k, v in table.items()})
        classes += [kind_of[int(v)] for v in table["label"][keep]]
    return _stack(tables), np.asarray(classes)


def brca_cells(results: Path, root: Path = BRCA):
    """Feature table, class and split ('test' or 'train') of every BRCA-M2C nucleus of
    our run in ``results`` that holds exactly one truth dot."""
    import tifffile
    from skimage.io import imread

    test = set((root / "brca_ds_test.txt").read_text().split())
    tables, classes, split = [], [], []
    for image in sorted((root / "images").glob("*.png")):
        found = results / f"{image.stem}_labels.tif"
        if not found.is_file():
            raise SystemExit(f"{found}: not found; segment the patches first (--help)")
        rgb = imread(image)[..., :3]
        labels = tifffile.imread(found)
        dots = np.loadtxt(root / "labels" / f"{image.stem}_gt_class_coords.txt",
                          dtype=np.int64, ndmin=2)
        ys = np.clip(dots[:, 0], 0, labels.shape[0] - 1)
        xs = np.clip(dots[:, 1], 0, labels.shape[1] - 1)
        hit = labels[ys, xs].astype(np.int64)
        ids, counts = np.unique(hit[hit > 0], return_counts=True)
        single = set(ids[counts == 1].tolist())
        kind = {int(v): BRCA_CLASSES[int(c)] for v, c in zip(hit, dots[:, 2]) if v in single}
        table = api.measure_cells(rgb, labels, BRCA_MPP)
        keep = np.isin(table["label"], list(kind))
        tables.append({k: v[keep] for k, v in table.items()})
        classes += [kind[int(v)] for v in table["label"][keep]]
        split += ["test" if image.name in test else "train"] * int(keep.sum())
    return _stack(tables), np.asarray(classes), np.asarray(split)


def _relabel(labels):
    values, inverse = np.unique(labels, return_inverse=True)
    return inverse.reshape(labels.shape).astype(np.int32), values


def _stack(tables):
    return {k: np.concatenate([t[k] for t in tables]) for k in tables[0]}


def curve(table, classes, counts, seeds, pool=None):
    """{n: [balanced accuracy per seed]}: n cells per class named from ``pool`` (a mask;
    all cells when None), every cell outside the pool, else every other cell, tested."""
    from sklearn.metrics import balanced_accuracy_score

    out = {}
    names = np.unique(classes)
    pool = np.ones(len(classes), bool) if pool is None else np.asarray(pool, bool)
    for n in counts:
        if any((pool & (classes == c)).sum() <= n for c in names):
            continue
        scores = []
        for seed in seeds:
            rng = np.random.default_rng(seed)
            train = np.zeros(len(classes), bool)
            for c in names:
                train[rng.choice(np.flatnonzero(pool & (classes == c)), n,
                                 replace=False)] = True
            tested = ~pool if not pool.all() else ~train
            model = api.CellClassifier.fit({k: v[train] for k, v in table.items()},
                                           list(classes[train]), seed=seed)
            predicted, _ = model.predict({k: v[tested] for k, v in table.items()})
            scores.append(balanced_accuracy_score(classes[tested], predicted.astype(str)))
        out[n] = scores
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="5,10,20,30,50")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--sets", default="ki67-deepliif,ki67-glioma,synthetic")
    parser.add_argument("--brca-results", type=Path, default=None,
                        help="folder of `pathrobust segment` results on the BRCA-M2C "
                             "patches (sets brca-m2c, brca-m2c-pooled)")
    parser.add_argument("--out", type=Path,
                        default=Path.home() / ".cache/pathrobust/eval_classifier.json")
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    results = {}
    for name in args.sets.split(","):
        start = time.perf_counter()
        pool = None
        if name.startswith("brca-m2c"):
            if args.brca_results is None:
                raise SystemExit(f"{name}: give --brca-results (see --help)")
            table, classes, split = brca_cells(args.brca_results)
            if name == "brca-m2c":  # named on train patients, scored on test patients
                pool = split == "train"
            else:
                test = split == "test"
                table = {k: v[test] for k, v in table.items()}
                classes = classes[test]
        else:
            table, classes = (synthetic_cells() if name == "synthetic"
                              else ki67_cells(name.split("-", 1)[1]))
        measured = time.perf_counter() - start
        scores = curve(table, classes, counts, range(args.seeds), pool)
        results[name] = {"cells": {str(c): int((classes == c).sum())
                                   for c in np.unique(classes)},
                         "measure_s": round(measured, 2),
                         "balanced_accuracy": {str(n): s for n, s in scores.items()}}
        print(f"{name}: {len(classes)} cells {results[name]['cells']}, measured in "
              f"{measured:.1f} s", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print("\n| data | " + " | ".join(f"n={n}" for n in counts) + " |")
    print("|---|" + "---|" * len(counts))
    for name, res in results.items():
        cells = [res["balanced_accuracy"].get(str(n)) for n in counts]
        print(f"| {name} | " + " | ".join(
            f"{np.mean(s):.3f} ± {np.std(s):.3f}" if s else "—" for s in cells) + " |")


if __name__ == "__main__":
    main()
