"""PNG and JPEG files (small images, read through Pillow)."""

from __future__ import annotations

from pathlib import Path

import dask.array as da
import numpy as np

from ..errors import InputError
from .raw import TARGET_CHUNK, RawImage, chunks_for, guess_axes, mpp_from_density, one_line


def read_pillow(path: Path, source: str, kind: str) -> RawImage:
    """Read a PNG/JPEG fully with Pillow (these are small) and wrap it with dask."""
    from PIL import Image, ImageOps

    label = kind.upper()
    conversions: list[str] = []
    try:
        with Image.open(path) as img:
            img.load()
            fmt = img.format
            info = dict(img.info)
            if img.getexif().get(0x0112, 1) not in (0, 1):  # EXIF Orientation tag
                img = ImageOps.exif_transpose(img)
                conversions.append("applied EXIF orientation")
            mode = img.mode
            if mode in ("P", "PA"):
                img = img.convert("RGBA" if mode == "PA" or "transparency" in info else "RGB")
                conversions.append("applied palette colormap")
            elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
                img = img.convert("RGB")
                conversions.append(f"converted {mode} to RGB")
            array = np.array(img)
    except Exception as exc:  # noqa: BLE001 - Pillow raises OSError, SyntaxError, ...
        raise InputError(source, f"not a readable {label} file ({one_line(exc)})") from None
    mpp, note = None, "no resolution"
    dpi = info.get("dpi")
    if dpi:
        try:
            pair = [mpp_from_density(float(d), 25400.0, f"{label} dpi") for d in dpi[:2]]
            mpp, note = pair[0]
            if mpp is not None and pair[-1][0] is not None:
                mpp = (mpp + pair[-1][0]) / 2
        except (TypeError, ValueError, IndexError):
            mpp, note = None, f"{label} dpi unreadable"
    axes = guess_axes(array.shape)
    chunks = chunks_for(array.shape, array.shape, axes)
    chunks = tuple(TARGET_CHUNK if a in "YX" else c for a, c in zip(axes, chunks))
    meta = {"format": (fmt or kind).lower(), "pil_mode": mode,
            ("mpp_source" if mpp is not None else "mpp_note"): note}
    return RawImage([da.from_array(array, chunks=chunks)], axes, mpp, meta, conversions)
