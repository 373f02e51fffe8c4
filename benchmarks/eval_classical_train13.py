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
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import tifffile

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from napari_pathrobust.engine.methods.classical import ClassicalMethod  # noqa: E402


def _parse_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "monuseg-train")
    ap.add_argument("--out", type=Path, default=Path("/tmp/classical-train13"))
    ap.add_argument("--evaluator", type=Path,
                    default=REPO.parent / "shared" / "eval" / "nuclei_metrics.py")
    ap.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                    help="override a ClassicalParams field (repeatable)")
    args = ap.parse_args(argv)

    overrides = {}
    for item in args.param:
        k, _, v = item.partition("=")
        overrides[k] = _parse_value(v)
    gt_dir = args.data / "labels"
    stems = sorted(p.stem for p in gt_dir.glob("*.tif"))
    if not stems:
        print(f"no labels found in {gt_dir}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    times = []
    for stem in stems:
        rgb = tifffile.imread(args.data / "images" / f"{stem}.tif")[..., :3]
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
    if args.evaluator.exists():
        cmd = [sys.executable, str(args.evaluator), "--pred", str(args.out), "--gt", str(gt_dir),
               "--pred-suffix", "_labels"]
        print("$", " ".join(cmd), flush=True)
        return subprocess.call(cmd)
    print(f"evaluator not found: {args.evaluator}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
