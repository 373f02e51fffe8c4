"""Per-cell measurements for the cell classifier, from an RGB image and its nucleus labels.

One row per label: size and shape (in microns where the pixel size is known), mean and
standard deviation of the hematoxylin, eosin and DAB optical densities in the nucleus and
in a ring around it (the *cell*: the nucleus grown by ``ring_um``, never into another
nucleus or its ring), and the local density (neighbours within ``radius_um`` of the
centroid, distance to the nearest one). Everything is computed with vectorised sums per
label over windows of ``tile`` pixels plus a ``margin``; a cell belongs to the window
holding its bounding box's first pixel, and its numbers are the same whatever the tiling
as long as the cell and its ring fit in the margin (cells up to ``margin - 2 * ring``
pixels across). Density is computed from all centroids at once.
"""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from ..errors import InputError
from ..progress import Reporter
from ..stain import HED_FROM_RGB, stain_channel

#: shape columns (units: microns where ``mpp`` is known, else the assumed pixel size)
SHAPE = ("area_um2", "perimeter_um", "eccentricity", "solidity", "major_axis_um",
         "minor_axis_um", "circularity")
STAINS = ("hematoxylin", "eosin", "dab")
#: intensity columns: <where>_<stain>_<mean|std>
INTENSITY = tuple(f"{where}_{stain}_{stat}" for where in ("nucleus", "cell")
                  for stain in STAINS for stat in ("mean", "std"))
DENSITY = ("neighbours", "nearest_um")
#: every feature column, in order
FEATURES = SHAPE + INTENSITY + DENSITY
#: the pixel size assumed when an image states none (the methods' working resolution)
DEFAULT_MPP = 0.25
TILE, MARGIN = 2048, 128


def _window_stats(lab: np.ndarray, offset) -> dict:
    from ..nucleus_records import _window_stats as stats  # bit-identical in any window

    return stats(lab, None, offset)


def _ring_labels(lab: np.ndarray, ring_px: int) -> np.ndarray:
    """Label of the nearest nucleus within ``ring_px`` on background pixels (0 elsewhere)."""
    from skimage.segmentation import expand_labels

    if ring_px <= 0:
        return np.zeros_like(lab)
    grown = expand_labels(lab, distance=ring_px)
    grown[lab > 0] = 0
    return grown


def _mean_std(values: np.ndarray, flat: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    count = np.bincount(flat, minlength=n).astype(np.float64)
    total = np.bincount(flat, values, n)
    square = np.bincount(flat, values * values, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        std = np.sqrt(np.maximum(square / count - mean * mean, 0.0))
    return mean, std


def _window_features(lab: np.ndarray, rgb: np.ndarray, keep: np.ndarray, offset,
                     mpp: float, ring_px: int) -> dict[str, np.ndarray]:
    """Features of the labels ``keep`` (values present in ``lab``) of one window."""
    ids = keep
    if int(lab.max()) > 4 * len(keep) + 1024:  # a slide's ids: compact them
        values, inverse = np.unique(lab, return_inverse=True)
        lab, keep = inverse.reshape(lab.shape), np.searchsorted(values, keep)
    lab = lab.astype(np.intp, copy=False)
    n = int(lab.max()) + 1
    stats = _window_stats(lab, offset)
    a, b, c = stats["vrr"][keep], stats["vcc"][keep], stats["vrc"][keep]
    half, root = (a + b) / 2.0, np.hypot((a - b) / 2.0, c)
    l1, l2 = half + root, np.maximum(half - root, 0.0)
    area = stats["count"][keep]
    perimeter = stats["perimeter"][keep]
    hull = stats["hull_area"][keep]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = {
            "label": ids.astype(np.int64), "y": stats["gy"][keep], "x": stats["gx"][keep],
            "area_um2": area * mpp * mpp, "perimeter_um": perimeter * mpp,
            "eccentricity": np.where(l1 > 0, np.sqrt(1.0 - l2 / l1), 0.0),
            "solidity": np.where(hull > 0, area / hull, 1.0),
            "major_axis_um": 4.0 * np.sqrt(l1) * mpp, "minor_axis_um": 4.0 * np.sqrt(l2) * mpp,
            "circularity": np.where(perimeter > 0, 4 * np.pi * area / perimeter ** 2, 1.0),
        }
    ring = _ring_labels(lab, ring_px).ravel()
    flat = lab.ravel()
    for k, stain in enumerate(STAINS):
        channel = stain_channel(rgb, k, HED_FROM_RGB).ravel().astype(np.float64)
        for where, index in (("nucleus", flat), ("cell", ring)):
            mean, std = _mean_std(channel, index, n)
            out[f"{where}_{stain}_mean"], out[f"{where}_{stain}_std"] = mean[keep], std[keep]
    return out


def _density(y: np.ndarray, x: np.ndarray, mpp: float, radius_um: float):
    from scipy.spatial import cKDTree

    points = np.column_stack([y, x]) * mpp
    if len(points) < 2:
        return np.zeros(len(points)), np.full(len(points), np.nan)
    tree = cKDTree(points)
    count = tree.query_ball_point(points, radius_um, return_length=True) - 1
    distance = tree.query(points, k=2)[0][:, 1]
    return count.astype(np.float64), distance


def measure_cells(image: Any, labels: Any, mpp: Optional[float] = None, *,
                  ring_um: float = 2.0, radius_um: float = 25.0, tile: int = TILE,
                  margin: int = MARGIN, reporter: Optional[Reporter] = None
                  ) -> dict[str, np.ndarray]:
    """Feature table (``label``, ``y``, ``x`` in pixels, then :data:`FEATURES`), sorted by
    label, of every nucleus of ``labels`` (2-D integer array, numpy / zarr / dask) on
    ``image`` (the matching (H, W, 3) RGB window, same kinds). ``mpp``: microns per
    pixel (None: :data:`DEFAULT_MPP`)."""
    from scipy import ndimage

    if labels.ndim != 2 or image.ndim != 3 or tuple(image.shape[:2]) != tuple(labels.shape):
        raise InputError("image", f"shape {tuple(image.shape)} does not match the labels "
                                  f"{tuple(labels.shape)}")
    mpp = float(mpp) if mpp else DEFAULT_MPP
    ring_px = max(1, int(round(ring_um / mpp)))
    height, width = int(labels.shape[0]), int(labels.shape[1])
    ny, nx = math.ceil(height / tile), math.ceil(width / tile)
    parts: list[dict[str, np.ndarray]] = []
    for k in range(ny * nx):
        if reporter is not None:
            reporter.report(k, ny * nx, "measuring cells")
        ty, tx = divmod(k, nx)
        y0, x0 = ty * tile, tx * tile
        wy0, wx0 = max(0, y0 - margin), max(0, x0 - margin)
        wy1, wx1 = min(height, y0 + tile + margin), min(width, x0 + tile + margin)
        lab = np.asarray(labels[wy0:wy1, wx0:wx1])
        if not lab.any():
            continue
        keep = []
        for index, slc in enumerate(ndimage.find_objects(lab)):
            if slc is not None and y0 <= wy0 + slc[0].start < y0 + tile \
                    and x0 <= wx0 + slc[1].start < x0 + tile:
                keep.append(index + 1)
        if keep:
            rgb = np.asarray(image[wy0:wy1, wx0:wx1])[..., :3]
            parts.append(_window_features(lab, rgb, np.asarray(keep, np.intp),
                                          (wy0, wx0), mpp, ring_px))
    names = ("label", "y", "x") + FEATURES[:-len(DENSITY)]
    table = {name: np.concatenate([p[name] for p in parts]) if parts else
             np.zeros(0, np.int64 if name == "label" else np.float64) for name in names}
    order = np.argsort(table["label"], kind="stable")
    table = {name: value[order] for name, value in table.items()}
    table["neighbours"], table["nearest_um"] = _density(table["y"], table["x"], mpp,
                                                        radius_um)
    if reporter is not None:
        reporter.report(ny * nx, ny * nx, f"{len(order)} cells measured")
    return table


def feature_matrix(table, names=FEATURES) -> np.ndarray:
    """The (cells, features) float matrix of ``names`` from a feature table."""
    return np.column_stack([np.asarray(table[name], np.float64) for name in names]) \
        if len(names) else np.zeros((0, 0))


__all__ = ["FEATURES", "SHAPE", "INTENSITY", "DENSITY", "DEFAULT_MPP", "measure_cells",
           "feature_matrix"]
