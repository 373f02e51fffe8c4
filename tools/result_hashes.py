"""Hashes of what `pathrobust segment` writes, to prove a refactor changed no result.

    .venv/bin/python tools/result_hashes.py [--out /tmp/hashes] > before.json
    ... change the code ...
    .venv/bin/python tools/result_hashes.py > after.json && diff before.json after.json

Runs the CLI (defaults, one worker) on the bundled demo crop (also read as 20x) and the
MoNuSeg train-13 tiles with both methods, and on one real Ki-67 field with
``--stain ihc``; prints, per run and image, a SHA-256 of the label pixels and of the
points table (every column).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import tifffile

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
DEMO = REPO / "resources" / "demo_he_crop.png"


def _runs() -> list[tuple[str, list[str], list[Path]]]:
    train13 = [SHARED / "monuseg-train" / "images" / p.name
               for p in sorted((SHARED / "monuseg-train" / "labels").glob("*.tif"))]
    ki67 = sorted((SHARED / "ki67-dev" / "deepliif" / "images").glob("*.png"))[:1]
    return [("demo-psm", ["--method", "psm"], [DEMO]),
            ("demo-classical", ["--method", "classical"], [DEMO]),
            # read as 20x: the working-grid path (resampled tiles)
            ("demo-psm-20x", ["--method", "psm", "--mpp", "0.5"], [DEMO]),
            ("demo-classical-20x", ["--method", "classical", "--mpp", "0.5"], [DEMO]),
            ("train13-psm", ["--method", "psm"], train13),
            ("train13-classical", ["--method", "classical"], train13),
            ("ki67-psm-ihc", ["--method", "psm", "--stain", "ihc"], ki67),
            ("ki67-classical-ihc", ["--method", "classical", "--stain", "ihc"], ki67)]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="keep the outputs here")
    args = ap.parse_args()
    root = args.out or Path(tempfile.mkdtemp(prefix="pathrobust-hashes-"))
    exe = Path(sys.executable).with_name("pathrobust")
    table: dict[str, dict[str, dict[str, str]]] = {}
    for name, flags, inputs in _runs():
        inputs = [p for p in inputs if p.exists()]
        if not inputs:
            continue
        outdir = root / name
        subprocess.run([str(exe), "-q", "segment", *map(str, inputs), "-o", str(outdir),
                        "--device", "cpu", "--workers", "1", *flags], check=True,
                       stdout=subprocess.DEVNULL)
        table[name] = {}
        for path in inputs:
            stem = path.stem
            labels = tifffile.imread(outdir / f"{stem}_labels.tif")
            points = (outdir / f"{stem}_points.csv").read_bytes()
            table[name][stem] = {"labels": _sha(np.ascontiguousarray(labels).tobytes()),
                                 "points": _sha(points)}
    json.dump(table, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
