"""The npe2 manifest is valid and every command it names can be imported."""

import importlib

import pytest

npe2 = pytest.importorskip("npe2")


def _manifest():
    return npe2.PluginManifest.from_distribution("napari-pathrobust")


def test_manifest_validates():
    manifest = _manifest()
    assert manifest.name == "napari-pathrobust"
    assert manifest.contributions.widgets and manifest.contributions.sample_data


def test_every_command_imports():
    for command in _manifest().contributions.commands:
        module, _, attr = command.python_name.partition(":")
        obj = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
        assert callable(obj), command.id


def test_sample_data_and_reader(demo_image):
    from napari_pathrobust._reader import get_reader
    from napari_pathrobust._sample_data import demo_crop, synthetic_tile

    (data, kwargs, kind), = demo_crop()
    assert data.shape == (512, 512, 3) and kind == "image" and kwargs["rgb"]
    layers = synthetic_tile()
    assert [layer[2] for layer in layers] == ["image", "labels"]
    assert layers[1][0].max() > 5
    assert get_reader(str(demo_image)) is None  # PNGs are napari's own
    assert get_reader("slide.svs") is not None
