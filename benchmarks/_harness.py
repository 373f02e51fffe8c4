"""What the benchmark scripts share: data paths, the train-13 segment-and-score loop,
synthetic OME-Zarr slides and measured `pathrobust segment` runs in a child process.

Scripts run as ``python benchmarks/NAME.py`` import it as ``from _harness import ...``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
#: MoNuSeg 2018 training set: images/ (30 tiles) and labels/ (the 13 labelled: train-13).
DATA = SHARED / "data" / "monuseg-train"
#: The reference evaluator (the project's metrics match it, tests/test_metrics.py).
EVALUATOR = SHARED / "eval" / "nuclei_metrics.py"
SCORES = ("aji", "object_dice", "pixel_f1", "pixel_iou", "detection_f1")


@dataclass
class LabelledTile:
    """One train-13 tile: file stem, RGB uint8 image and its instance labels."""

    stem: str
    rgb: np.ndarray
    gt: np.ndarray


def train13(data: Path = DATA, crop: int | None = None,
            organs: tuple[str, ...] = ()) -> Iterator[LabelledTile]:
    """The labelled tiles in ``data/labels`` (with their images), in name order.

    ``crop``: keep a centred square of that side; ``organs``: only those organs' tiles
    (organ from the TCGA site code, see _organ_patches).
    """
    import tifffile

    paths = sorted((Path(data) / "labels").glob("*.tif"))
    if not paths:
        raise SystemExit(f"{Path(data) / 'labels'}: no labelled tiles (MoNuSeg train-13)")
    if organs:
        from _organ_patches import organ_of

        paths = [p for p in paths if organ_of(p) in organs]
    for path in paths:
        rgb = tifffile.imread(Path(data) / "images" / path.name)[..., :3]
        gt = tifffile.imread(path)
        if crop:
            y0, x0 = (rgb.shape[0] - crop) // 2, (rgb.shape[1] - crop) // 2
            rgb, gt = rgb[y0:y0 + crop, x0:x0 + crop], gt[y0:y0 + crop, x0:x0 + crop]
        yield LabelledTile(path.stem, np.ascontiguousarray(rgb), gt)


def segment_whole(rgb: np.ndarray, method, name: str = "") -> np.ndarray:
    """Labels of one tile segmented whole by the pipeline (one tile, one worker), as the
    CLI does for a 1000 x 1000 image."""
    from napari_pathrobust.engine.io import slide_from_array
    from napari_pathrobust.engine.tiled.pipeline import segment_slide

    result = segment_slide(slide_from_array(rgb, name=name), method, tile=1024, workers=1)
    return np.asarray(result.labels)


def score_train13(make_method: Callable[[], object], data: Path = DATA,
                  columns: tuple[str, ...] = SCORES, outdir: Path | None = None) -> dict:
    """Per-tile mean ``columns`` and ``seconds`` (segmentation only) of a fresh
    ``make_method()`` per train-13 tile, segmented whole; labels saved to ``outdir``
    as ``<stem>_labels.tif`` when given. Labels are read only to score."""
    import tifffile

    from napari_pathrobust.engine.metrics import evaluate

    rows, seconds = [], []
    for tile in train13(data):
        method = make_method()
        start = time.perf_counter()
        labels = segment_whole(tile.rgb, method, tile.stem)
        seconds.append(time.perf_counter() - start)
        if outdir is not None:
            Path(outdir).mkdir(parents=True, exist_ok=True)
            tifffile.imwrite(Path(outdir) / f"{tile.stem}_labels.tif", labels,
                             compression="zlib")
        scores = evaluate(tile.gt, labels.astype(np.int64))
        rows.append([scores[c] for c in columns])
    return {**dict(zip(columns, np.mean(rows, axis=0))), "seconds": float(np.mean(seconds))}


def run_evaluator(pred_dir: Path, data: Path = DATA, check: bool = True) -> int:
    """Run the reference evaluator on ``pred_dir/<stem>_labels.tif``; its exit status."""
    cmd = [sys.executable, str(EVALUATOR), "--pred", str(pred_dir), "--gt",
           str(Path(data) / "labels"), "--pred-suffix", "_labels"]
    print("$", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=check).returncode


def ome_rgb_attrs(mpp: float = 0.25) -> dict:
    """NGFF 0.5 attributes of a single-level (y, x, c) RGB image."""
    return {"version": "0.5", "multiscales": [{
        "axes": [{"name": "y", "type": "space", "unit": "micrometer"},
                 {"name": "x", "type": "space", "unit": "micrometer"},
                 {"name": "c", "type": "channel"}],
        "datasets": [{"path": "0", "coordinateTransformations": [
            {"type": "scale", "scale": [mpp, mpp, 1.0]}]}]}]}


def synthetic_pool(chunk: int, n: int = 8, seed: int = 0) -> list[np.ndarray]:
    """``n`` seeded synthetic H&E tiles of ``chunk`` x ``chunk`` to build slides from."""
    from napari_pathrobust.engine.synthetic import synthetic_he_tile

    return [synthetic_he_tile(shape=(chunk, chunk), seed=seed + i)[0] for i in range(n)]


def write_ome_zarr(path: Path, size: int, chunk: int,
                   block: Callable[[int, int], np.ndarray]) -> None:
    """A ``size`` x ``size`` RGB OME-Zarr (zarr v3, NGFF 0.5) written chunk by chunk:
    chunk (ty, tx) is ``block(ty, tx)`` (at least chunk x chunk, cropped at the edges)."""
    import zarr

    root = zarr.open_group(str(path), mode="w", zarr_format=3)
    arr = root.create_array("0", shape=(size, size, 3), chunks=(chunk, chunk, 3), dtype="uint8")
    n = -(-size // chunk)
    for ty in range(n):
        for tx in range(n):
            h, w = min(chunk, size - ty * chunk), min(chunk, size - tx * chunk)
            arr[ty * chunk:ty * chunk + h, tx * chunk:tx * chunk + w] = block(ty, tx)[:h, :w]
    root.attrs["ome"] = ome_rgb_attrs()


# a wrapper process per run, so the peak RSS read by getrusage is that run's alone
_WRAP = ("import resource, subprocess, sys; rc = subprocess.run(sys.argv[1:]).returncode; "
         "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(rc)")


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
