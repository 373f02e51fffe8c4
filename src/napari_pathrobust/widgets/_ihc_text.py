"""Text of the IHC scoring widget: the score line and the slide a result comes from."""

from pathlib import Path
from typing import Optional

from ..engine.api import summary_line


def score_text(summary: Optional[dict]) -> str:
    """One line of scores (or why there are none), the index named after the marker."""
    if summary is None:
        return "-"
    if not summary["n_cells"]:
        return "no cells"
    return summary_line(summary)


def slide_name(layer) -> str:
    """The slide a result layer comes from: Recognise's ``source_layer``, else the
    ``source`` file of a run opened from disk, else the layer name less ``_nuclei``."""
    meta = layer.metadata if isinstance(layer.metadata, dict) else {}
    if meta.get("source_layer"):
        return str(meta["source_layer"])
    if meta.get("source"):
        stem = Path(str(meta["source"])).stem
        return stem[:-4] if stem.lower().endswith(".ome") else stem
    for suffix in ("_nuclei", "_labels"):
        if layer.name.endswith(suffix) and len(layer.name) > len(suffix):
            return layer.name[:-len(suffix)]
    return layer.name
