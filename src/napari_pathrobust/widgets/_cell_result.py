"""The slide's cell result ``<image>_nuclei``: one per slide, reviews kept (main thread).

Recognise nuclei and Adapt to image show their cells through here, so both draw the
same outlines (:mod:`.cell_style`) in the same layer. A new region is merged into the
result (``engine.review.merge``: reviewed cells are kept, unreviewed ones inside the
region replaced); a run that cannot be merged in memory replaces the result, which
:func:`refusal` forbids while it holds reviewed cells. ``<image>_centroids`` follows
the cells, and the result is autosaved (``_review_session``).
"""

from contextlib import nullcontext
from pathlib import Path

import numpy as np

from ..engine.api import Box, merge_region, reviewed_mask, safe_name, union_box
from ._layers import region_geometry, upsert_layer
from ._napari_compat import same_layer
from ._review_session import autosave, in_memory
from ._settings import results_dir
from .cell_style import auto_restyle, measure_stain


def existing_result(viewer, source):
    """The slide's current result layer ``<image>_nuclei``, or None."""
    name = f"{source.name}_nuclei"
    return viewer.layers[name] if name in viewer.layers else None


def large_dest(source) -> Path:
    """Where a region too large for memory writes its labels (a zarr pyramid)."""
    return results_dir() / f"{safe_name(source.name)}_nuclei.zarr"


def mergeable(existing, box, large: bool, max_pixels: int) -> bool:
    """True when a new region ``box`` can be merged into ``existing`` in memory (the
    union of the regions holds at most ``max_pixels``)."""
    region = (existing.metadata or {}).get("region")
    if large or region is None or not in_memory(existing) or \
            tuple(existing.data.shape[-2:]) != Box.of(region).shape:
        return False
    union = union_box(Box.of(region), Box.of(box))
    return union.shape[0] * union.shape[1] <= max_pixels


def refusal(viewer, source, box, large: bool, max_pixels: int) -> str:
    """Why a run on ``box`` would lose reviews (it would replace a result holding
    reviewed cells that cannot be merged), or ''."""
    existing = existing_result(viewer, source)
    if existing is None or mergeable(existing, box, large, max_pixels):
        return ""
    reviewed = int(reviewed_mask(existing.features).sum())
    if not reviewed:
        return ""
    return (f"not run: {existing.name} holds {reviewed} reviewed cells and this region "
            f"cannot be merged into it in memory (the result would be replaced); "
            f"export the reviews and rename or remove {existing.name} first")


def merged_result(viewer, source, result, max_pixels: int) -> tuple:
    """``(labels, table, metadata, note)``: the slide's result with ``result`` (a
    ``jobs.region.RegionResult``) merged in, or ``result`` alone when there is nothing
    to merge with; ``note`` ('' or '; ...') says what the merge did. Check
    :func:`refusal` first."""
    metadata = dict(result.metadata)
    large = not isinstance(result.labels, np.ndarray)
    box = Box.of(metadata["region"])
    existing = existing_result(viewer, source)
    labels, table, note = result.labels, dict(result.table), ""
    if existing is not None and mergeable(existing, box, large, max_pixels):
        old_meta = dict(existing.metadata or {})
        labels, frame, union, report = merge_region(
            np.asarray(existing.data), existing.features, Box.of(old_meta["region"]),
            result.labels, table, box)
        table = {c: frame[c].to_numpy() for c in frame.columns}
        metadata["regions"] = [*old_meta.get("regions", [old_meta["region"]]),
                               box.as_list()]
        metadata["region"] = union.as_list()
        metadata["run_id"] = old_meta.get("run_id") or metadata.get("run_id")
        note = f"; {report.message()}"
    elif existing is not None:
        note = f"; replaced {existing.name} ({len(existing.features)} unreviewed cells)"
    return labels, table, metadata, note


def show_cells(viewer, source, labels, table: dict, metadata: dict):
    """Add or update ``<image>_nuclei`` (outlines coloured by class and status) and
    ``<image>_centroids`` (hidden) over ``source``; select and autosave the result.
    Returns the nuclei layer."""
    geometry = {**region_geometry(source, metadata["region"]), "metadata": metadata}
    features = dict(table, index=table["label"])
    name = f"{source.name}_nuclei"
    previous = viewer.layers[name] if name in viewer.layers else None
    # one repaint for the new data and features together (not one per change)
    with previous.events.features.blocker() if previous is not None else nullcontext():
        nuclei = upsert_layer(viewer, name, "labels", labels,
                              dict(geometry, features=features))
    measure_stain(nuclei, source)  # the outlines' colours contrast with this slide
    if previous is not None and same_layer(nuclei, previous):  # updated in place
        nuclei.events.features()
    auto_restyle(nuclei)
    points = np.stack([table["y"], table["x"]], axis=1) if len(table["label"]) \
        else np.zeros((0, 2))
    upsert_layer(viewer, f"{source.name}_centroids", "points", points,
                 dict(geometry, features=table, size=6, face_color="yellow", visible=False))
    viewer.layers.selection.active = nuclei
    autosave(nuclei, cells=True)
    return nuclei
