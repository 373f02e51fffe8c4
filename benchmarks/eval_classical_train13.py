#!/usr/bin/env python3
"""Run the ``classical`` method on MoNuSeg train-13 and score it with the shared evaluator.

Each labelled tile is segmented whole (``fit`` on the tile, then ``segment_tile``);
labels go to ``--out/<stem>_labels.tif``; then ``../shared/eval/nuclei_metrics.py``
is run on the folder and its summary printed with the seconds per tile.

    PYTHONPATH=src .venv/bin/python benchmarks/eval_classical_train13.py [--data DIR] [--out DIR]
        [--param name=value ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import tifffile
from _harness import DATA, EVALUATOR, run_evaluator, train13

from napari_pathrobust.engine.methods.classical import ClassicalMethod


def _parse_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--out", type=Path, default=Path("/tmp/classical-train13"))
    ap.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                    help="override a ClassicalParams field (repeatable)")
    args = ap.parse_args(argv)

    overrides = {}
    for item in args.param:
        k, _, v = item.partition("=")
        overrides[k] = _parse_value(v)
    args.out.mkdir(parents=True, exist_ok=True)
    times = []
    for tile in train13(args.data):
        stem, rgb = tile.stem, tile.rgb
        method = ClassicalMethod(**overrides)
        t0 = time.perf_counter()
        method.fit(rgb)
        lab = method.segment_tile(rgb)
        times.append(time.perf_counter() - t0)
        tifffile.imwrite(args.out / f"{stem}_labels.tif", lab.astype(np.int32))
        print(f"{stem}: {int(lab.max())} nuclei, thr {method.threshold:.3f}, {times[-1]:.2f} s",
              flush=True)
    print(json.dumps(ClassicalMethod(**overrides).describe()["params"]))
    print(f"seconds per tile (mean over {len(times)}): {np.mean(times):.3f}")
    if EVALUATOR.exists():
        return run_evaluator(args.out, args.data, check=False)
    print(f"evaluator not found: {EVALUATOR}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
