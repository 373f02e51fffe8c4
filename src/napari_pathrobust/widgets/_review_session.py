"""Review sessions on napari layers: autosave beside the results, restore on reopen.

:func:`autosave` writes a nuclei layer's reviews (and, with ``cells=True``, its
features and in-memory labels) with ``engine.review.session`` into the results
folder (``_settings.results_dir()``), named after the layer's source image, and notes
that folder. :func:`restore` adds ``<image>_nuclei`` back, reviews included, when an
image of that name is opened again (Recognise and Review call it for every new image
layer): the newest session found in the current results folder, one used before or the
default cache folder (``engine.review.session.find_session``), and only one whose
``source_fingerprint`` matches the pixels (Recognise records :func:`image_fingerprint`),
so a different slide of the same name never gets them.
"""

import weakref
from pathlib import Path
from typing import Optional

import numpy as np
from napari.utils.notifications import show_info, show_warning

from ..engine.api import (
    find_session,
    note_review_folder,
    review_folders,
    save_cells,
    save_reviews,
)
from ._layers import region_geometry
from ._settings import results_dir
from .cell_style import auto_restyle, measure_stain

_FAILED: set = set()  # folders whose autosave failed once (warned once)


def source_of(layer) -> Optional[str]:
    """The source image name of a result layer (``metadata["source_layer"]``)."""
    meta = layer.metadata if isinstance(getattr(layer, "metadata", None), dict) else {}
    return meta.get("source_layer") or None


#: side of the pixel sample an image fingerprint hashes
FINGERPRINT_SIDE = 64


def image_fingerprint(image) -> str:
    """A cheap identity of an image layer's pixels: level-0 shape plus a hash of a
    strided sample of its coarsest level (for a single-scale lazy array, 8 x 8 small
    patches spread over the plane, read one by one, so no whole plane is read). Two
    slides that share a name but not their pixels get different fingerprints."""
    import hashlib

    levels = list(image.data) if image.multiscale else [image.data]
    shape = tuple(int(v) for v in levels[0].shape)
    coarse = levels[-1]
    if image.multiscale or isinstance(coarse, np.ndarray):
        step = [max(1, int(np.ceil(s / FINGERPRINT_SIDE))) for s in coarse.shape[:2]]
        sample = np.ascontiguousarray(np.asarray(coarse[::step[0], ::step[1]]))
    else:
        rows, cols = (np.linspace(0, max(s - 8, 0), 8).astype(int) for s in shape[:2])
        sample = np.ascontiguousarray(np.stack([np.asarray(coarse[y:y + 8, x:x + 8])
                                                for y in rows for x in cols]))
    digest = hashlib.sha1(sample.tobytes()).hexdigest()[:16]
    return f"{'x'.join(map(str, shape))}:{digest}"


def in_memory(layer) -> bool:
    """True when the layer's labels are a plain numpy array (not a lazy pyramid)."""
    return not layer.multiscale and isinstance(layer.data, np.ndarray)


#: (results folder, source image) -> (the layer whose cells are saved there, their token)
_SAVED_CELLS: dict = {}


def autosave(layer, cells: bool = False) -> Optional[Path]:
    """Save ``layer``'s reviews, and its cells when ``cells`` or when the saved cells are
    not this layer's (first save in this process, another result of the same slide);
    the JSON path, or None when the layer has no source image or the folder cannot be
    written."""
    source = source_of(layer)
    features = layer.features
    if not source or "label" not in features.columns:
        return None
    folder = results_dir()
    meta = dict(layer.metadata or {})
    zarr_labels = None if in_memory(layer) else meta.get("zarr_labels")
    key = (str(folder), source)
    saved_layer, token = _SAVED_CELLS.get(key, (None, None))
    try:
        if cells or saved_layer is None or saved_layer() is not layer:
            token = save_cells(folder, source, features,
                               np.asarray(layer.data) if in_memory(layer) else None,
                               layer.name, meta, zarr_labels)
            _SAVED_CELLS[key] = (weakref.ref(layer), token)
        path = save_reviews(folder, source, layer.name, features, meta, zarr_labels, token)
        note_review_folder(folder)  # found again after a change of the results folder
        return path
    except OSError as exc:
        if str(folder) not in _FAILED:
            _FAILED.add(str(folder))
            show_warning(f"reviews of {layer.name} could not be saved in {folder}: {exc}")
        return None


def restore(viewer, image) -> Optional[object]:
    """Add the saved result of image layer ``image`` (reviews included) unless it is
    already open; returns the new Labels layer, or None."""
    import napari

    if not isinstance(image, napari.layers.Image):
        return None
    current = results_dir()
    found = find_session(review_folders(current), image.name,
                         lambda: image_fingerprint(image))
    saved = found.session
    if saved is None and found.other_pixels:
        show_warning(f"reviews saved for an image named {image.name} were not restored: "
                     f"they belong to other pixels (a different slide of the same name)")
    if saved is None or saved.layer in viewer.layers:
        return None
    data = saved.labels
    if data is None:
        import dask.array as da

        from ..engine.api import read_ome_zarr_labels

        try:
            levels, _ = read_ome_zarr_labels(saved.zarr_labels)
        except Exception as exc:  # noqa: BLE001 - a moved or deleted result folder
            show_warning(f"saved reviews of {image.name} found, but not its labels: {exc}")
            return None
        data = [da.from_zarr(level) for level in levels]
        data = data if len(data) > 1 else data[0]
    features = saved.features
    if "index" in features.columns:
        features["index"] = features["label"]
    layer = viewer.add_labels(data, name=saved.layer, metadata=saved.metadata,
                              features=features,
                              **region_geometry(image, saved.metadata.get("region")))
    if "outline_under" not in (saved.metadata or {}):  # saved before it was measured
        measure_stain(layer, image)
    auto_restyle(layer)
    where = str(found.folder) if found.folder == current.expanduser().absolute() else \
        f"{found.folder}; new autosaves go to {current}"
    show_info(f"restored {saved.layer}: {len(features)} cells, {saved.n_reviewed} reviewed "
              f"(autosaved in {where})")
    return layer
