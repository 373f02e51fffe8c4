"""Clinical image corruptions for robustness testing (torch, batched, tile-consistent).

    >>> from napari_pathrobust.engine.corrupt import corrupt, available_corruptions
    >>> bad = corrupt(rgb, "hue", severity=3, seed=0)      # uint8 (H, W, 3)

See :mod:`.registry` for the kinds and their severity tables and :mod:`.tiled` for
batches, windows of large images and label mapping.
"""

from .registry import (
                       BENCHMARK_KINDS,
                       CORRUPTIONS,
                       Corruption,
                       available_corruptions,
                       get_corruption,
                       severity_table_markdown,
)
from .tiled import (
                       corrupt,
                       corrupt_batch,
                       corrupt_tiled,
                       corrupt_window,
                       iter_tiles,
                       map_labels,
                       source_coords,
)

__all__ = ["BENCHMARK_KINDS", "CORRUPTIONS", "Corruption", "available_corruptions",
           "get_corruption", "severity_table_markdown", "corrupt", "corrupt_batch",
           "corrupt_tiled", "corrupt_window", "iter_tiles", "map_labels", "source_coords"]
