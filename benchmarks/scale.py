"""Throughput and peak memory of `pathrobust segment` versus slide size and workers.

Builds SIZE x SIZE OME-Zarr slides (512-px chunks): a disc of seeded synthetic H&E
tissue (about half the area) on white glass, then runs the CLI in a child process for
each (method, size, workers) and reports megapixels per second (all pixels, and
tissue pixels only), the fraction of tiles processed and the child's peak RSS.

    python benchmarks/scale.py --sizes 1024 4096 16384 --methods classical --workers 1 2
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from napari_pathrobust.engine.synthetic import synthetic_he_tile

CHUNK = 512
_WRAP = ("import resource, subprocess, sys; rc = subprocess.run(sys.argv[1:]).returncode; "
         "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(rc)")


def _is_tissue(ty: int, tx: int, n: int) -> bool:
    """Chunks whose centre lies in a disc of radius 0.4 * side are tissue."""
    cy, cx = (ty + 0.5) / n - 0.5, (tx + 0.5) / n - 0.5
    return cy * cy + cx * cx <= 0.4 ** 2


def write_slide(path: Path, size: int, pool: list[np.ndarray]) -> float:
    """Write the slide chunk by chunk; return its tissue fraction."""
    import zarr

    root = zarr.open_group(str(path), mode="w", zarr_format=3)
    arr = root.create_array("0", shape=(size, size, 3), chunks=(CHUNK, CHUNK, 3), dtype="uint8")
    n = -(-size // CHUNK)
    rng = np.random.default_rng(0)
    glass = (244 + rng.integers(-3, 4, size=(CHUNK, CHUNK, 3))).astype(np.uint8)
    tissue = 0
    for ty in range(n):
        for tx in range(n):
            h, w = min(CHUNK, size - ty * CHUNK), min(CHUNK, size - tx * CHUNK)
            if _is_tissue(ty, tx, n):
                block = np.rot90(pool[(ty * 7 + tx * 3) % len(pool)], (ty + tx) % 4)
                tissue += h * w
            else:
                block = glass
            arr[ty * CHUNK:ty * CHUNK + h, tx * CHUNK:tx * CHUNK + w] = block[:h, :w]
    root.attrs["ome"] = {"version": "0.5", "multiscales": [{
        "axes": [{"name": "y", "type": "space", "unit": "micrometer"},
                 {"name": "x", "type": "space", "unit": "micrometer"},
                 {"name": "c", "type": "channel"}],
        "datasets": [{"path": "0", "coordinateTransformations": [
            {"type": "scale", "scale": [0.25, 0.25, 1.0]}]}]}]}
    return tissue / size ** 2


def run_segment(path: Path, outdir: Path, extra: list[str]) -> dict:
    """Run the CLI in a child process; its wall time, peak RSS and run record."""
    cmd = [sys.executable, "-m", "napari_pathrobust.cli", "-q", "segment", str(path),
           "-o", str(outdir), "--labels-format", "zarr", *extra]
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _WRAP, *cmd], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"segment failed: {proc.stderr}")
    run = json.loads(next(outdir.glob("*_run.json")).read_text())
    return {"seconds": seconds, "peak_mb": float(proc.stdout.strip().splitlines()[-1]) / 1024,
            "nuclei": run["n_nuclei"], "tile": run.get("tile"),
            "processed": run.get("fraction_processed", 1.0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 4096, 16384])
    parser.add_argument("--methods", nargs="+", default=["classical", "psm"])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--max-size", nargs="*", default=[], metavar="METHOD=SIZE",
                        help="largest size per method, e.g. psm=4096")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--extra", default="", help="extra CLI arguments, quoted")
    args = parser.parse_args()
    limits = {k: int(v) for k, v in (item.split("=") for item in args.max_size)}
    work = Path(args.workdir or tempfile.mkdtemp(prefix="pathrobust-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    pool = [synthetic_he_tile(shape=(CHUNK, CHUNK), seed=i)[0] for i in range(8)]
    print(f"{'method':9} {'size':>6} {'MP':>6} {'tissue':>6} {'workers':>7} {'seconds':>8} "
          f"{'MP/s':>6} {'tissue MP/s':>11} {'processed':>9} {'peak RSS MB':>11} {'nuclei':>8}",
          flush=True)
    for size in args.sizes:
        src = work / f"slide{size}.ome.zarr"
        fraction = write_slide(src, size, pool)
        mp = size * size / 1e6
        for method in args.methods:
            if size > limits.get(method, size):
                continue
            for workers in args.workers:
                out = work / f"out-{method}-{size}-{workers}"
                res = run_segment(src, out, ["--method", method, "--workers", str(workers),
                                             "--device", "cpu", *args.extra.split()])
                print(f"{method:9} {size:>6} {mp:>6.1f} {fraction:>6.2f} {workers:>7} "
                      f"{res['seconds']:>8.1f} {mp / res['seconds']:>6.2f} "
                      f"{mp * fraction / res['seconds']:>11.2f} {res['processed']:>9.2f} "
                      f"{res['peak_mb']:>11.0f} {res['nuclei']:>8}", flush=True)
    print(f"(peak RSS: getrusage of the segment process; slides in {work})")


if __name__ == "__main__":
    main()
