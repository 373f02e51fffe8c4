"""Class colours: classification names and their colours (the names and the base /
intensity parts of a cell's class are in :mod:`.cell_classes`).

Names and colours follow QuPath (Tumor, Stroma, Immune cells, Positive, Negative, 1+ ...),
so results look the same in napari and in QuPath; a compound ``"Tumor: Positive"`` takes
its intensity's colour (as QuPath's derived classes do); any other name gets a stable
colour of its own.

Outlines drawn over a slide keep the class hue but take the lightness that makes them
readable on the stain under them (:func:`outline_colors`): each is mixed with black or
white, whichever contrasts more with that stain, until its WCAG 2.1 contrast ratio
(:func:`contrast_ratio`) reaches :data:`UNREVIEWED_CONTRAST` (unreviewed cells) or
:data:`ACCEPTED_CONTRAST` (accepted cells, bolder). :func:`outline_under` measures the
stain under a result's outlines; :data:`STAIN_UNDER` holds it for slides not measured.
"""

from __future__ import annotations

import hashlib
from typing import Optional

import numpy as np

from .cell_classes import display_class

#: QuPath-like default colours per classification name.
DEFAULT_CLASS_COLORS: dict[str, tuple[int, int, int]] = {
    "Nucleus": (0, 200, 0),
    "Tumor": (200, 0, 0),
    "Stroma": (150, 200, 150),
    "Immune cells": (160, 90, 160),
    "Necrosis": (50, 50, 50),
    "Other": (255, 200, 0),
    "Positive": (200, 50, 50),
    "Negative": (112, 112, 225),
    "1+": (255, 215, 0),
    "2+": (225, 150, 50),
    "3+": (200, 50, 50),
}


def class_color(name: str, colors: Optional[dict] = None) -> list[int]:
    """[r, g, b] for a classification: from ``colors``, the defaults, the colour of a
    compound's intensity (or base) part, or a stable hash."""
    if colors and name in colors:
        return [int(v) for v in colors[name]][:3]
    if name in DEFAULT_CLASS_COLORS:
        return list(DEFAULT_CLASS_COLORS[name])
    shown = display_class(name)
    if shown != name and ((colors and shown in colors) or shown in DEFAULT_CLASS_COLORS):
        return class_color(shown, colors)
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return [64 + digest[0] % 192, 64 + digest[1] % 192, 64 + digest[2] % 192]


#: WCAG 2.1 contrast of unreviewed outlines with the stain under them (SC 1.4.11 asks
#: 3:1 of graphical objects)
UNREVIEWED_CONTRAST = 3.0
#: accepted outlines: at least this, and ACCEPTED_STEP times the unreviewed contrast
ACCEPTED_CONTRAST = 4.5
ACCEPTED_STEP = 1.5
#: the most a class colour is mixed with black or white (its hue stays visible)
MAX_MIX = 0.8
#: median sRGB under nucleus outlines when a slide's is not measured, per stain and
#: class ('' = any class): the TCGA H&E demo crop, scikit-image's IHC sample
STAIN_UNDER: dict[str, dict[str, tuple[int, int, int]]] = {
    "he": {"": (145, 67, 112)},
    "ihc": {"": (157, 132, 104), "Negative": (133, 138, 172), "Positive": (157, 132, 104),
            "1+": (157, 132, 104), "2+": (157, 132, 104), "3+": (157, 132, 104)},
}
#: rejected cells: grey, this faint against the stain, on the other side of it from the
#: class outlines (dark grey among light outlines, light grey among dark ones)
REJECTED_CONTRAST = 1.5


def relative_luminance(rgb) -> float:
    """WCAG 2.1 relative luminance of an sRGB colour (0-255 values)."""
    c = np.asarray(rgb, float)[:3] / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return float(linear @ np.array([0.2126, 0.7152, 0.0722]))


def contrast_ratio(a, b) -> float:
    """WCAG 2.1 contrast ratio of two sRGB colours, 1 (same) to 21 (black on white)."""
    la, lb = sorted((relative_luminance(a), relative_luminance(b)))
    return (lb + 0.05) / (la + 0.05)


def _shades(rgb, under) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``rgb`` mixed 0..MAX_MIX toward black (first half) and toward white (second
    half): the shades, how much each is mixed and its contrast with ``under``."""
    rgb = np.asarray(rgb, float)[:3]
    steps = np.linspace(0.0, MAX_MIX, 33)
    shades = np.concatenate([rgb * (1 - steps[:, None]),
                             rgb + (255.0 - rgb) * steps[:, None]])
    shades = np.rint(shades).astype(int)
    ratios = np.array([contrast_ratio(s, under) for s in shades])
    return shades, np.concatenate([steps, steps]), ratios


def outline_colors(name: str, under, colors: Optional[dict] = None) -> dict[str, list[int]]:
    """sRGB of class ``name``'s outline per status (``accepted``, ``unreviewed``) over the
    stain colour ``under``: the class colour mixed with black or white as little as
    reaches :data:`ACCEPTED_CONTRAST` / :data:`UNREVIEWED_CONTRAST` (the most contrast
    :data:`MAX_MIX` allows when neither does). Unreviewed outlines aim at the accepted
    contrast / :data:`ACCEPTED_STEP` (at least the minimum): a class colour contrasting
    more than that is toned toward the stain, so the two states stay apart."""
    shades, mixed, ratios = _shades(class_color(name, colors), under)

    def least_mixed(target: float) -> int:
        hits = np.flatnonzero(ratios >= target)
        if not hits.size:
            return int(np.argmax(ratios))
        return int(hits[np.argmin(mixed[hits] - 1e-6 * ratios[hits])])

    accepted = least_mixed(ACCEPTED_CONTRAST)
    wanted = max(UNREVIEWED_CONTRAST, ratios[accepted] / ACCEPTED_STEP)
    n = len(mixed) // 2
    if ratios[0] >= wanted:  # toned toward the stain, down to ``wanted``
        darker = relative_luminance(shades[0]) > relative_luminance(under)
        run = range(0, n) if darker else range(n, 2 * n)
        unreviewed = run.start
        for i in run:  # the shades nearer the stain, while they keep ``wanted``
            if ratios[i] < wanted:
                break
            unreviewed = i
    else:
        unreviewed = least_mixed(wanted)
    return {"accepted": shades[accepted].tolist(), "unreviewed": shades[unreviewed].tolist()}


def stain_under(name: str, measured: Optional[dict] = None, stain: Optional[str] = None):
    """The stain colour under outlines of class ``name``: measured for that class, else
    :data:`STAIN_UNDER`'s for it, else measured over all classes, else the stain's
    (``measured``: class -> sRGB with '' for all, see :func:`outline_under`; ``stain``:
    'he' or 'ihc', H&E when unknown)."""
    measured = measured or {}
    known = STAIN_UNDER.get(stain or "he", STAIN_UNDER["he"])
    shown = display_class(name)
    for table, key in ((measured, name), (known, name), (measured, shown), (known, shown),
                       (measured, ""), (known, "")):
        if key in table:
            return tuple(int(v) for v in table[key])[:3]
    return STAIN_UNDER["he"][""]


def rejected_grey(under) -> list[int]:
    """The grey of rejected outlines over ``under``: :data:`REJECTED_CONTRAST` with it, on
    the side (darker or lighter) away from the class outlines."""
    light = contrast_ratio((255,) * 3, under) > contrast_ratio((0,) * 3, under)
    below = relative_luminance(under)
    fit = [g for g in range(256) if contrast_ratio((g,) * 3, under) >= REJECTED_CONTRAST
           and (relative_luminance((g,) * 3) < below) == light]
    grey = (max(fit) if light else min(fit)) if fit else (70 if light else 190)
    return [grey] * 3


def outline_under(image: np.ndarray, labels: np.ndarray, classes: dict,
                  min_pixels: int = 20) -> dict[str, list[int]]:
    """Median sRGB of ``image`` under the 1-pixel outlines of ``labels`` (the pixels a
    Labels layer with ``contour=1`` draws), per class (``classes``: label -> name) and
    over all ('' key); classes with fewer than ``min_pixels`` outline pixels are left
    out. ``image``: (h, w, 3+) uint8 or (h, w) grey, aligned with ``labels``."""
    from scipy import ndimage as ndi

    labels = np.asarray(labels)
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.shape[:2] != labels.shape or image.dtype != np.uint8 or not labels.any():
        return {}
    cross = ndi.generate_binary_structure(2, 1)
    rim = (labels > 0) & (ndi.grey_dilation(labels, footprint=cross)
                          != ndi.grey_erosion(labels, footprint=cross))
    ids, rgb = labels[rim], image[rim][:, :3]
    out = {"": np.median(rgb, axis=0)} if len(ids) >= min_pixels else {}
    names = np.array([str(classes.get(int(i), "")) for i in ids], dtype=object)
    for name in set(names) - {""}:
        picked = rgb[names == name]
        if len(picked) >= min_pixels:
            out[name] = np.median(picked, axis=0)
    return {k: [int(round(float(v))) for v in value] for k, value in out.items()}


__all__ = ["DEFAULT_CLASS_COLORS", "class_color", "contrast_ratio", "relative_luminance",
           "outline_colors", "outline_under", "stain_under", "rejected_grey", "STAIN_UNDER",
           "UNREVIEWED_CONTRAST", "ACCEPTED_CONTRAST"]
