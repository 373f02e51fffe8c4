"""The Corruption preview's contact sheet: every kind at one severity, each tile named.

:func:`captioned_sheet` takes a centred square crop (at most ``SHEET_CROP`` pixels a
side), lays it out clean and under every kind with :func:`.report.kinds_grid`, puts a
caption band above each row ("clean", "hue 3", ...) and reports progress to the end.
It also says how many source pixels one sheet pixel spans, so a viewer can show the
sheet at the slide's physical scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from ..progress import Reporter
from .report import kinds_grid

#: side of the centred crop the sheet shows (source pixels)
SHEET_CROP = 512
#: side of each tile on the sheet (sheet pixels)
SHEET_THUMB = 256
#: height of the caption band above each row of tiles (sheet pixels)
CAPTION_PX = 30


@dataclass
class ContactSheet:
    """The sheet (RGB uint8), its captions in tile order, tiles per row, and how many
    source pixels one sheet pixel spans."""

    image: np.ndarray
    captions: list
    ncols: int
    pixel: float


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # scalable (FreeType)
    except (TypeError, OSError):  # an old Pillow or no FreeType: the small bitmap font
        return ImageFont.load_default()


def caption_rows(grid: np.ndarray, captions: Sequence[str], ncols: int,
                 band: int = CAPTION_PX) -> np.ndarray:
    """``grid`` (equal cells, ``ncols`` a row, row-major) with a white band above each
    row naming its cells (dark text at each cell's left edge)."""
    from PIL import Image, ImageDraw

    nrows = -(-len(captions) // ncols)
    cell_h, cell_w = grid.shape[0] // nrows, grid.shape[1] // ncols
    font = _font(int(band * 0.6))
    parts = []
    for r in range(nrows):
        strip = Image.new("RGB", (grid.shape[1], band), "white")
        draw = ImageDraw.Draw(strip)
        for c, text in enumerate(captions[r * ncols:(r + 1) * ncols]):
            draw.text((c * cell_w + 6, band // 5), str(text), fill=(20, 20, 20), font=font)
        parts += [np.asarray(strip), grid[r * cell_h:(r + 1) * cell_h]]
    return np.ascontiguousarray(np.concatenate(parts, axis=0))


def captioned_sheet(rgb, kinds: Sequence[str], severity: int, seed: int = 0,
                    device: str = "cpu", ncols: int = 4,
                    reporter: Optional[Reporter] = None) -> ContactSheet:
    """Clean and every kind of ``kinds`` at ``severity`` on a centred crop of ``rgb``,
    one captioned tile each, ``ncols`` tiles a row; progress ends at 100 %."""
    rgb = np.asarray(rgb)
    side = min(rgb.shape[0], rgb.shape[1], SHEET_CROP)
    y0, x0 = (rgb.shape[0] - side) // 2, (rgb.shape[1] - side) // 2
    crop = np.ascontiguousarray(rgb[y0:y0 + side, x0:x0 + side, :3])
    grid = kinds_grid(crop, kinds, severity, seed, thumb=SHEET_THUMB, ncols=ncols,
                      device=device, reporter=reporter)
    if reporter is not None:
        reporter.report(len(kinds), len(kinds), f"contact sheet: {len(kinds)} kinds")
    captions = ["clean", *(f"{kind} {severity}" for kind in kinds)]
    return ContactSheet(caption_rows(grid, captions, ncols), captions, ncols,
                        side / SHEET_THUMB)
