"""Apply corruptions to whole images, batches, windows of large images and labels.

One code path serves all cases: the output box (whole image, a tile, or the visible
part of a slide) is computed from a source window read from the full image (the box
plus ``halo`` for local kinds; the bounding box of the inverse map for geometric kinds).
Because all randomness lives in global coordinates (:mod:`.fields`), a tile equals the
same crop of the corrupted whole image (``jpeg`` only for tiles aligned to 16 px).
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Optional, Sequence

import numpy as np
import torch

from ..device import resolve_device
from ..tiled.tiling import Box, plan_tiles
from .fields import Context, bilinear
from .registry import Corruption, get_corruption


def _device(device: Any) -> torch.device:
    return device if isinstance(device, torch.device) else resolve_device(str(device))


def to_tensor(rgb: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 (B, H, W, 3) -> float32 (B, 3, H, W) in [0, 1]."""
    t = torch.as_tensor(np.ascontiguousarray(rgb[..., :3]), device=device)
    return t.permute(0, 3, 1, 2).to(torch.float32) / 255.0


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """float (B, 3, H, W) in [0, 1] -> uint8 (B, H, W, 3) (rounded, clipped)."""
    y = (x * 255.0).clamp_(0, 255).round_().to(torch.uint8)
    return y.permute(0, 2, 3, 1).contiguous().cpu().numpy()


def _check_rgb(arr, what: str = "image") -> None:
    if arr.ndim != 3 or arr.shape[-1] not in (3, 4):
        raise ValueError(f"{what}: expected an (H, W, 3) RGB array, got shape {arr.shape}")


def source_coords(spec: Corruption, params: dict, seeds: Sequence[int], box: Box,
                  full_shape, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Global source positions (B, h, w) float64 of the output pixels in ``box``."""
    box = Box.of(box)
    ctx = Context(tuple(int(s) for s in seeds), box.offset, tuple(full_shape), device)
    pairs = [spec.coords(params, ctx, i, box.offset, box.shape) for i in range(len(seeds))]
    return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])


def _read(source, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    win = source[y0:y1, x0:x1]
    if hasattr(win, "compute"):
        win = win.compute(scheduler="synchronous")
    win = np.asarray(win)
    if win.dtype != np.uint8:
        raise ValueError(f"expected uint8 RGB, got {win.dtype}")
    return win[..., :3]


def corrupt_window(sources: Sequence[Any], kind: str, severity: int,
                   seeds: Sequence[int], box: Optional[Box] = None,
                   device: Any = "auto") -> np.ndarray:
    """Corrupt the region ``box`` of each full image in ``sources`` (same shape; numpy,
    dask or zarr (H, W, 3) uint8, read lazily) -> uint8 (B, h, w, 3).

    ``box``: a :class:`..tiled.tiling.Box` (or any ``(y0, x0, y1, x1)``) in global
    coordinates; None means the whole image.
    """
    spec = get_corruption(kind)
    params = spec.params(severity)
    dev = _device(device)
    full = tuple(int(v) for v in sources[0].shape[:2])
    for s in sources:
        _check_rgb(s)
        if tuple(s.shape[:2]) != full:
            raise ValueError("all images of a batch must have the same shape")
    box = Box(0, 0, full[0], full[1]) if box is None else Box.of(box)
    y0, x0 = box.offset
    h, w = box.shape
    if h <= 0 or w <= 0 or y0 < 0 or x0 < 0 or box.y1 > full[0] or box.x1 > full[1]:
        raise ValueError(f"box {box.as_list()} is not inside the image {full}")
    if spec.geometric:
        return _mapped(sources, spec, params, seeds, box, full, dev)
    pad = int(spec.halo(params))
    a = spec.align
    wy0, wx0 = max(0, (y0 - pad) // a * a), max(0, (x0 - pad) // a * a)
    wy1 = min(full[0], -(-(y0 + h + pad) // a) * a)
    wx1 = min(full[1], -(-(x0 + w + pad) // a) * a)
    x = to_tensor(np.stack([_read(s, wy0, wy1, wx0, wx1) for s in sources]), dev)
    ctx = Context(tuple(int(s) for s in seeds), (wy0, wx0), full, dev)
    with torch.no_grad():
        out = spec.apply(x, params, ctx)
    out = out[:, :, y0 - wy0:y0 - wy0 + h, x0 - wx0:x0 - wx0 + w]
    return to_uint8(out)


def _mapped(sources, spec, params, seeds, box, full, dev) -> np.ndarray:
    sy, sx = source_coords(spec, params, seeds, box, full, dev)
    inside = (sy >= -0.5) & (sy <= full[0] - 0.5) & (sx >= -0.5) & (sx <= full[1] - 0.5)
    outs = []
    for i, src in enumerate(sources):
        # clamp to the image border (not the window) so tiles match the whole image
        cy, cx = sy[i].clamp(0, full[0] - 1), sx[i].clamp(0, full[1] - 1)
        yi, xi = (cy[inside[i]], cx[inside[i]]) if spec.fill is not None else (cy, cx)
        if yi.numel() == 0:  # everything comes from outside the image
            outs.append(torch.full((1, 3, *box.shape), float(spec.fill), device=dev))
            continue
        wy0 = max(0, int(math.floor(float(yi.min()))) - 1)
        wx0 = max(0, int(math.floor(float(xi.min()))) - 1)
        wy1 = min(full[0], int(math.ceil(float(yi.max()))) + 2)
        wx1 = min(full[1], int(math.ceil(float(xi.max()))) + 2)
        win = to_tensor(_read(src, wy0, wy1, wx0, wx1)[None], dev)
        o = bilinear(win, (cy - wy0)[None], (cx - wx0)[None])
        if spec.fill is not None:
            o = torch.where(inside[i][None, None], o, torch.full_like(o, spec.fill))
        outs.append(o)
    return to_uint8(torch.cat(outs))


def corrupt(image, kind: str, severity: int, seed: int = 0, device: Any = "auto",
            box: Optional[Box] = None) -> np.ndarray:
    """Corrupt one RGB uint8 image (H, W, 3) (or its region ``box``) -> uint8 (h, w, 3)."""
    _check_rgb(image)
    return corrupt_window([image], kind, severity, [seed], box, device)[0]


def corrupt_batch(images: np.ndarray, kind: str, severity: int,
                  seeds: Sequence[int] | int = 0, device: Any = "auto") -> np.ndarray:
    """Corrupt a batch (B, H, W, 3) uint8 in one torch call; ``seeds`` one per image
    (an int gives ``seed + i``). Equal to calling :func:`corrupt` per image."""
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"expected a (B, H, W, 3) batch, got shape {images.shape}")
    if isinstance(seeds, (int, np.integer)):
        seeds = [int(seeds) + i for i in range(len(images))]
    return corrupt_window(list(images), kind, severity, list(seeds), None, device)


def iter_tiles(shape, tile: int) -> Iterable[Box]:
    """Boxes of a regular tiling of ``shape`` (last row/column may be smaller): the
    cores of :func:`..tiled.tiling.plan_tiles`, row by row."""
    return (t.core for t in plan_tiles(shape, int(tile), 0))


def corrupt_tiled(image, kind: str, severity: int, seed: int = 0, tile: int = 1024,
                  device: Any = "auto", out: Optional[np.ndarray] = None,
                  reporter=None) -> np.ndarray:
    """Corrupt a large image tile by tile into ``out`` (numpy or zarr, default numpy)."""
    _check_rgb(image)
    h, w = image.shape[:2]
    if out is None:
        out = np.empty((h, w, 3), np.uint8)
    boxes = list(iter_tiles((h, w), tile))
    for n, b in enumerate(boxes):
        if reporter is not None:
            reporter.report(n, len(boxes), f"{kind} tile {n + 1}/{len(boxes)}")
        out[b.slices] = corrupt(image, kind, severity, seed, device, b)
    if reporter is not None:
        reporter.report(len(boxes), len(boxes), f"{kind}: {len(boxes)} tiles")
    return out


def pyramid_shapes(shape, min_side: int = 1024) -> list[tuple[int, int]]:
    """(h, w) of level 0 and each ``[::2, ::2]`` level while the last one is at least
    ``min_side`` on its longest side."""
    shapes = [(int(shape[0]), int(shape[1]))]
    while max(shapes[-1]) >= min_side:
        h, w = shapes[-1]
        shapes.append(((h + 1) // 2, (w + 1) // 2))
    return shapes


def corrupt_pyramid(image, kind: str, severity: int, seed: int = 0, tile: int = 1024,
                    device: Any = "auto", outs: Optional[Sequence[Any]] = None,
                    reporter=None, min_side: int = 1024) -> list:
    """Corrupt a whole slide tile by tile (read lazily; numpy, dask or zarr source) into
    a pyramid: level 0 plus ``[::2, ::2]`` levels (see :func:`pyramid_shapes`), each
    written from the level-0 tile as it is made, so no level is ever read back.

    ``outs``: arrays (numpy or zarr, (h_k, w_k, 3) uint8) to fill, one per level;
    default: numpy arrays. ``tile`` must be a multiple of ``2 ** (levels - 1)`` so the
    strided tiles line up (it is rounded up to one). Progress and cancel per tile."""
    _check_rgb(image)
    shapes = pyramid_shapes(image.shape[:2], min_side)
    if outs is None:
        outs = [np.empty((h, w, 3), np.uint8) for h, w in shapes]
    if len(outs) != len(shapes):
        raise ValueError(f"expected {len(shapes)} output levels, got {len(outs)}")
    step = 2 ** (len(shapes) - 1)
    tile = -(-max(int(tile), step) // step) * step
    boxes = list(iter_tiles(shapes[0], tile))
    for n, b in enumerate(boxes):
        if reporter is not None:
            reporter.report(n, len(boxes), f"{kind} tile {n + 1}/{len(boxes)}")
        block = corrupt(image, kind, severity, seed, device, b)
        for k, out in enumerate(outs):
            f = 2 ** k
            part = block[::f, ::f]
            y0, x0 = b.y0 // f, b.x0 // f
            out[y0:y0 + part.shape[0], x0:x0 + part.shape[1]] = part
    if reporter is not None:
        reporter.report(len(boxes), len(boxes), f"{kind}: {len(boxes)} tiles")
    return list(outs)


def map_labels(labels: np.ndarray, kind: str, severity: int, seed: int = 0,
               box: Optional[Box] = None, device: Any = "cpu") -> np.ndarray:
    """Carry a label image (H, W) through the same transform as the image (nearest
    neighbour, 0 where the source is outside the image). Non-geometric kinds: a copy."""
    spec = get_corruption(kind)
    labels = np.asarray(labels)
    full = labels.shape[:2]
    box = Box(0, 0, full[0], full[1]) if box is None else Box.of(box)
    crop = labels[box.slices]
    if not spec.geometric:
        return crop.copy()
    sy, sx = source_coords(spec, spec.params(severity), [seed], box, full, _device(device))
    ry = torch.floor(sy[0] + 0.5).long().cpu().numpy()
    rx = torch.floor(sx[0] + 0.5).long().cpu().numpy()
    ok = (ry >= 0) & (ry < full[0]) & (rx >= 0) & (rx < full[1])
    out = np.zeros(crop.shape, labels.dtype)
    out[ok] = labels[ry[ok], rx[ok]]
    return out
