"""Whole-slide speed on the CPU: seconds per mm2 of tissue, peak RSS, per-stage profile.

Builds (once, cached) a realistic slide: real H&E tissue (the MoNuSeg 2018 training
images) mosaicked on glass, >= 50 % tissue, as a JPEG pyramidal TIFF at 0.5 um/px (20x)
and/or 0.25 um/px (40x) (``_wsi_slide.py``); then runs what `pathrobust segment` runs
(``segment_file``, default options) per method and magnification in a child process and
prints one JSON line each: wall seconds, seconds per mm2 of tissue, the child's peak
RSS, tiling, nuclei and the pipeline's per-stage profile (``info["profile"]``).

    OMP_NUM_THREADS=1 python benchmarks/bench_wsi_speed.py --size 20000 --mpp 0.5 0.25 \\
        --methods psm classical
    # labels of a local run == labels on a 2-worker dask.distributed LocalCluster:
    python benchmarks/bench_wsi_speed.py --distributed-check 3000 --mpp 0.5 --methods psm
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _harness import _WRAP
from _wsi_slide import build_slide

CACHE = Path.home() / ".cache" / "pathrobust" / "wsi"


def slide_path(size: int, mpp: float) -> Path:
    return CACHE / f"mosaic{size}_{mpp:g}.tif"


def child(slide: str, outdir: str, method: str, extra: str) -> None:
    """In the measured process: segment_file with the pipeline's info captured."""
    from napari_pathrobust.engine.jobs import segment as job

    captured = {}
    inner = job.segment_slide

    def spy(*args, **kwargs):
        result = inner(*args, **kwargs)
        captured.update(result.info)
        return result

    job.segment_slide = spy
    # as `pathrobust segment` builds it (the CLI turns psm's maps off)
    params = {"maps": False} if method.startswith("psm") else {}
    options = job.JobOptions(method=method, device="cpu", method_params=params,
                             **json.loads(extra or "{}"))
    start = time.perf_counter()
    result = job.segment_file(slide, outdir, options)
    info = {k: captured.get(k) for k in ("tile", "halo", "workers", "n_tiles",
                                         "tiles_processed", "profile", "working_shape",
                                         "pyramid_level", "interpolation")}
    print(json.dumps({"job_seconds": time.perf_counter() - start,
                      "n_nuclei": result.n_nuclei, **info}))


def measure(size: int, mpp: float, method: str, work: Path, extra: str) -> dict:
    """One measured run in a child process (peak RSS from getrusage)."""
    desc = build_slide(slide_path(size, mpp), size, mpp)
    out = work / f"out-{method}-{size}-{mpp:g}"
    cmd = [sys.executable, __file__, "--child", str(slide_path(size, mpp)), str(out),
           method, extra]
    load0 = os.getloadavg()[0]
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _WRAP, *cmd], capture_output=True,
                          text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"segment failed: {proc.stderr[-2000:]}")
    lines = proc.stdout.strip().splitlines()
    run = json.loads(lines[-2])
    mm2 = desc["tissue_mm2"]
    return {"method": method, "size": size, "mpp": mpp, "tissue_mm2": round(mm2, 2),
            "tissue_fraction": round(desc["tissue_fraction"], 3),
            "seconds": round(seconds, 1), "s_per_mm2": round(seconds / mm2, 2),
            "job_s_per_mm2": round(run.pop("job_seconds") / mm2, 2),
            "peak_rss_mb": round(float(lines[-1]) / 1024),
            "load": [round(load0, 1), round(os.getloadavg()[0], 1)], **run}


def distributed_check(size: int, mpp: float, method: str) -> dict:
    """Labels of one slide: a local 2-thread run against a 2-process LocalCluster."""
    import numpy as np
    from distributed import Client, LocalCluster

    from napari_pathrobust.engine.io import open_image
    from napari_pathrobust.engine.registry import get_method
    from napari_pathrobust.engine.tiled.distributed import DistributedExecutor
    from napari_pathrobust.engine.tiled.pipeline import segment_slide

    path = slide_path(size, mpp)
    build_slide(path, size, mpp)
    runs = {}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        for name in ("local", "distributed"):
            executor = DistributedExecutor(client) if name == "distributed" else None
            start = time.perf_counter()
            res = segment_slide(open_image(path), get_method(method, device="cpu"),
                                workers=2, executor=executor, tissue=True)
            runs[name] = (np.asarray(res.labels), time.perf_counter() - start, res.info)
    (a, ta, info), (b, tb, _) = runs["local"], runs["distributed"]
    return {"check": "distributed", "method": method, "size": size, "mpp": mpp,
            "tile": info["tile"], "n_tiles": info["n_tiles"],
            "local_s": round(ta, 1), "distributed_s": round(tb, 1),
            "nuclei": int(a.max()), "identical": bool(np.array_equal(a, b)),
            "differing_pixels": int((a != b).sum())}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:6])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=20000)
    parser.add_argument("--mpp", type=float, nargs="+", default=[0.5, 0.25])
    parser.add_argument("--methods", nargs="+", default=["psm", "classical"])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--extra", default="", help="JobOptions overrides as JSON, e.g. "
                        "'{\"tile\": 512}'")
    parser.add_argument("--distributed-check", type=int, default=0, metavar="SIZE",
                        help="instead: compare local and 2-process dask labels on a "
                        "SIZE x SIZE slide")
    args = parser.parse_args()
    for mpp in args.mpp:
        for method in args.methods:
            if args.distributed_check:
                row = distributed_check(args.distributed_check, mpp, method)
            else:
                work = args.workdir or CACHE / "runs"
                row = measure(args.size, mpp, method, work, args.extra)
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
