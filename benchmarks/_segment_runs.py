"""Helpers shared by the slide-scale benchmarks: OME-Zarr RGB metadata and measured CLI runs."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

# a wrapper process per run, so the peak RSS read by getrusage is that run's alone
_WRAP = ("import resource, subprocess, sys; rc = subprocess.run(sys.argv[1:]).returncode; "
         "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(rc)")


def ome_rgb_attrs(mpp: float = 0.25) -> dict:
    """NGFF 0.5 attributes of a single-level (y, x, c) RGB image."""
    return {"version": "0.5", "multiscales": [{
        "axes": [{"name": "y", "type": "space", "unit": "micrometer"},
                 {"name": "x", "type": "space", "unit": "micrometer"},
                 {"name": "c", "type": "channel"}],
        "datasets": [{"path": "0", "coordinateTransformations": [
            {"type": "scale", "scale": [mpp, mpp, 1.0]}]}]}]}


def run_segment(path: Path, outdir: Path, extra: list[str]) -> dict:
    """`pathrobust -q segment PATH -o OUTDIR EXTRA...` in a child process:
    wall seconds, its peak RSS in MB, and its `_run.json`."""
    cmd = [sys.executable, "-m", "napari_pathrobust.cli", "-q", "segment", str(path),
           "-o", str(outdir), *extra]
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _WRAP, *cmd], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"segment failed: {proc.stderr}")
    run = json.loads(next(Path(outdir).glob("*_run.json")).read_text())
    return {"seconds": seconds, "peak_mb": float(proc.stdout.strip().splitlines()[-1]) / 1024,
            "run": run}
