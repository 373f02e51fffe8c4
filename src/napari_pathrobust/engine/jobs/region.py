"""In-memory segmentation of an image or a region of it: the job behind the widgets.

:func:`segment_region` builds the method (so weight-loading errors surface as the job's
own error, in the caller's thread), segments the region and returns the labels, the
maps the method produced and the cells as a features table. With ``zarr_dest`` the
labels go to an OME-Zarr pyramid (``<name>_nuclei.zarr``) and the maps a method
declares in ``map_names`` to ``<name>_maps.zarr``, both published only when the whole
run succeeded; the returned data are then lazy dask pyramids.
Regions are :class:`..tiled.tiling.Box` (y0, x0, y1, x1) in level-0 pixels.
With ``stain="ihc"`` the cells are classified by the IHC thresholds (``options.ihc``, see
:mod:`..ihc.scoring`) and the metadata carries ``ihc_thresholds`` and ``ihc_summary``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..adapt.normalise import normalisation_record
from ..ihc.scoring import IhcThresholds, auto_thresholds, classify_cells, ihc_summary
from ..io import slide_from_array
from ..nucleus_records import NucleusRecord, features_table
from ..progress import Reporter
from ..registry import DEFAULT_METHOD, get_method
from ..tiled.pipeline import segment_slide
from ..tiled.tiling import Box
from ..writers import OmeZarrLabelsWriter, read_ome_zarr_labels
from ..writers._atomic import AtomicDest
from .pixel_estimate import with_estimated_pixel_size
from .stain_note import record_stain, stain_check

#: dtype used for a map canvas, by map name (others: float32)
MAP_DTYPES = {"pseudomask": "uint8", "activation": "float32"}


_NO_MASK = np.zeros((0, 0), bool)


class FeatureSink:
    """Record sink keeping what a features table needs (no masks), in final-id order."""

    def __init__(self):
        self._rows: list[NucleusRecord] = []
        self._lock = threading.Lock()

    def add(self, records) -> None:
        # every field but the pixels (class parts, source and probability included)
        light = [replace(r, mask=_NO_MASK, polygon=None, measurements=dict(r.measurements))
                 for r in records]
        with self._lock:
            self._rows.extend(light)

    def renumber(self, lut) -> None:
        """Give every row its final id ``lut[provisional]`` (rows stay sorted by id)."""
        lut = np.asarray(lut)
        with self._lock:
            for row in self._rows:
                row.label = int(lut[row.label])
            self._rows.sort(key=lambda r: r.label)

    def table(self) -> dict[str, np.ndarray]:
        """Feature columns (label, x, y, area, classification, status, measurements),
        one row per cell in ascending label."""
        with self._lock:
            return features_table(sorted(self._rows, key=lambda r: r.label))

    def __len__(self) -> int:
        return len(self._rows)


@dataclass
class RegionOptions:
    """How to segment a region (all of it recorded in the result's metadata)."""

    method: str = DEFAULT_METHOD
    device: str = "auto"
    seed: int = 0
    tile: Optional[int] = None
    stain: str = "he"  # "ihc": H-DAB detection, cells classified by the IHC thresholds
    ihc: Optional[IhcThresholds] = None  # stain "ihc": thresholds (None: the defaults)
    memory_budget_mb: float = 1024
    method_params: dict[str, Any] = field(default_factory=dict)
    normalise: bool = True  # psm on H&E: gated stain normalisation (engine.adapt.normalise)


@dataclass
class RegionResult:
    """Labels (numpy, or lazy pyramid levels), maps by name, cells and metadata."""

    labels: Any
    maps: dict[str, Any]
    table: dict[str, np.ndarray]
    metadata: dict[str, Any]
    n_nuclei: int
    seconds: float


def build_method(options: RegionOptions):
    """The engine method with the options' device, seed and stain (errors propagate)."""
    params = dict(options.method_params)
    if options.method == "psm" or options.stain != "he":
        params.setdefault("stain", options.stain)
    return get_method(options.method, device=options.device, seed=options.seed,
                      normalise=options.normalise, **params)


def clip_box(y0: float, x0: float, y1: float, x1: float, shape,
             min_side: int = 16) -> Optional[Box]:
    """The pixel box covering ``[y0, y1) x [x0, x1)`` clipped to ``shape`` (None when a
    side is under ``min_side``)."""
    box = Box(int(np.floor(y0)), int(np.floor(x0)), int(np.ceil(y1)), int(np.ceil(x1)))
    box = box.clip(shape)
    if box.shape[0] < min_side or box.shape[1] < min_side:
        return None
    return box


def segment_region(image, box, options: Optional[RegionOptions] = None,
                   reporter: Optional[Reporter] = None, *, name: str = "image",
                   mpp: Optional[float] = None, metadata: Optional[dict] = None,
                   zarr_dest: Optional[Path] = None, method: Any = None) -> RegionResult:
    """Segment ``image[box]`` (numpy, dask or zarr; read here, lazily by tile).

    ``metadata`` is merged into the result's metadata (e.g. the source layer name);
    ``method``: a ready-made method object instead of one built from ``options``.
    """
    options = options or RegionOptions()
    reporter = reporter or Reporter()
    start = time.perf_counter()
    box = Box.of(box)
    slide = slide_from_array(image[box.slices], name=name, mpp=mpp)
    slide = with_estimated_pixel_size(slide, options.stain, options.seed)  # IHC only
    method = method if method is not None else build_method(options)
    info = {"method": method.name, **{k: v for k, v in asdict(options).items()
                                      if k not in ("method", "method_params")},
            **dict(metadata or {}), "region": box.as_list()}
    if options.method_params:
        info["method_params"] = dict(options.method_params)
    sink = FeatureSink()
    run = dict(tile=options.tile, seed=options.seed, memory_budget_mb=options.memory_budget_mb)
    if zarr_dest is not None:
        labels, maps, result = run_to_zarr(slide, method, Path(zarr_dest), info, sink,
                                           reporter, **run)
    else:
        result = segment_slide(slide, method, sinks=[sink], polygons=False,
                               reporter=reporter, **run)
        labels, maps = result.labels, result.maps
    meta = {**info, **result.info}
    record_stain(meta, options.stain, stain_check(slide, options.seed, options.stain), name)
    meta["model_hash"] = (result.info.get("parameters") or {}).get("model_hash")
    meta["normalisation"] = normalisation_record(method, options.normalise)
    table = sink.table()
    if options.stain == "ihc":
        table = score_ihc(table, options.ihc, meta)
    return RegionResult(labels, dict(maps), table, meta, result.n_nuclei,
                        time.perf_counter() - start)


def score_ihc(table: dict, thresholds: Optional[IhcThresholds], meta: dict) -> dict:
    """``table`` classified by ``thresholds`` (``auto`` fitted on it); the thresholds used
    and the whole result's scores go into ``meta`` (``ihc_thresholds``, ``ihc_summary``)."""
    thresholds = auto_thresholds(table, thresholds or IhcThresholds())
    table = classify_cells(table, thresholds)
    meta["ihc_thresholds"] = thresholds.describe()
    meta["ihc_summary"] = ihc_summary(table, thresholds)
    return table


def map_pyramid(array, min_side: int = 1024) -> Any:
    """Lazy strided pyramid of a 2-D zarr array (level k = level 0 [::2**k, ::2**k])."""
    import dask.array as da

    base = da.from_zarr(array)
    levels = [base]
    while max(levels[-1].shape[:2]) >= min_side:
        levels.append(levels[-1][::2, ::2])
    return levels if len(levels) > 1 else base


def run_to_zarr(slide, method, dest: Path, metadata: dict, sink, reporter, *, tile=None,
                seed=0, memory_budget_mb=1024):
    """Segment ``slide`` into zarr files next to ``dest``; returns (labels, maps, result).

    A cancelled or failed run leaves no file behind."""
    import dask.array as da
    import zarr

    shape = slide.shape
    map_names = tuple(method.map_names)
    writer = OmeZarrLabelsWriter(dest, shape, metadata=metadata, mpp=slide.mpp, name=dest.stem)
    maps_target = AtomicDest(dest.with_name(dest.name.replace("_nuclei.zarr", "_maps.zarr")))
    try:
        canvases = {}
        if map_names:
            group = zarr.open_group(store=str(maps_target.tmp), mode="w", zarr_format=3)
            for name in map_names:
                canvases[name] = group.create_array(
                    name, shape=shape, dtype=MAP_DTYPES.get(name, "float32"),
                    chunks=(min(1024, shape[0]), min(1024, shape[1])), fill_value=0)
        result = segment_slide(slide, method, tile=tile, seed=seed, canvas=writer.array,
                               sinks=[sink], polygons=False, map_canvases=canvases,
                               memory_budget_mb=memory_budget_mb, reporter=reporter)
        reporter.check()
        labels_path = writer.finalize(reporter, metadata={**metadata, **result.info})
        maps_path = maps_target.commit() if map_names else None
    except BaseException:
        writer.abort()
        maps_target.abort()
        raise
    if not map_names:
        maps_target.abort()
    levels, _attrs = read_ome_zarr_labels(labels_path)
    labels = [da.from_zarr(level) for level in levels]
    maps = {}
    if maps_path is not None:
        group = zarr.open_group(store=str(maps_path), mode="r")
        for name in map_names:
            maps[name] = map_pyramid(group[name])
    for name, extra in result.maps.items():  # undeclared maps were kept in memory
        if name not in maps:
            maps[name] = np.asarray(extra)
    return (labels if len(labels) > 1 else labels[0]), maps, result
