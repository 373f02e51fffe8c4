"""Throughput and peak memory of `pathrobust segment` versus slide size and workers.

Builds SIZE x SIZE OME-Zarr slides (512-px chunks): a disc of seeded synthetic H&E
tissue (about half the area) on white glass, then runs the CLI in a child process for
each (method, size, workers) and reports megapixels per second (all pixels, and
tissue pixels only), the fraction of tiles processed and the child's peak RSS.

    python benchmarks/scale.py --sizes 1024 4096 16384 --methods classical --workers 1 2

With ``--processes`` each run gets a dask.distributed LocalCluster of WORKERS single-thread
worker *processes* (started before the clock starts, like an existing cluster) and the
CLI is pointed at it with ``--scheduler``; peak RSS is then the segment process plus the
sum of the workers' peaks.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from _harness import run_segment as measured_segment
from _harness import synthetic_pool, write_ome_zarr

CHUNK = 512


def _is_tissue(ty: int, tx: int, n: int) -> bool:
    """Chunks whose centre lies in a disc of radius 0.4 * side are tissue."""
    cy, cx = (ty + 0.5) / n - 0.5, (tx + 0.5) / n - 0.5
    return cy * cy + cx * cx <= 0.4 ** 2


def write_slide(path: Path, size: int, pool: list[np.ndarray]) -> float:
    """Write the slide chunk by chunk; return its tissue fraction."""
    n = -(-size // CHUNK)
    rng = np.random.default_rng(0)
    glass = (244 + rng.integers(-3, 4, size=(CHUNK, CHUNK, 3))).astype(np.uint8)

    def block(ty: int, tx: int) -> np.ndarray:
        if _is_tissue(ty, tx, n):
            return np.rot90(pool[(ty * 7 + tx * 3) % len(pool)], (ty + tx) % 4)
        return glass

    write_ome_zarr(path, size, CHUNK, block)
    tissue = sum(min(CHUNK, size - ty * CHUNK) * min(CHUNK, size - tx * CHUNK)
                 for ty in range(n) for tx in range(n) if _is_tissue(ty, tx, n))
    return tissue / size ** 2


def run_segment(path: Path, outdir: Path, extra: list[str]) -> dict:
    """Run the CLI in a child process; its wall time, peak RSS and run record."""
    res = measured_segment(path, outdir, ["--labels-format", "zarr", *extra])
    run = res["run"]
    return {"seconds": res["seconds"], "peak_mb": res["peak_mb"], "nuclei": run["n_nuclei"],
            "tile": run.get("tile"), "processed": run.get("fraction_processed", 1.0)}


def run_on_cluster(path: Path, outdir: Path, extra: list[str], workers: int) -> dict:
    """:func:`run_segment` against a fresh LocalCluster of ``workers`` processes."""
    import resource

    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        res = run_segment(path, outdir, [*extra, "--scheduler", cluster.scheduler_address])
        peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    res["peak_mb"] += sum(peaks.values()) / 1024
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 4096, 16384])
    parser.add_argument("--methods", nargs="+", default=["classical", "psm"])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--max-size", nargs="*", default=[], metavar="METHOD=SIZE",
                        help="largest size per method, e.g. psm=4096")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--extra", default="", help="extra CLI arguments, quoted")
    parser.add_argument("--processes", action="store_true",
                        help="run on a LocalCluster of worker processes (--scheduler)")
    args = parser.parse_args()
    limits = {k: int(v) for k, v in (item.split("=") for item in args.max_size)}
    work = Path(args.workdir or tempfile.mkdtemp(prefix="pathrobust-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    pool = synthetic_pool(CHUNK)
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
                out = work / f"out-{method}-{size}-{workers}{'p' if args.processes else ''}"
                cli = ["--method", method, "--workers", str(workers), "--device", "cpu",
                       *args.extra.split()]
                if args.processes:
                    res = run_on_cluster(src, out, cli, workers)
                else:
                    res = run_segment(src, out, cli)
                print(f"{method:9} {size:>6} {mp:>6.1f} {fraction:>6.2f} {workers:>7} "
                      f"{res['seconds']:>8.1f} {mp / res['seconds']:>6.2f} "
                      f"{mp * fraction / res['seconds']:>11.2f} {res['processed']:>9.2f} "
                      f"{res['peak_mb']:>11.0f} {res['nuclei']:>8}", flush=True)
    print(f"(peak RSS: getrusage of the segment process; slides in {work})")


if __name__ == "__main__":
    main()
