"""Fine-tuning job: images + their reviewed results -> a kept network ``psm@<name>``.

A reviewed result is what Export writes: a label TIFF with its cells table
``<stem>_cells.csv`` beside it (the CSV itself may be given), or an OME-Zarr label
folder with ``cells.csv`` inside; the table's ``status`` column says which cells were
accepted or rejected (a ``painted`` column or status marks repainted masks). Only the
area around the reviewed cells is read (their bounding box plus ``margin`` px), so a
whole-slide result costs the reviewed area only. The network is fine-tuned
(:mod:`..psm.finetune`) and, when the never-worse check keeps it, saved with its model
card in the models folder (:mod:`..adapt.finetuned`), where Recognise and
``pathrobust segment --method psm@<name>`` find it. A result of an IHC run (``stain``
``ihc`` in its metadata) is learnt as psm's IHC runs feed the network: the image
rendered as pseudo-H&E (:func:`network_view`), so the kept network fits those runs.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..cell_classes import UNREVIEWED
from ..errors import InputError
from ..progress import Reporter
from ..psm.finetune import (
    FinetuneConfig,
    FinetuneResult,
    ReviewedImage,
    finetune_network,
    reviewed_image,
)

#: context read around the reviewed cells (px): room for crops and unreviewed neighbours
MARGIN = 256
#: images whose pixel size differs from the network's by more than this share are refused
MPP_TOLERANCE = 0.2


@dataclass
class FinetuneJobResult:
    """What the job did: the fine-tuning result, the saved weights (None when the
    source network was kept) and the card written (or that would have been)."""

    name: str
    result: FinetuneResult
    path: Optional[Path]
    card: dict

    @property
    def message(self) -> str:
        """The outcome in one line."""
        c = self.result.counts
        what = (f"{c['accepted']} accepted, {c['rejected']} rejected, {c['painted']} "
                f"painted cells")
        if self.path is None:
            return f"{self.result.decision} ({self.result.reason}); {what}; nothing saved"
        return (f"kept as psm@{self.path.stem} ({self.result.reason}); {what}; "
                f"{self.result.config.method}")


def _labels_source(path: Path):
    """(level-0 labels array, metadata, cells table path) of an Export result."""
    from ..results import ZARR_CELLS
    from ..writers import read_labels_tiff, read_ome_zarr_labels
    from .export import tiff_sidecar

    if path.name.lower().endswith("_cells.csv"):
        stem = path.name[: -len("_cells.csv")]
        found = [p for p in (path.with_name(stem + s) for s in (".tif", ".tiff"))
                 if p.is_file()]
        if not found:
            raise InputError(path, f"no label TIFF {stem}.tif beside this cells table")
        path = found[0]
    if path.is_dir():
        levels, attrs = read_ome_zarr_labels(path)
        return levels[0], dict(attrs.get("pathrobust") or {}), path / ZARR_CELLS
    if path.suffix.lower() in (".tif", ".tiff"):
        labels, metadata = read_labels_tiff(path)
        return labels, metadata, tiff_sidecar(path)
    raise InputError(path, "not a reviewed result (expected Export's label TIFF, its "
                           "_cells.csv, or an OME-Zarr label folder)")


def result_stain(metadata: Optional[dict]) -> str:
    """The stain a result was recognised with (``ihc`` or ``he``), from its metadata."""
    metadata = metadata or {}
    stain = metadata.get("stain") or (metadata.get("parameters") or {}).get("stain")
    return "ihc" if str(stain or "").lower() == "ihc" else "he"


def network_view(rgb: np.ndarray, stain: str, mpp: Optional[float] = None) -> np.ndarray:
    """``rgb`` as the psm network sees it in a run of ``stain``: an IHC image becomes the
    pseudo-H&E of its H-DAB detection (fitted on ``rgb``, ``mpp`` its pixel size), an
    H&E image stays as it is."""
    if stain != "ihc":
        return rgb
    from ..methods.base import WORKING_MPP
    from .training_images import render_ihc

    return render_ihc(np.asarray(rgb)[..., :3], float(mpp or WORKING_MPP))


def read_reviewed(image_path, result_path, mpp: Optional[float] = None,
                  working_mpp: Optional[float] = None, margin: int = MARGIN
                  ) -> Optional[ReviewedImage]:
    """The reviewed area of one image and its result (None: no reviewed cell)."""
    from ..io import open_image
    from ..results import read_cells_table, region_origin

    result_path = Path(result_path)
    labels, metadata, cells = _labels_source(result_path)
    if not cells.is_file():
        raise InputError(result_path, f"no cells table ({cells.name}) with the review "
                                      "statuses; export the cells with the labels")
    table = read_cells_table(cells, metadata)
    reviewed = [i for i, s in enumerate(table.get("status", []))
                if str(s).strip().lower() not in ("", UNREVIEWED)]
    if not reviewed:
        return None
    slide = open_image(image_path, mpp=mpp)
    if slide.mpp and working_mpp and abs(slide.mpp / working_mpp - 1) > MPP_TOLERANCE:
        raise InputError(image_path, f"pixel size {slide.mpp:g} um/px; fine-tuning reads "
                                     f"images at the network's {working_mpp:g} um/px")
    h, w = int(labels.shape[0]), int(labels.shape[1])
    ys = np.asarray(table["y"], float)[reviewed]
    xs = np.asarray(table["x"], float)[reviewed]
    y0, x0 = max(0, int(np.nanmin(ys)) - margin), max(0, int(np.nanmin(xs)) - margin)
    y1, x1 = min(h, int(np.nanmax(ys)) + margin + 1), min(w, int(np.nanmax(xs)) + margin + 1)
    oy, ox = region_origin(metadata)
    sh, sw = slide.shape
    if oy + h > sh or ox + w > sw:
        raise InputError(result_path, f"labels ({h} x {w} at {oy}, {ox}) lie outside the "
                                      f"image {Path(image_path).name} ({sh} x {sw})")
    stain = result_stain(metadata)
    rgb = network_view(np.asarray(slide.data[oy + y0:oy + y1, ox + x0:ox + x1]), stain,
                       slide.mpp or working_mpp)
    crop = np.asarray(labels[y0:y1, x0:x1])
    return reviewed_image(Path(image_path).name, rgb, crop, table, stain)


def finetune_to_model(images: Sequence, results: Sequence, name: str,
                      config: Optional[FinetuneConfig] = None,
                      models_dir: Optional[Path] = None, source: Optional[str] = None,
                      device: str = "cpu", mpp: Optional[float] = None,
                      reporter: Optional[Reporter] = None,
                      reviewed: Optional[Sequence[ReviewedImage]] = None
                      ) -> FinetuneJobResult:
    """Fine-tune the PSM network (``source`` weights; default the shipped one) on the
    reviewed ``results`` of ``images`` (paired in order) and keep it as ``psm@<name>``
    when the never-worse check passes. ``reviewed``: images already in memory (the
    widget) instead of files."""
    from ..adapt.finetuned import save_finetuned
    from ..adapt.saved import safe_name
    from ..device import resolve_device
    from ..methods.psm import BUILDERS, SEG_WEIGHTS, _bundled
    from ..models.weights import load_model_cached

    reporter = reporter or Reporter()
    config = config or FinetuneConfig()
    source = source or _bundled(SEG_WEIGHTS)
    if not source:
        raise InputError("psm", "no downstream network to fine-tune")
    net, source_card = load_model_cached(source, BUILDERS)
    working = source_card.get("mpp")
    if reviewed is None:
        if len(images) != len(results):
            raise InputError("--reviewed", f"{len(results)} results for {len(images)} "
                                           "images (give one result per image, in order)")
        reviewed, pairs = [], []
        for i, (image, result) in enumerate(zip(images, results)):
            reporter.report(i, len(images) * 10, f"reading {Path(result).name}")
            item = read_reviewed(image, result, mpp, working)
            if item is not None:
                reviewed.append(item)
                pairs.append((str(image), str(result)))
        if not reviewed:
            raise InputError(", ".join(Path(r).name for r in results),
                             "no reviewed cells (every cell is unreviewed)")
    else:
        pairs = [(im.name, "") for im in reviewed]
    device = str(resolve_device(device))
    result = finetune_network(net, reviewed, config, device, reporter.sub(1, 8, 10))
    per_image = [{"image": image, "result": res, **im.counts()}
                 for (image, res), im in zip(pairs, reviewed)]
    card = {"task": "nucleus segmentation fine-tuned on reviewed cells",
            "reviewed": per_image, "counts": result.counts, "method": config.method,
            "seed": config.seed, "source_model": Path(source).name,
            "source_model_hash": source_card.get("sha256", ""),
            "never_worse": {**result.check, "decision": result.decision,
                            "reason": result.reason},
            "settings": result.summary()["settings"], "training": result.log,
            "labels_used": "the review: accepted / rejected statuses and painted masks",
            "stain": "+".join(sorted({im.stain for im in reviewed})),
            "mpp": working,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="seconds")}
    path = None
    if result.kept:
        reporter.report(9, 10, "saving the network")
        path = save_finetuned(result.net, name, card, models_dir)
    reporter.report(10, 10, result.decision)
    return FinetuneJobResult(safe_name(name), result, path, card)


__all__ = ["FinetuneJobResult", "finetune_to_model", "read_reviewed", "MARGIN",
           "network_view", "result_stain"]
