"""`pathrobust segment` per 1000 x 1000 tile, `psm` against `classical`, with the
per-stage breakdown (CPU).

    .venv/bin/python benchmarks/bench_segment_cpu.py [--tiles 14] [--repeat 3]
        [--methods psm "psm:--no-normalise" classical] [--extra "--workers 2"]

Runs the real command (``pathrobust -q segment TILE -o DIR --method M``) in this
process, one tile per call, methods interleaved tile by tile and repeat by repeat (so a
load change hits both alike); the per-tile time is the best of the repeats. Stage times
come from timing wrappers around the engine functions (wall seconds summed over the
calls, nested stages included in their parents; worker threads overlap, so stages may
sum to more than the total). Prints one table: seconds per tile for every stage and
method, the end-to-end time and the psm / classical ratio. ``NAME:OPTIONS`` runs method
NAME with more segment options of its own (e.g. ``psm:--no-normalise``, the colours as
scanned), as a column of its own.
"""

from __future__ import annotations

import argparse
import functools
import os
import shlex
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

from _harness import DATA

#: (module, class or "", function, stage name): the wrapped functions, outermost first
E = "napari_pathrobust.engine."
STAGES = [
    (E + "jobs", "", "segment_file", "end to end (segment_file)"),
    (E + "jobs.segment", "", "get_method", "build method (load networks)"),
    (E + "jobs.segment", "", "open_image", "open image"),
    (E + "tiled.pipeline", "", "fit_sample", "read fit sample"),
    (E + "adapt.normalise", "NormalisedPSM", "fit", "psm: per-slide fit, normalisation incl."),
    (E + "adapt.normalise", "NormalisedPSM", "_gate", "psm: normalisation gate"),
    (E + "adapt.normalise", "NormalisedPSM", "_outputs", "psm: normalisation gate network"),
    (E + "adapt.stain_norm", "ReinhardNormaliser", "fit", "psm: colour statistics"),
    (E + "adapt.normalise", "", "normalise_image", "psm: normalise colours (gate + tiles)"),
    (E + "methods.psm", "PSMMethod", "fit", "psm: per-slide fit"),
    (E + "methods.classical", "ClassicalMethod", "fit", "classical: per-slide fit"),
    (E + "tiled.tissue", "", "detect_tissue", "tissue detection"),
    (E + "tiled.executor", "TileJob", "read", "read tiles"),
    (E + "methods.psm", "PSMMethod", "segment_tile", "psm: segment_tile"),
    (E + "methods.classical", "ClassicalMethod", "segment_tile", "classical: segment_tile"),
    (E + "psm.activation", "SelfActivation", "map_tile", "psm: activation map (maps on)"),
    (E + "methods.psm", "PSMMethod", "network_outputs", "psm: network (fit + tiles)"),
    (E + "methods.psm", "", "instances_from_outputs", "psm: instance split (fit + tiles)"),
    (E + "tiled.executor", "", "measure_objects", "measurements"),
    (E + "tiled.executor", "", "record_polygon", "polygons"),
    (E + "tiled.pipeline", "", "_paint", "paint canvas"),
    (E + "jobs.segment", "", "write_overlay", "write overlay PNG"),
    (E + "jobs.segment", "", "write_labels_tiff", "write labels TIFF"),
    (E + "writers", "PointsCSVWriter", "commit", "write points CSV"),
    (E + "writers", "GeoJSONWriter", "commit", "write GeoJSON"),
]
END = STAGES[0][3]

_totals: dict[str, float] = defaultdict(float)
_lock = threading.Lock()


def _wrap(fn, stage: str):
    @functools.wraps(fn)
    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            with _lock:
                _totals[stage] += time.perf_counter() - start
    return timed


def install_timers() -> None:
    """Wrap every function of STAGES in place."""
    import importlib

    for module, cls, attr, stage in STAGES:
        owner = importlib.import_module(module)
        owner = getattr(owner, cls) if cls else owner
        setattr(owner, attr, _wrap(getattr(owner, attr), stage))


def run_one(tile: Path, method: str, outdir: Path, extra: list[str]) -> dict[str, float]:
    """Stage seconds of one `pathrobust segment` call on one tile."""
    from napari_pathrobust.cli import main

    _totals.clear()
    name, _, own = method.partition(":")
    rc = main(["-q", "segment", str(tile), "-o", str(outdir), "--method", name,
               *shlex.split(own), *extra])
    if rc != 0:
        raise SystemExit(f"segment failed on {tile} ({method})")
    return dict(_totals)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA / "images")
    ap.add_argument("--tiles", type=int, default=14)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--methods", nargs="+", default=["psm", "classical"])
    ap.add_argument("--extra", default="", help="more segment options, e.g. '--workers 1'")
    args = ap.parse_args()
    tiles = sorted(args.data.glob("*.tif"))[:args.tiles]
    if not tiles:
        raise SystemExit(f"{args.data}: no .tif tiles")
    install_timers()
    extra = shlex.split(args.extra)
    best: dict[tuple[str, str], dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for m in args.methods:  # warm-up: imports, first network load
            run_one(tiles[0], m, Path(tmp) / "warm", extra)
        for _ in range(args.repeat):
            for tile in tiles:
                for m in args.methods:
                    stages = run_one(tile, m, Path(tmp) / str(args.methods.index(m)), extra)
                    key = (m, tile.stem)
                    total = stages.get(END, 0.0)
                    if key not in best or total < best[key][END]:
                        best[key] = stages
    n = len(tiles)
    mean = {m: {s: sum(best[(m, t.stem)].get(s, 0.0) for t in tiles) / n
                for *_, s in STAGES} for m in args.methods}
    load = os.getloadavg()
    print(f"\n{n} tiles from {args.data}, best of {args.repeat} per tile, "
          f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, "
          f"extra options: {args.extra or 'none'}\n")
    print("| stage (s per tile) | " + " | ".join(args.methods) + " |")
    print("|---|" + "---|" * len(args.methods))
    for *_, stage in STAGES:
        values = [mean[m][stage] for m in args.methods]
        if any(v > 0 for v in values):
            print(f"| {stage} | " + " | ".join(f"{v:.3f}" for v in values) + " |")
    for m in args.methods if "classical" in args.methods else ():
        if m.startswith("psm"):
            print(f"| **{m} / classical, end to end** | "
                  f"{mean[m][END] / mean['classical'][END]:.2f} | |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
