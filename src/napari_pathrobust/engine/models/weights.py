"""Saving and loading network weights with a model card and a content hash.

A weight file ``NAME.pt`` holds ``{"kind", "config", "state_dict"}``; its card
``NAME.json`` records the training data, pretext/targets, epochs, seed, device and the
file's SHA-256. Loading verifies the hash when the card is present.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from pathlib import Path
from typing import Any, Optional

from ..errors import InputError
from ..writers import atomic_path


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def card_path(weights: str | Path) -> Path:
    """The model card that sits beside a weight file."""
    return Path(weights).with_suffix(".json")


def save_model(model, path: str | Path, kind: str, card: Optional[dict[str, Any]] = None) -> str:
    """Write weights (+ card with the hash) atomically; returns the SHA-256."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save({"kind": kind, "config": model.config, "state_dict": state}, tmp)
    sha = file_sha256(path)
    info = dict(card or {}, kind=kind, config=model.config, file=path.name, sha256=sha)
    with atomic_path(card_path(path)) as tmp:
        Path(tmp).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    return sha


def load_model(path: str | Path, builders: dict[str, Any], verify: bool = True):
    """Load a weight file written by :func:`save_model`; returns (model, card).

    ``builders`` maps the file's ``kind`` to the network class. A hash mismatch with the
    card, a missing file or a foreign file raise :class:`InputError`.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "model file not found")
    card: dict[str, Any] = {}
    if card_path(path).is_file():
        card = json.loads(card_path(path).read_text())
        if verify and card.get("sha256") and card["sha256"] != file_sha256(path):
            raise InputError(path, "weights do not match the hash in their model card "
                                   f"({card_path(path).name}): file changed or corrupt")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for bad files
        raise InputError(path, f"not a readable weight file ({type(exc).__name__})") from None
    kind = blob.get("kind") if isinstance(blob, dict) else None
    if kind not in builders:
        raise InputError(path, f"weights of kind {kind!r}; expected one of {sorted(builders)}")
    model = builders[kind](**blob["config"])
    model.load_state_dict(blob["state_dict"])
    model.eval()
    card.setdefault("sha256", file_sha256(path))
    return model, card


def model_card(path: str | Path) -> dict[str, Any]:
    """The model card of a weight file without loading it (at least its ``sha256``)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "model file not found")
    card = json.loads(card_path(path).read_text()) if card_path(path).is_file() else {}
    card.setdefault("sha256", file_sha256(path))
    return card


def load_model_cached(path: str | Path, builders: dict[str, Any]):
    """:func:`load_model` once per process per file version (path, size, mtime); every
    call returns its own copy of the network (callers may train it in place)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "model file not found")
    stat = path.stat()
    model, card = _load_once(str(path.resolve()), stat.st_size, stat.st_mtime_ns,
                             tuple(sorted(builders.items())))
    return copy.deepcopy(model), dict(card)


@functools.lru_cache(maxsize=8)
def _load_once(path: str, size: int, mtime_ns: int, builders: tuple):
    return load_model(path, dict(builders))
