"""A realistic whole slide for speed runs: real H&E tissue mosaicked on glass.

The tissue is the 30 MoNuSeg 2018 training images (40x, ~0.25 um/px; development data,
/work/shared/data/monuseg-train, never copied into the project): seeded 500 x 500
crops (90-degree turns and flips) fill the cells of an irregular blob (a union of
seeded ellipses) covering about 60 % of the slide; the rest is slightly noisy white
glass. Written as a JPEG-compressed tiled pyramidal TIFF (Aperio-style description with
the pixel size) at 0.25 um/px (40x) or 0.5 um/px (20x: the tissue images reduced 2x by
area averaging). A sidecar ``<file>.json`` records the tissue area in mm2.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "monuseg-train" / "images"
CELL = 500  # mosaic cell (slide pixels)
TILE = 512  # TIFF tile


def _sources(mpp: float) -> list[np.ndarray]:
    import tifffile

    out = []
    for path in sorted(DATA.glob("*.tif")):
        rgb = np.asarray(tifffile.imread(path))[..., :3]
        if mpp >= 0.5:  # 40x -> 20x: 2 x 2 area mean
            h, w = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2
            rgb = rgb[:h, :w].reshape(h // 2, 2, w // 2, 2, 3).mean((1, 3))
            rgb = np.rint(rgb).astype(np.uint8)
        out.append(np.ascontiguousarray(rgb))
    if not out:
        raise SystemExit(f"{DATA}: no MoNuSeg training images")
    return out


def tissue_cells(n: int, seed: int) -> np.ndarray:
    """(n, n) bool: cells inside a union of seeded ellipses (about 60 % of them)."""
    rng = np.random.default_rng(seed)
    yy, xx = (np.mgrid[0:n, 0:n] + 0.5) / n
    mask = np.zeros((n, n), bool)
    for _ in range(6):
        cy, cx = rng.uniform(0.3, 0.7, 2)
        ry, rx = rng.uniform(0.2, 0.38, 2)
        mask |= ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    return mask


def build_slide(path: Path, size: int, mpp: float, seed: int = 0) -> dict:
    """Write the slide (skipped when ``path`` and its sidecar exist); its description."""
    import tifffile

    path = Path(path)
    side = path.with_suffix(path.suffix + ".json")
    if path.exists() and side.exists():
        return json.loads(side.read_text())
    path.parent.mkdir(parents=True, exist_ok=True)
    sources = _sources(mpp)
    n = -(-size // CELL)
    cells = tissue_cells(n, seed)
    rng = np.random.default_rng(seed + 1)
    picks = rng.integers(0, 1 << 30, size=(n, n, 4))
    glass_rng = np.random.default_rng(seed + 2)
    glass = np.clip(np.array([236, 234, 240])[None, None] +
                    glass_rng.normal(0, 2.0, (CELL, CELL, 3)), 0, 255).astype(np.uint8)

    def cell(ty: int, tx: int) -> np.ndarray:
        if not cells[ty, tx]:
            return glass
        i, oy, ox, turn = picks[ty, tx]
        src = sources[i % len(sources)]
        y = oy % max(1, src.shape[0] - CELL + 1)
        x = ox % max(1, src.shape[1] - CELL + 1)
        block = src[y:y + CELL, x:x + CELL]
        block = np.rot90(block, turn % 4)
        return block[:, ::-1] if turn & 4 else block

    level0 = np.lib.format.open_memmap(str(path) + ".level0.npy", mode="w+",
                                       dtype=np.uint8, shape=(size, size, 3))
    for ty in range(n):
        for tx in range(n):
            y0, x0 = ty * CELL, tx * CELL
            h, w = min(CELL, size - y0), min(CELL, size - x0)
            level0[y0:y0 + h, x0:x0 + w] = cell(ty, tx)[:h, :w]
    levels = [level0]
    while max(levels[-1].shape[:2]) > 2 * TILE:
        prev = levels[-1]
        h, w = prev.shape[0] // 2, prev.shape[1] // 2
        nxt = np.empty((h, w, 3), np.uint8)
        for y in range(0, h, 1024):
            part = prev[2 * y:2 * min(h, y + 1024)].astype(np.float32)
            part = part[:, :2 * w].reshape(part.shape[0] // 2, 2, w, 2, 3).mean((1, 3))
            nxt[y:y + part.shape[0]] = np.rint(part).astype(np.uint8)
        levels.append(nxt)

    def tiles(arr):
        for y in range(0, arr.shape[0], TILE):
            for x in range(0, arr.shape[1], TILE):
                out = np.full((TILE, TILE, 3), 255, np.uint8)
                part = arr[y:y + TILE, x:x + TILE]
                out[:part.shape[0], :part.shape[1]] = part
                yield out

    tmp = path.with_suffix(".tmp.tif")
    with tifffile.TiffWriter(tmp, bigtiff=True) as tif:
        for k, arr in enumerate(levels):
            tif.write(tiles(arr), shape=arr.shape, dtype="uint8", tile=(TILE, TILE),
                      photometric="rgb", compression="jpeg", compressionargs={"level": 90},
                      subfiletype=1 if k else 0, metadata=None,
                      description=f"Aperio Image Library pathrobust mosaic |MPP = {mpp}"
                      if k == 0 else None)
    tmp.replace(path)
    del level0
    Path(str(path) + ".level0.npy").unlink()
    tissue_px = sum(min(CELL, size - ty * CELL) * min(CELL, size - tx * CELL)
                    for ty in range(n) for tx in range(n) if cells[ty, tx])
    info = {"size": size, "mpp": mpp, "seed": seed, "tissue_fraction": tissue_px / size**2,
            "tissue_mm2": tissue_px * (mpp / 1000) ** 2, "source": "MoNuSeg 2018 train images"}
    side.write_text(json.dumps(info))
    return info
