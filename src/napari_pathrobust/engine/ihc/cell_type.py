"""A label-free base cell type for IHC scoring: tumour, immune or stromal nucleus.

The pathologist's Ki-67 index counts tumour cells; lymphocytes and stromal cells are
left out. Without a trained cell classifier, :func:`cell_types` applies a documented
morphology rule, relative to the slide's own nuclei (its median), so it holds at any
magnification and stain intensity:

* ``Immune cells`` (lymphocyte-like): small (equivalent diameter under
  :data:`SMALL` x the slide's median and under :data:`LYMPHOCYTE_UM`), round
  (eccentricity under :data:`ROUND`) and dense (hematoxylin OD at or above the
  slide's median: chromatin, so a small brown proliferating cell stays a tumour cell):
  lymphocyte nuclei are 5-7 um, round and dark;
* ``Stroma``: elongated (eccentricity above :data:`ELONGATED`) and thin (minor axis
  under :data:`THIN` x the slide's median minor axis): fibroblast and endothelial
  nuclei are spindles;
* ``Tumor``: every other nucleus.

Without a pixel size (no ``area_um2``) the pixel measurements are used and only the
relative size cut applies.

The type is kept apart from the intensity class (Positive / Negative, bins) in its own
``cell_type`` column. When cells carry a base class set by the pathologist or a cell
classifier (``base_class``, see :mod:`..cell_classes`) and some are of the counted class
(Tumor by default), the scores use those instead of this rule
(:func:`.scoring.scored_types`). The scores give both indices: the counted cells only
(``tumour_index``) and all cells (``labelling_index``).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

TUMOUR, IMMUNE, STROMA = "Tumor", "Immune cells", "Stroma"
#: the measurements the rule reads (NucleusRecord measurements)
COLUMNS = ("area_um2", "area", "eccentricity", "minor_axis_um", "minor_axis",
           "hema_nucleus_mean")
SMALL = 0.75
LYMPHOCYTE_UM = 7.0
ROUND = 0.75
ELONGATED = 0.87
THIN = 0.8


def _col(table: Mapping[str, Any], name: str, n: int) -> np.ndarray:
    if name not in table:
        return np.full(n, np.nan)
    return np.asarray(table[name], dtype=np.float64)


def _median(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else np.nan


def cell_types(table: Mapping[str, Any]) -> np.ndarray:
    """``cell_type`` per row of a cells table (object array; all ``Tumor`` when the
    table lacks the shape measurements)."""
    n = len(np.asarray(table["label"])) if "label" in table else 0
    out = np.full(n, TUMOUR, dtype=object)
    microns = "area_um2" in table and np.isfinite(_col(table, "area_um2", n)).any()
    area = _col(table, "area_um2" if microns else "area", n)
    if n == 0 or not np.isfinite(area).any():
        return out
    diameter = np.sqrt(4.0 * area / np.pi)
    ecc = _col(table, "eccentricity", n)
    minor = _col(table, "minor_axis_um" if microns else "minor_axis", n)
    limit = LYMPHOCYTE_UM if microns else np.inf  # pixels only: the relative cut alone
    stain = np.nan_to_num(_col(table, "hema_nucleus_mean", n))
    with np.errstate(invalid="ignore"):
        small = (diameter < SMALL * _median(diameter)) & (diameter < limit)
        immune = small & (ecc < ROUND) & (stain >= np.median(stain))
        stroma = (ecc > ELONGATED) & (minor < THIN * _median(minor)) & ~immune
    out[immune] = IMMUNE
    out[stroma] = STROMA
    return out


def type_counts(types: np.ndarray, positive: np.ndarray, counted: str = TUMOUR
                ) -> dict[str, Any]:
    """Counts per type and the index (%) of the ``counted`` cells (``n_tumour``,
    ``tumour_index``: the tumour cells by default) for the scored cells."""
    tumour = types == counted
    n_t, n_tp = int(tumour.sum()), int((tumour & positive).sum())
    return {"n_tumour": n_t, "n_tumour_positive": n_tp,
            "tumour_index": n_tp / n_t * 100.0 if n_t else 0.0,
            "n_immune": int((types == IMMUNE).sum()), "n_stroma": int((types == STROMA).sum())}
