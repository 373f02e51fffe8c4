"""Each network's model card records the pixel size it was trained at (issue 15); the
PSM method works at it."""

import json
import shutil

import pytest

from napari_pathrobust._resources import resource_path
from napari_pathrobust.engine.registry import get_method


def test_shipped_cards_record_their_pixel_size():
    for name in ("psm_unet", "psm_ssl"):
        card = json.loads(resource_path(f"models/{name}.json").read_text())
        assert card["mpp"] == 0.25
    assert get_method("psm", device="cpu").working_mpp == 0.25
    assert get_method("classical").working_mpp == 0.25


def test_psm_works_at_its_cards_pixel_size(tmp_path):
    for name in ("psm_unet", "psm_ssl"):
        shutil.copy(resource_path(f"models/{name}.pt"), tmp_path / f"{name}.pt")
        card = json.loads(resource_path(f"models/{name}.json").read_text())
        (tmp_path / f"{name}.json").write_text(json.dumps(dict(card, mpp=0.5)))
    method = get_method("psm", device="cpu", seg_weights=str(tmp_path / "psm_unet.pt"),
                        ssl_weights=str(tmp_path / "psm_ssl.pt"))
    assert method.working_mpp == 0.5
    card = json.loads((tmp_path / "psm_ssl.json").read_text())
    (tmp_path / "psm_ssl.json").write_text(json.dumps(dict(card, mpp=0.25)))
    with pytest.raises(ValueError, match="different pixel sizes"):
        get_method("psm", device="cpu", seg_weights=str(tmp_path / "psm_unet.pt"),
                   ssl_weights=str(tmp_path / "psm_ssl.pt"))
