"""Peak memory and throughput of `pathrobust segment` on a large synthetic slide.

Builds a SIZE x SIZE RGB slide (OME-Zarr and/or pyramidal tiled TIFF) from seeded
synthetic H&E tiles, chunk by chunk, then runs the CLI in a child process and reports
its peak RSS (getrusage of the child) and throughput. Prints a table.

    python benchmarks/bench_large_segment.py --size 20000 --formats zarr tiff
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from _harness import run_segment as measured_segment
from _harness import synthetic_pool, write_ome_zarr

CHUNK = 1024


def _chunk(pool, ty: int, tx: int) -> np.ndarray:
    tile = pool[(ty * 7 + tx * 3) % len(pool)]
    return np.ascontiguousarray(np.rot90(tile, (ty + tx) % 4))


def write_zarr(path: Path, size: int, pool) -> None:
    """An OME-Zarr (NGFF 0.5, zarr v3) RGB image with (y, x, c) axes, written by chunk."""
    write_ome_zarr(path, size, CHUNK, lambda ty, tx: _chunk(pool, ty, tx))


def write_tiff(path: Path, size: int, pool) -> None:
    """A tiled, JPEG-compressed pyramidal TIFF (SVS-like), written tile by tile."""
    import tifffile

    def tiles(level: int):
        step = 2 ** level
        n = -(-size // step)
        for ty in range(0, n, 512):
            for tx in range(0, n, 512):
                block = _chunk(pool, (ty * step) // CHUNK, (tx * step) // CHUNK)[::step, ::step]
                out = np.full((512, 512, 3), 255, np.uint8)
                out[:block.shape[0], :block.shape[1]] = block[:512, :512]
                yield out

    levels = [lv for lv in range(6) if -(-size // 2 ** lv) >= 512]
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        for lv in levels:
            n = -(-size // 2 ** lv)
            tif.write(tiles(lv), shape=(n, n, 3), dtype="uint8", tile=(512, 512),
                      photometric="rgb", compression="jpeg", subfiletype=1 if lv else 0,
                      description="Aperio Image Library synthetic |MPP = 0.25" if lv == 0 else None,
                      metadata=None)


def run_segment(path: Path, outdir: Path, extra: list[str]) -> dict:
    res = measured_segment(path, outdir, extra)
    run = res["run"]
    return {"seconds": res["seconds"], "peak_rss_mb": res["peak_mb"],
            "n_nuclei": run["n_nuclei"], "tile": run.get("tile"), "workers": run.get("workers")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=20000)
    parser.add_argument("--formats", nargs="+", default=["zarr", "tiff"], choices=["zarr", "tiff"])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--extra", default="", help="extra CLI arguments, quoted")
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="pathrobust-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    pool = synthetic_pool(CHUNK)
    rows = []
    for fmt in args.formats:
        src = work / (f"slide{args.size}.ome.zarr" if fmt == "zarr" else f"slide{args.size}.tif")
        t0 = time.perf_counter()
        (write_zarr if fmt == "zarr" else write_tiff)(src, args.size, pool)
        build = time.perf_counter() - t0
        res = run_segment(src, work / f"out-{fmt}", args.extra.split())
        mp = args.size ** 2 / 1e6
        rows.append((fmt, args.size, mp, build, res))
    print(f"{'format':6} {'size':>7} {'MP':>7} {'build s':>8} {'seconds':>8} {'MP/s':>6} "
          f"{'peak RSS MB':>11} {'nuclei':>8} {'tile':>5} {'workers':>7}")
    for fmt, size, mp, build, res in rows:
        print(f"{fmt:6} {size:>7} {mp:>7.0f} {build:>8.1f} {res['seconds']:>8.1f} "
              f"{mp / res['seconds']:>6.2f} {res['peak_rss_mb']:>11.0f} {res['n_nuclei']:>8} "
              f"{res['tile']:>5} {res['workers']:>7}")
    print(f"(peak RSS: getrusage of the segment process; inputs in {work})")


if __name__ == "__main__":
    main()
