"""Recognise and IHC scoring open with the values chosen last time (issue 16.7); the
device is not remembered (it comes from the Settings), nor are layer pickers."""

import json

import pytest

pytestmark = pytest.mark.gui


def _remembered() -> dict:
    from napari_pathrobust.widgets._remembered import remembered_path

    return json.loads(remembered_path().read_text())


def test_recognise_remembers_method_tile_seed_stain_region(make_napari_viewer):
    from napari_pathrobust.engine.registry import available_methods
    from napari_pathrobust.widgets._settings import load_settings, save_settings
    from napari_pathrobust.widgets.recognise import RecogniseWidget

    save_settings({**load_settings(), "device": "auto"})
    viewer = make_napari_viewer()
    first = RecogniseWidget(viewer)
    assert first._stain.label == "Stain" and "IHC scoring" in first._stain.tooltip
    method = next(m for m in available_methods() if m != first._method.value)
    first._method.value = method
    first._tile.value = 512
    first._seed.value = 11
    first._stain.value = "ihc"
    first._region.value = "current view"
    first._device.value = "cpu"
    saved = _remembered()["recognise"]
    assert saved == {"Method": method, "Tile (0 = auto)": 512, "Seed": 11, "Stain": "ihc",
                     "Region": "current view"}
    first.close()

    again = RecogniseWidget(make_napari_viewer())  # a new session
    assert (again._method.value, again._tile.value, again._seed.value, again._stain.value,
            again._region.value) == (method, 512, 11, "ihc", "current view")
    assert again._device.value == "auto"  # from the Settings, not remembered


def test_ihc_scoring_remembers_mode_thresholds_and_auto(make_napari_viewer):
    from napari_pathrobust.widgets.ihc_scoring import MODES, IhcScoringWidget

    first = IhcScoringWidget(make_napari_viewer())
    bins_mode = list(MODES)[1]
    first._mode.value = bins_mode
    for box, value in zip(first._bins[::-1], (0.9, 0.45, 0.33)):  # positive = the 1+ box
        box.value = value
    first._marker.value = "ER"
    first._auto.value = True
    saved = _remembered()["ihc_scoring"]
    assert saved["Classes"] == bins_mode and saved["positive_threshold"] == pytest.approx(0.33)
    assert saved["marker"] == "ER"
    first.close()

    again = IhcScoringWidget(make_napari_viewer())
    assert again._mode.value == bins_mode and again._marker.value == "ER"
    assert again._positive.value == pytest.approx(0.33)
    assert [b.value for b in again._bins] == pytest.approx([0.33, 0.45, 0.9])
    assert again._auto.value is True
    assert again.read_thresholds().mode == "bins"
