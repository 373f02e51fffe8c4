"""Shared fixtures. Tests always run on the CPU."""

import os

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture
def demo_image() -> Path:
    from napari_pathrobust._resources import DEMO_IMAGE, resource_path

    return resource_path(DEMO_IMAGE)


@pytest.fixture(autouse=True)
def _isolated_user_folders(tmp_path_factory, monkeypatch):
    """Every test gets its own settings folder and results folder, so no test reads or
    writes the real user's settings, remembered widget values or review autosaves (and
    no test restores another's session). Tests may point the variable elsewhere."""
    import json

    root = tmp_path_factory.mktemp("user")
    config = root / "config"
    config.mkdir()
    (config / "settings.json").write_text(json.dumps({"results_dir": str(root / "results")}))
    monkeypatch.setenv("NAPARI_PATHROBUST_CONFIG_DIR", str(config))
