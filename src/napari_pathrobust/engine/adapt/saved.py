"""Adapted networks kept by the user: weights + model card in a models folder, listed
and built by the method registry as ``psm@<name>``.

The card (JSON beside the weights) records the source model's hash, the image adapted
to, the method and its settings, the seed, the date and the gate's decision; with
``stain_normalise`` the method refits Reinhard normalisation on every slide it runs on.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any, Optional

from ..values import file_stem

PREFIX = "psm@"


def default_models_dir() -> Path:
    """``<user config dir>/napari-pathrobust/models`` (``NAPARI_PATHROBUST_CONFIG_DIR``
    replaces the config folder, as for the plugin settings)."""
    override = os.environ.get("NAPARI_PATHROBUST_CONFIG_DIR")
    if override:
        return Path(override) / "models"
    from platformdirs import user_config_dir

    return Path(user_config_dir("napari-pathrobust")) / "models"


def safe_name(text: str) -> str:
    """A file-name-safe network name (letters, digits, ``-``, ``_``, ``.``)."""
    return file_stem(text, "adapted", sep="-")


def save_adapted(adaptation, folder: Path | str, name: str, image: str = "",
                 source_hash: str = "", extra: Optional[dict] = None) -> Path:
    """Write the adapted network of ``adaptation`` (a kept :class:`.slide.SlideAdaptation`)
    as ``folder/<name>.pt`` with its card; returns the weights path."""
    from ..models.weights import save_model

    if not adaptation.kept:
        raise ValueError(f"nothing adapted to keep: {adaptation.summary()}")
    path = Path(folder) / f"{safe_name(name)}.pt"
    card = {"adapted": True, "source_model_hash": source_hash or adaptation.source_hash,
            "image": image,
            "method": adaptation.method, "settings": asdict(adaptation.config),
            "seed": adaptation.config.seed, "decision": adaptation.status,
            "reason": adaptation.reason,
            "stain_normalise": adaptation.normaliser is not None,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            **dict(extra or {})}
    save_model(adaptation.net, path, "compact-unet", card)
    return path


def list_adapted(folder: Path | str | None = None) -> list[str]:
    """Names of the adapted networks saved in ``folder`` (default: the models folder)."""
    import json

    folder = Path(folder) if folder is not None else default_models_dir()
    names = []
    for card in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            info = json.loads(card.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(info, dict) and info.get("adapted") and card.with_suffix(".pt").is_file():
            names.append(card.stem)
    return names


def build_adapted(name: str, folder: Path | str | None = None, device: Optional[str] = None,
                  seed: Optional[int] = None, **params: Any):
    """The recognition method of saved network ``name`` (PSM with its weights)."""
    import json

    from ..methods.psm import PSMMethod
    from .slide import AdaptedNetworkMethod
    from .stain_norm import ReinhardNormaliser

    if params.get("stain", "he") != "he":
        raise ValueError(f"{PREFIX}{name}: adapted networks recognise H&E only; use psm "
                         "or classical with stain ihc")
    folder = Path(folder) if folder is not None else default_models_dir()
    path = folder / f"{name}.pt"
    if not path.is_file():
        raise ValueError(f"no adapted network {name!r} in {folder}")
    card = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    extra = {k: v for k, v in (("device", device), ("seed", seed)) if v is not None}
    psm = PSMMethod(**extra, **{**params, "seg_weights": str(path)})
    norm = ReinhardNormaliser() if card.get("stain_normalise") else None
    return AdaptedNetworkMethod(psm, normaliser=norm, refit_colours=norm is not None,
                                name=PREFIX + name)
