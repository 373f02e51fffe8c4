"""The robustness job: images in, a report folder out (``robustness.csv``, heatmaps and
curves, ``examples.png``, ``report.html`` and ``robustness_run.json``).

The model is loaded once per run on the chosen device and reused for every image and
corruption (see :mod:`..robustness.model_loaders`); the scoring is :mod:`..robustness.harness`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..errors import InputError
from ..progress import Reporter
from ..robustness import (
    Model,
    RobustnessImage,
    load_model,
    main_metric,
    run_robustness,
    sensitivity_ranking,
    write_report,
    write_rows_csv,
)
from ..writers import write_run_json


def _ground_truth(path, name: str, gt_dir, shape) -> np.ndarray:
    import tifffile

    cands = [c for c in sorted(Path(gt_dir).glob(f"{name}*"))
             if c.suffix.lower() in (".tif", ".tiff")]
    if not cands:
        raise InputError(path, f"no ground-truth labels {name}*.tif in {gt_dir}")
    labels = np.asarray(tifffile.imread(cands[0])).astype(np.int32)
    if labels.shape != shape:
        raise InputError(cands[0], f"labels {labels.shape} do not match the image {shape}")
    return labels


def load_robustness_images(paths, gt_dir=None, crop: int = 0, mpp: Optional[float] = None,
                           working_mpp: Optional[float] = None) -> list[RobustnessImage]:
    """Read image files (and their ``<stem>*.tif`` labels from ``gt_dir``), optionally
    keeping a centred ``crop`` x ``crop`` square of each. With ``working_mpp`` (a
    project method's resolution) images are resampled to it from their pixel size
    (``mpp`` when given, else the file's; unknown: as read), labels by nearest neighbour."""
    from ..io import open_image
    from ..tiled.resample import resample_labels, working_grid
    from ..tiled.tiling import Box

    images = []
    for p in paths:
        slide = open_image(p, mpp=mpp)
        rgb = np.asarray(slide.data.compute(scheduler="synchronous"))[..., :3]
        labels = None if gt_dir is None else _ground_truth(p, slide.name, gt_dir,
                                                           rgb.shape[:2])
        grid = working_grid(slide, slide.mpp, working_mpp)
        if grid is not None:
            rgb = grid.read(Box(0, 0, *grid.shape))[0]
            if labels is not None:
                labels = resample_labels(labels, (grid.y.f_slide, grid.x.f_slide))
        if crop and min(rgb.shape[:2]) > crop:
            y0, x0 = (rgb.shape[0] - crop) // 2, (rgb.shape[1] - crop) // 2
            rgb = np.ascontiguousarray(rgb[y0:y0 + crop, x0:x0 + crop])
            if labels is not None:
                labels = np.ascontiguousarray(labels[y0:y0 + crop, x0:x0 + crop])
        images.append(RobustnessImage(slide.name, rgb, labels))
    return images


def robustness_report(images: Sequence[RobustnessImage], outdir, model: str | Model,
                      kinds, severities, seed: int = 0, device: str = "cpu",
                      reporter: Optional[Reporter] = None, extra_info: Optional[dict] = None
                      ) -> dict:
    """Score in-memory images, then write robustness.csv, plots, report.html and
    robustness_run.json into ``outdir``. ``device`` runs the corruptions and the model
    (when ``model`` is a name or file). Returns rows, ranking and the written paths."""
    mdl = model if isinstance(model, Model) else load_model(model, device)
    rows = run_robustness(images, mdl, kinds, severities, seed, device, reporter=reporter)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    csv_path = write_rows_csv(rows, outdir / "robustness.csv")
    has_gt = any(i.labels is not None or i.label is not None for i in images)
    info = {"model": mdl.name, "images": len(images), "kinds": ", ".join(kinds),
            "severities": ", ".join(map(str, severities)), "seed": seed,
            "reference": "ground truth" if has_gt else "clean-image prediction",
            **(extra_info or {})}
    files = write_report(rows, outdir, images[0].rgb, kinds, severities, seed,
                         title=f"Robustness of {mdl.name}", info=info)
    write_run_json(outdir / "robustness_run.json", {**info, "model_info": mdl.info,
                                                    "device": device})
    return {"rows": rows, "csv": csv_path, "html": files["html"], "files": files,
            "ranking": sensitivity_ranking(rows, main_metric(rows))}


def robustness_files(inputs, outdir, model: str, kinds, severities, gt_dir=None,
                     seed: int = 0, crop: int = 0, device: str = "cpu",
                     reporter: Optional[Reporter] = None, mpp: Optional[float] = None) -> dict:
    """The whole ``pathrobust robustness`` job on image files (optional GT folder,
    optional centred crop); see :func:`robustness_report`. A project method runs at its
    working resolution (images and labels resampled there; ``mpp`` wins over the files'
    pixel size); other models see the images as read."""
    from ..methods.base import WORKING_MPP
    from ..registry import available_methods

    working = WORKING_MPP if model in available_methods() else None
    images = load_robustness_images(inputs, gt_dir, crop, mpp=mpp, working_mpp=working)
    return robustness_report(images, outdir, model, kinds, severities, seed, device,
                             reporter, {"crop": crop, "mpp": mpp, "working_mpp": working})


def corrupt_slide(image, kind: str, severity: int, seed: int = 0, device: str = "cpu",
                  dest=None, tile: int = 1024, reporter: Optional[Reporter] = None,
                  min_side: int = 1024) -> list:
    """A whole slide corrupted tile by tile (read lazily) as a pyramid, level 0 first.

    Without ``dest`` the levels are numpy arrays; with it they go to a zarr v3 group at
    ``dest`` (levels ``"0"``, ``"1"``, ... of (h, w, 3) uint8), written to a hidden
    temporary folder and published only when complete (a cancel leaves nothing), and are
    returned opened read-only from ``dest``."""
    from ..corrupt.tiled import corrupt_pyramid, pyramid_shapes

    shapes = pyramid_shapes(image.shape[:2], min_side)
    if dest is None:
        return corrupt_pyramid(image, kind, severity, seed, tile, device, None, reporter,
                               min_side)
    import zarr

    from ..writers._atomic import AtomicDest

    target = AtomicDest(dest)
    try:
        group = zarr.open_group(store=str(target.tmp), mode="w", zarr_format=3)
        outs = [group.create_array(str(k), shape=(h, w, 3), dtype="uint8",
                                   # level k is written in blocks of tile / 2**k
                                   chunks=(min(max(tile >> k, 1), h),
                                           min(max(tile >> k, 1), w), 3), fill_value=0)
                for k, (h, w) in enumerate(shapes)]
        group.attrs.update({"pathrobust": {"kind": kind, "severity": int(severity),
                                           "seed": int(seed)}})
        corrupt_pyramid(image, kind, severity, seed, tile, device, outs, reporter, min_side)
    except BaseException:
        target.abort()
        raise
    target.commit()
    group = zarr.open_group(store=str(target.dest), mode="r")
    return [group[str(k)] for k in range(len(shapes))]
