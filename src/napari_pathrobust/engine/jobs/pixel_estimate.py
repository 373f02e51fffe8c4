"""An IHC slide without a pixel size gets one estimated from its nuclei; a fluorescence
or grayscale image run as IHC is refused.

Microscope-camera Ki-67 images state no pixel size; assuming the networks' 40x
(0.25 um/px) reads a 60x or 20x field at the wrong scale. For IHC runs
:func:`with_estimated_pixel_size` estimates it on the slide's fit sample
(:func:`..ihc.pixel_size.estimate_mpp`) and returns the slide at that size, its source
``estimated from nuclei``; the CLI line, ``_run.json`` (``pixel_size.note``) and the
widget status say so. A pixel size from the file or the user (``--mpp``) is never
touched, and H&E runs keep today's rule (the working resolution is assumed): the
estimate's spread on H&E (docs/ihc.md) is wider than the 40x assumption's error on the
MoNuSeg fields.
"""

from __future__ import annotations

from ..errors import InputError
from ..ihc.dab_check import not_brightfield
from ..ihc.pixel_size import estimate_mpp
from ..io import Slide
from ..tiled.sampling import fit_sample, image_problem

#: ``mpp_source`` of an estimated pixel size
ESTIMATED = "estimated from nuclei"


def with_estimated_pixel_size(slide: Slide, stain: str, seed: int = 0) -> Slide:
    """``slide`` with a pixel size estimated from its nuclei when it has none and the run
    is IHC; otherwise (or when too few nuclei are found) unchanged. An IHC run on a
    fluorescence or grayscale image is refused (:class:`..errors.InputError`, one line)."""
    if stain != "ihc":
        return slide
    sample = fit_sample(slide, seed)
    if image_problem(sample):
        return slide
    problem = not_brightfield(sample)
    if problem:
        raise InputError(slide.path or slide.name, f"--stain ihc: {problem}")
    if slide.mpp is not None:
        return slide
    mpp = estimate_mpp(sample, stain)
    if mpp is None:
        return slide
    meta = dict(slide.metadata, mpp=mpp, mpp_source=ESTIMATED)
    return Slide(slide.levels, slide.name, slide.path, mpp, meta, ESTIMATED)


def estimated_note(mpp: float, hint: str = "give --mpp to set it") -> str:
    """The line a run with an estimated pixel size prints."""
    return f"pixel size unknown: estimated {mpp:.3g} um/px from the nuclei ({hint})"
