"""Seconds per stage of full PSM inference on a 1000x1000 tile (CPU by default).

    .venv/bin/python benchmarks/bench_psm_speed.py [--image TILE.tif] [--device cpu] [--repeat 3]

Stages: per-slide fit (Grad-CAM weights + K-means centres), activation map, SCM
pseudo-mask, downstream network, instances; then the whole `segment_slide` call with
the maps on (what the napari widget runs) and off (what `pathrobust segment` runs).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _harness import DATA

from napari_pathrobust.engine.io import open_image, slide_from_array
from napari_pathrobust.engine.psm.instances import instances_from_outputs
from napari_pathrobust.engine.registry import get_method
from napari_pathrobust.engine.synthetic import synthetic_he_tile
from napari_pathrobust.engine.tiled.pipeline import segment_slide

DEFAULT = DATA / "images" / "TCGA-18-5592-01Z-00-DX1.tif"


def _time(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", type=Path, default=DEFAULT)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if args.image.exists():
        rgb = np.asarray(open_image(args.image).data.compute())[:1000, :1000]
    else:
        rgb = synthetic_he_tile(shape=(1000, 1000), seed=0)[0]
    m = get_method("psm", device=args.device)
    rows = []
    t, _ = _time(lambda: m.fit(rgb), args.repeat)
    rows.append(("fit (Grad-CAM weights + K-means centres, once per slide)", t))
    t, amap = _time(lambda: m.activation.map_tile(rgb), args.repeat)
    rows.append(("activation map", t))
    t, _ = _time(lambda: m.clustering.pseudo_mask(rgb, amap), args.repeat)
    rows.append(("SCM pseudo-mask", t))
    t, (prob, dist) = _time(lambda: m.network_outputs(rgb), args.repeat)
    rows.append(("downstream network", t))
    t, _ = _time(lambda: instances_from_outputs(prob, dist, m.instance_params), args.repeat)
    rows.append(("instances (distance-transform watershed, default split)", t))
    slide = slide_from_array(rgb)
    for maps in (True, False):
        method = get_method("psm", device=args.device, maps=maps)
        t, res = _time(lambda m=method: segment_slide(slide, m, tile=1024), args.repeat)
        rows.append((f"segment_slide total, maps={'on' if maps else 'off'} "
                     f"({res.n_nuclei} nuclei, incl. measurements)", t))
    print(f"| stage ({rgb.shape[0]}x{rgb.shape[1]}, device {args.device}) | seconds |")
    print("|---|---|")
    for name, t in rows:
        print(f"| {name} | {t:.2f} |")


if __name__ == "__main__":
    main()
