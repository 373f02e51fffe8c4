"""Write a large pyramidal TIFF slide for the tests without holding it in memory.

Glass (near-white, slightly noisy) everywhere except a small square patch of synthetic
H&E tissue (``engine.synthetic.synthetic_he_tile`` tiles) near the centre, so a run with
tissue detection segments only the patch. Levels are 2x strides of level 0 written tile
by tile (tifffile tile iterators) as SubIFDs of level 0 (a TIFF pyramid); the resolution
tags give the pixel size (``mpp=None``: none in the file).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

TILE = 512


def write_large_pyramid(path: Path, size: int = 12000, tissue_tiles: int = 2,
                        mpp: float | None = 0.25, seed: int = 0, stain: str = "he",
                        glass_noise: float = 2.0) -> Path:
    """A ``size`` x ``size`` RGB pyramid whose tissue is ``tissue_tiles`` x
    ``tissue_tiles`` TILE-pixel tiles (``stain`` "he" or "ihc") at the centre; levels
    down to <= 2 * TILE a side. ``glass_noise=0``: flat glass, written much faster."""
    import tifffile

    from napari_pathrobust.engine.synthetic import synthetic_he_tile, synthetic_ihc_tile

    def tissue_tile(tile_seed: int) -> np.ndarray:
        if stain == "ihc":
            return synthetic_ihc_tile(TILE, seed=tile_seed)[0]
        return synthetic_he_tile((TILE, TILE), seed=tile_seed)[0]

    rng = np.random.default_rng(seed)
    glass = np.clip(238 + rng.normal(0, glass_noise, (TILE, TILE, 3)), 0, 255).astype(np.uint8)
    first = (size // TILE - tissue_tiles) // 2  # tissue tile rows/cols first..first+n-1
    tissue: dict[tuple[int, int], np.ndarray] = {}

    def level0_tile(ty: int, tx: int) -> np.ndarray:
        if first <= ty < first + tissue_tiles and first <= tx < first + tissue_tiles:
            if (ty, tx) not in tissue:
                tissue[(ty, tx)] = tissue_tile(seed + ty * 97 + tx)
            return tissue[(ty, tx)]
        return glass

    def level_tile(k: int, ty: int, tx: int) -> np.ndarray:
        if k == 0:
            return level0_tile(ty, tx)
        n = 2 ** k  # level-0 tiles per side of this tile
        out = np.empty((TILE, TILE, 3), np.uint8)
        sub = TILE // n
        for dy in range(n):
            for dx in range(n):
                part = level0_tile(ty * n + dy, tx * n + dx)[::n, ::n]
                out[dy * sub:(dy + 1) * sub, dx * sub:(dx + 1) * sub] = part
        return out

    shapes = [size]
    while shapes[-1] > 2 * TILE:
        shapes.append(shapes[-1] // 2)
    path = Path(path)
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        for k, side in enumerate(shapes):
            n_tiles = -(-side // TILE)
            tiles = (level_tile(k, ty, tx) for ty in range(n_tiles) for tx in range(n_tiles))
            extra = {"subifds": len(shapes) - 1} if k == 0 else {"subfiletype": 1}
            if mpp:
                per_cm = 1e4 / (mpp * 2 ** k)
                extra.update(resolution=(per_cm, per_cm), resolutionunit="CENTIMETER")
            tif.write(tiles, shape=(side, side, 3), dtype="uint8", tile=(TILE, TILE),
                      photometric="rgb", compression="zlib", metadata=None, **extra)
    return path
