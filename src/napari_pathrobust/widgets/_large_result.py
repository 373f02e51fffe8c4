"""Recognition of large regions straight into zarr (Qt-free, runs in the worker).

Labels go to an OME-Zarr pyramid (``<name>_nuclei.zarr``) and the dense maps a method
declares in ``map_names`` to ``<name>_maps.zarr``; both are written under hidden
temporary names and published only when the whole run succeeded, so a cancelled or
failed run leaves no file behind. The returned layer data are lazy dask pyramids: the
whole plane is never held in memory.
"""

from pathlib import Path

import numpy as np

from ..engine.pipeline import segment_slide
from ..engine.writers import OmeZarrLabelsWriter, read_ome_zarr_labels
from ..engine.writers._atomic import AtomicDest

#: dtype used for a map canvas, by map name (others: float32)
MAP_DTYPES = {"pseudomask": "uint8", "activation": "float32"}


def map_pyramid(array, min_side: int = 1024) -> list:
    """Lazy strided pyramid of a 2-D zarr array (level k = level 0 [::2**k, ::2**k])."""
    import dask.array as da

    base = da.from_zarr(array)
    levels = [base]
    while max(levels[-1].shape[:2]) >= min_side:
        levels.append(levels[-1][::2, ::2])
    return levels if len(levels) > 1 else base


def run_to_zarr(slide, method, dest: Path, metadata: dict, sink, reporter, *, tile=None,
                seed=0, memory_budget_mb=1024):
    """Segment ``slide`` into zarr files next to ``dest``; returns (labels, maps, result)."""
    import dask.array as da
    import zarr

    shape = slide.shape
    map_names = tuple(getattr(method, "map_names", ()) or ())
    writer = OmeZarrLabelsWriter(dest, shape, metadata=metadata, mpp=slide.mpp,
                                 name=dest.stem)
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
        writer.metadata.update({k: v for k, v in result.info.items() if k != "parameters"})
        writer.metadata["parameters"] = result.info["parameters"]
        reporter.check()
        labels_path = writer.finalize(reporter)
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
