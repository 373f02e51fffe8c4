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
from pathlib import Path

from _harness import DATA, SCORES, run_evaluator, score_train13

from napari_pathrobust.engine.registry import get_method


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


def _factory(method: str, params: dict):
    if method == "psm":
        return lambda: get_method("psm", device="cpu", **params)
    return lambda: get_method(method, **params)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--out", type=Path, default=Path("/tmp/psm-train13"))
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=WEIGHTS")
    ap.add_argument("--shared", action="store_true", help="also run the reference evaluator")
    args = ap.parse_args()
    extra = dict(v.split("=", 1) for v in args.variant)
    print(f"| variant | {' | '.join(SCORES)} | s / tile (CPU) |")
    print("|---|" + "---|" * (len(SCORES) + 1))
    for i, (label, method, params) in enumerate(rows(extra)):
        outdir = args.out / f"row{i}"
        mean = score_train13(_factory(method, params), args.data, outdir=outdir)
        print(f"| {label} | " + " | ".join(f"{mean[c]:.3f}" for c in SCORES)
              + f" | {mean['seconds']:.2f} |", flush=True)
        if args.shared:
            run_evaluator(outdir, args.data)


if __name__ == "__main__":
    main()
