"""How cheap can the never-worse normalisation gate be? (issue 26, choice of the default)

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/eval_normalise_gate.py --rows gate.jsonl
    .venv/bin/python benchmarks/eval_normalise_gate.py --table gate.jsonl

Run: every labelled train-13 tile, clean and under the strong shifts of
``_shift_families.py`` (dim, stain, thickness, scanner, defocus), whole: the slide's
colour statistics are fitted as the engine does (:func:`fit_normaliser`), the shipped
network segments the tile as scanned and normalised (AJI of each, reference
evaluator), and for every 256-px square of the tile's grid the gate's signals are
stored for both (confidence, fraction, nuclei sizes, flip agreement). Table: the gate
re-decided from the stored signals for each variant (squares drawn as the engine draws
them; with or without flip agreement), the AJI change against the scanned colours it
gives, per split: tune (lung, kidney, prostate; where the variant was chosen) and
report (breast, colon). Labels are read only to score.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from _harness import DATA, EVALUATOR, train13
from _organ_patches import organ_of
from _shift_families import shift

SPLITS = {"tune": ("lung", "kidney", "prostate"), "report": ("breast", "colon")}
CONDITIONS = [("clean", "-")] + [(f, "strong") for f in
                                 ("dim", "stain", "thickness", "scanner", "defocus")]
#: (squares, flip agreement): the variants tabulated; passes = 2 x squares (x 2 with flip)
VARIANTS = [(1, False), (2, False), (3, False), (4, False), (2, True), (4, True), (8, True)]


def run(data: Path, out) -> None:
    from napari_pathrobust.engine.adapt.normalise import fit_normaliser, normalise_image
    from napari_pathrobust.engine.adapt.slide import sample_boxes
    from napari_pathrobust.engine.methods.psm import PSMMethod
    from napari_pathrobust.engine.morphology import relabel_sequential, remove_small_labels
    from napari_pathrobust.engine.psm.instances import instances_from_outputs
    from napari_pathrobust.engine.tiled.sampling import tissue_fraction

    spec = importlib.util.spec_from_file_location("nuclei_metrics", EVALUATOR)
    metrics = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(metrics)
    psm = PSMMethod(device="cpu", maps=False)
    base = replace(psm.instance_params, min_area=30)

    def labels_of(prob, dist):  # the shipped post-processing with the fitted floor
        lab = instances_from_outputs(prob, dist, base)
        areas = np.bincount(lab.ravel())[1:]
        areas = areas[areas > 0]
        floor = max(30, int(round(0.25 * np.median(areas)))) if areas.size else 30
        return relabel_sequential(remove_small_labels(lab, floor))

    def square(img, y0, x0, y1, x1):
        t = np.ascontiguousarray(img[y0:y1, x0:x1])
        p, d = psm.network_outputs(t)
        q = psm.network_outputs(np.ascontiguousarray(t[:, ::-1]))[0][:, ::-1]
        sizes = np.bincount(instances_from_outputs(p, d, base).ravel())[1:]
        return {"inter": int(((p > .5) & (q > .5)).sum()),
                "total": int((p > .5).sum() + (q > .5).sum()),
                "conf": float(np.abs(2 * p - 1).mean()), "frac": float((p > .5).mean()),
                "sizes": sizes[sizes > 0].tolist(), "tissue": tissue_fraction(t[::4, ::4])}

    for tile in train13(data):
        for family, strength in CONDITIONS:
            img = shift(tile.rgb, family, strength)
            views = {"scanned": img, "normalised": normalise_image(fit_normaliser(img), img)}
            boxes = sample_boxes(img.shape, 256, 10**6, 0)  # the whole grid
            row = {"tile": tile.stem, "organ": organ_of(Path(tile.stem)), "family": family,
                   "boxes": boxes}
            for name, view in views.items():
                labels = labels_of(*psm.network_outputs(view))
                row[name] = {"aji": float(metrics.aji(tile.gt, labels)["aji"]),
                             "squares": [square(view, *b) for b in boxes]}
            print(json.dumps(row), file=out, flush=True)
            print(tile.stem, family, f"scanned {row['scanned']['aji']:.3f} "
                  f"normalised {row['normalised']['aji']:.3f}", file=sys.stderr, flush=True)


def _signals(side: dict, idx: list[int], flip: bool) -> dict:
    sq = [side["squares"][i] for i in idx]
    sizes = np.concatenate([np.asarray(s["sizes"], float) for s in sq])
    out = {"confidence": float(np.mean([s["conf"] for s in sq])),
           "fraction": float(np.mean([s["frac"] for s in sq])),
           "count_per_mpx": sizes.size / (len(sq) * 65536) * 1e6,
           "median_area": float(np.median(sizes)) if sizes.size else 0.0}
    total = sum(s["total"] for s in sq)
    if flip:
        out["flip_agreement"] = 2 * sum(s["inter"] for s in sq) / total if total else 1.0
    return out


def table(rows: list[dict]) -> None:
    from napari_pathrobust.engine.adapt.gate import decide
    from napari_pathrobust.engine.adapt.slide import sample_boxes

    print("| squares | flip | passes | " + " | ".join(
        f"{s}: gated - scanned (clean) [kept]" for s in SPLITS) + " |")
    print("|---|---|---|" + "---|" * len(SPLITS))
    for n, flip in VARIANTS:
        cells = []
        for organs in SPLITS.values():
            delta, clean, kept, sel = [], [], 0, [r for r in rows if r["organ"] in organs]
            for r in sel:
                grid = [tuple(b) for b in r["boxes"]]
                tissue = {b: r["scanned"]["squares"][i]["tissue"] for i, b in enumerate(grid)}
                chosen = sample_boxes((1000, 1000), 256, n, 0,
                                      keep=lambda b, t=tissue: t[tuple(b)] > 0.5)
                idx = [grid.index(tuple(b)) for b in chosen]
                d = decide(_signals(r["scanned"], idx, flip), _signals(r["normalised"], idx, flip))
                gain = r["normalised"]["aji"] - r["scanned"]["aji"] if d.keep else 0.0
                delta.append(gain)
                kept += d.keep
                if r["family"] == "clean":
                    clean.append(gain)
            cells.append(f"{np.mean(delta):+.4f} ({np.mean(clean):+.4f}) [{kept}/{len(sel)}]")
        print(f"| {n} | {'yes' if flip else 'no'} | {2 * n * (2 if flip else 1)} | "
              + " | ".join(cells) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--rows", type=Path, help="run, appending per tile-condition rows here")
    ap.add_argument("--table", type=Path, nargs="+", help="tabulate saved rows")
    args = ap.parse_args()
    if args.rows:
        with open(args.rows, "a") as out:
            run(args.data, out)
    files = args.table or ([args.rows] if args.rows else [])
    rows = [json.loads(line) for p in files for line in Path(p).read_text().splitlines()]
    if rows:
        table(rows)


if __name__ == "__main__":
    main()
