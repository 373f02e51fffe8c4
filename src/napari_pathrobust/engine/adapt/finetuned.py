"""Networks fine-tuned on reviewed cells, kept beside the adapted ones as ``psm@<name>``.

The card carries ``"adapted": true`` so :func:`.saved.list_adapted` lists the network and
:func:`.saved.build_adapted` builds it (PSM with these weights, no stain normalisation),
and ``"finetuned": true`` with the review it learnt from (see
:func:`..jobs.finetune.finetune_to_model`).
"""

from __future__ import annotations

from pathlib import Path

from .saved import default_models_dir, safe_name


def save_finetuned(net, name: str, card: dict, folder: Path | str | None = None) -> Path:
    """Write ``net`` as ``<folder>/<name>.pt`` (default: the models folder) with its card;
    returns the weights path."""
    from ..models.weights import save_model

    folder = Path(folder) if folder is not None else default_models_dir()
    path = folder / f"{safe_name(name)}.pt"
    save_model(net, path, "compact-unet",
               {**card, "adapted": True, "finetuned": True, "stain_normalise": False})
    return path


__all__ = ["save_finetuned"]
