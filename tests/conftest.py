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
