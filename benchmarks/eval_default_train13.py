"""The default run of both methods on MoNuSeg train-13, split by organ (issue 26).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/eval_default_train13.py [--data DIR]
        [--rows rows.jsonl] [--table rows.jsonl] [--sweep 4,6,8]

Rows: ``classical``; ``psm`` as before issue 26 (colours as scanned, no objectness:
``--no-normalise --param objectness=0``); with the gated stain normalisation only; with
the objectness filter only; and the default run (both). Every labelled tile is
segmented whole by the pipeline, as ``pathrobust segment`` does a 1000 x 1000 image,
and scored with ../shared/eval/nuclei_metrics.py: AJI, object Dice, PQ, detection
precision / recall / F1 (Hungarian matching of centroids within 6 px) and objects per
true nucleus. Means of per-tile scores for the tune split (lung, kidney, prostate: where
the normalisation gate and the objectness cut-off were chosen), the report split
(breast, colon) and all 13. Labels are read only to score. ``--rows`` saves per-tile
rows; ``--table`` re-tabulates saved ones; ``--sweep`` adds rows with other objectness
cut-offs (colours as scanned), as they were compared to choose the default on the tune split.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
from pathlib import Path

import numpy as np
from _harness import DATA, EVALUATOR, segment_whole, train13
from _organ_patches import organ_of

SPLITS = {"tune (lung, kidney, prostate; 8)": ("lung", "kidney", "prostate"),
          "report (breast, colon; 5)": ("breast", "colon"), "all 13": None}
#: row -> (method, registry options)
ROWS = {
    "classical (default)": ("classical", {}),
    "psm before: colours as scanned, no objectness": (
        "psm", {"normalise": False, "objectness": 0.0}),
    "psm + gated stain normalisation": ("psm", {"objectness": 0.0}),
    "psm + objectness": ("psm", {"normalise": False}),
    "**psm default: normalisation + objectness**": ("psm", {}),
}
COLUMNS = (("aji", "AJI"), ("dice_obj", "object Dice"), ("pq", "PQ"),
           ("det_precision", "det. P"), ("det_recall", "det. R"), ("det_f1", "det. F1"),
           ("per_nucleus", "objects / nucleus"))


def _metrics():
    spec = importlib.util.spec_from_file_location("nuclei_metrics", EVALUATOR)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run(data: Path, out, sweep=()) -> list[dict]:
    from napari_pathrobust.engine.registry import get_method

    metrics = _metrics()
    rows = []
    for cutoff in sweep:
        ROWS[f"psm + objectness, cut-off {cutoff:g}"] = (
            "psm", {"normalise": False, "objectness": cutoff})
    for tile in train13(data):
        gt = tile.gt.astype(np.int64)
        for name, (method, options) in ROWS.items():
            extra = {"device": "cpu", "maps": False} if method == "psm" else {}
            m = get_method(method, **extra, **options)
            start = time.perf_counter()
            labels = segment_whole(tile.rgb, m, tile.stem)
            seconds = time.perf_counter() - start
            s = metrics.evaluate_pair(gt, labels.astype(np.int64))
            record = (m.describe().get("normalisation") or {})
            row = {"tile": tile.stem, "organ": organ_of(Path(tile.stem)), "row": name,
                   "seconds": round(seconds, 3), "normalised": bool(record.get("kept")),
                   "per_nucleus": s["n_pred"] / max(s["n_gt"], 1),
                   **{k: s[k] for k, _ in COLUMNS if k in s}}
            rows.append(row)
            if out:
                print(json.dumps(row), file=out, flush=True)
            print(f"{tile.stem} {name[:40]:40s} AJI {s['aji']:.3f} P {s['det_precision']:.3f} "
                  f"R {s['det_recall']:.3f} {seconds:.1f} s", flush=True)
    return rows


def table(rows: list[dict]) -> None:
    for split, organs in SPLITS.items():
        print(f"\n{split}\n")
        print("| run | " + " | ".join(label for _, label in COLUMNS) + " | normalised |")
        print("|---|" + "---|" * (len(COLUMNS) + 1))
        for name in dict.fromkeys(r["row"] for r in rows):
            sel = [r for r in rows if r["row"] == name and (organs is None or r["organ"] in organs)]
            if not sel:
                continue
            means = [np.mean([r[k] for r in sel]) for k, _ in COLUMNS]
            kept = sum(r["normalised"] for r in sel)
            print(f"| {name} | " + " | ".join(f"{v:.3f}" for v in means)
                  + f" | {kept}/{len(sel)} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--rows", type=Path, default=None, help="append per-tile rows here")
    ap.add_argument("--table", type=Path, nargs="+", default=None,
                    help="tabulate saved rows instead of running")
    ap.add_argument("--sweep", default="", help="more objectness cut-offs, e.g. 4,6,8")
    args = ap.parse_args()
    if args.table:
        rows = [json.loads(line) for p in args.table for line in p.read_text().splitlines()]
    else:
        with open(args.rows, "a") if args.rows else open("/dev/null", "w") as out:
            rows = run(args.data, out if args.rows else None,
                       [float(v) for v in args.sweep.split(",") if v])
    table(rows)


if __name__ == "__main__":
    main()
