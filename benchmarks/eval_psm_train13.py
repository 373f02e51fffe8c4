"""PSM quality table on MoNuSeg train-13 (the 13 labelled tiles), one row per variant.

    .venv/bin/python benchmarks/eval_psm_train13.py [--data ../shared/data/monuseg-train]
        [--variant NAME=WEIGHTS.pt ...] [--out /tmp/psm-train13] [--shared]

Each row segments every labelled tile whole (fit + segment on the tile, as the CLI does
for a 1000x1000 image), scores it with the project's metrics (identical to
../shared/eval/nuclei_metrics.py, see tests/test_metrics.py) and prints per-image
means; `--shared` also runs the reference evaluator on each row's label folder.
Labels are read only to score.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import tifffile

from napari_pathrobust.engine.io import slide_from_array
from napari_pathrobust.engine.methods import get_method
from napari_pathrobust.engine.metrics import evaluate
from napari_pathrobust.engine.pipeline import segment_slide

REPO = Path(__file__).resolve().parents[1]
COLUMNS = ("aji", "object_dice", "pixel_f1", "pixel_iou", "detection_f1")


def rows(extra: dict[str, str]) -> list[tuple[str, str, dict]]:
    base = [("classical", "classical", {}),
            ("SCM pseudo-mask alone (connected components)", "psm",
             {"seg_weights": "", "scm_split": False, "maps": False}),
            ("SCM pseudo-mask + distance-transform split", "psm",
             {"seg_weights": "", "maps": False}),
            ("full PSM (shipped network, threshold 0.5)", "psm", {"maps": False}),
            ("full PSM, previous split rule (cores)", "psm",
             {"maps": False, "split": "cores"}),
            ("full PSM, fixed 30 px floor only (no slide-fitted floor)", "psm",
             {"maps": False, "min_area_fraction": 0.0}),
            ("full PSM, fixed 150 px floor (tuned on train-13, not adopted)", "psm",
             {"maps": False, "min_area": 150, "min_area_fraction": 0.0})]
    for name, path in extra.items():  # other downstream networks, e.g. earlier rounds
        base.append((name, "psm", {"seg_weights": path, "maps": False}))
    return base


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared/data/monuseg-train")
    ap.add_argument("--out", type=Path, default=Path("/tmp/psm-train13"))
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=WEIGHTS")
    ap.add_argument("--shared", action="store_true", help="also run the reference evaluator")
    args = ap.parse_args()
    extra = dict(v.split("=", 1) for v in args.variant)
    gts = {p.stem: tifffile.imread(p) for p in sorted((args.data / "labels").glob("*.tif"))}
    print(f"| variant | {' | '.join(COLUMNS)} | s / tile (CPU) |")
    print("|---|" + "---|" * (len(COLUMNS) + 1))
    for i, (label, method, params) in enumerate(rows(extra)):
        outdir = args.out / f"row{i}"
        outdir.mkdir(parents=True, exist_ok=True)
        scores, seconds = [], []
        for stem, gt in gts.items():
            rgb = tifffile.imread(args.data / "images" / f"{stem}.tif")[..., :3]
            m = get_method(method, device="cpu", **params) if method == "psm" \
                else get_method(method)
            start = time.perf_counter()
            result = segment_slide(slide_from_array(rgb, name=stem), m, tile=1024, workers=1)
            seconds.append(time.perf_counter() - start)
            labels = np.asarray(result.labels)
            tifffile.imwrite(outdir / f"{stem}_labels.tif", labels, compression="zlib")
            e = evaluate(gt, labels.astype(np.int64))
            scores.append([e[c] for c in COLUMNS])
        mean = np.mean(scores, axis=0)
        print(f"| {label} | " + " | ".join(f"{v:.3f}" for v in mean)
              + f" | {np.mean(seconds):.2f} |", flush=True)
        if args.shared:
            evaluator = args.data.parent.parent / "eval" / "nuclei_metrics.py"
            subprocess.run([sys.executable, str(evaluator), "--pred", str(outdir), "--gt",
                            str(args.data / "labels"), "--pred-suffix", "_labels"], check=True)


if __name__ == "__main__":
    main()
