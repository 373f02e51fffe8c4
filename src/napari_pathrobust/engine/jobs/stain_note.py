"""The stain and method a run used, said where the user looks (issue 28.8).

Every run's metadata (so ``_run.json``) records ``stain`` at top level. An IHC run also
measures how much DAB its slide shows (:func:`..ihc.dab_check.dab_check` on the
slide's fit sample) and records it as ``stain_check``; with little DAB it adds
"<slide>: little DAB: is this an IHC slide? ..." to ``warnings`` and issues it as an
:class:`..tiled.pipeline.ImageWarning` (the CLI prints it as a ``warning:`` line).
:func:`run_label` and :func:`stain_note` word the same for a status line.
"""

from __future__ import annotations

import warnings
from typing import Optional

from ..ihc.dab_check import LITTLE_DAB, NOTE, dab_check
from ..io import Slide
from ..tiled.pipeline import ImageWarning
from ..tiled.sampling import fit_sample, image_problem

STAIN_NAMES = {"he": "H&E", "ihc": "IHC"}


def stain_check(slide: Slide, seed: int, stain: str) -> Optional[dict]:
    """The DAB check of an IHC run's fit sample (None for other stains and for images
    without tissue, which get their own warning)."""
    if stain != "ihc":
        return None
    sample = fit_sample(slide, seed)
    return None if image_problem(sample) else dab_check(sample)


def record_stain(metadata: dict, stain: str, check: Optional[dict], name: str) -> None:
    """Write ``stain`` and ``stain_check`` into a run's metadata; warn on little DAB."""
    metadata["stain"] = stain
    if check is None:
        return
    metadata["stain_check"] = check
    if check["little_dab"]:
        message = (f"{name}: {NOTE} (DAB is {100 * check['dab_fraction']:.1f} % of the "
                   f"stain, under {100 * LITTLE_DAB:g} %)")
        metadata["warnings"] = [*metadata.get("warnings", []), message]
        warnings.warn(message, ImageWarning, stacklevel=3)


def run_label(metadata: dict, default_seed: int = 0) -> str:
    """``psm, H&E stain`` (``, seed 3`` when the seed is not the default)."""
    stain = str(metadata.get("stain") or "he")
    label = f"{metadata.get('method', '?')}, {STAIN_NAMES.get(stain, stain)} stain"
    seed = metadata.get("seed", default_seed)
    return label if seed == default_seed else f"{label}, seed {seed}"


def stain_note(metadata: dict) -> str:
    """``; little DAB: is this an IHC slide? (DAB 1.4 % of the stain)`` or ''."""
    check = metadata.get("stain_check") or {}
    if not check.get("little_dab"):
        return ""
    return f"; {NOTE} (DAB {100 * check['dab_fraction']:.1f} % of the stain)"
