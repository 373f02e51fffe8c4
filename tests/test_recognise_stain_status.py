"""Remembered values do not change results silently (issue 28.8): Recognise's status
names the method, stain and seed, says "little DAB" for an IHC run on H&E, and marks
the fields remembered from the last session, with a reset."""

import json

import pytest

pytestmark = pytest.mark.gui


@pytest.fixture
def viewer_with_demo(make_napari_viewer):
    from napari_pathrobust._sample_data import demo_crop

    viewer = make_napari_viewer()
    (data, kwargs, _), = demo_crop()
    viewer.add_image(data, **kwargs)
    return viewer


def _remember(values: dict) -> None:
    from napari_pathrobust.widgets._remembered import remembered_path

    remembered_path().parent.mkdir(parents=True, exist_ok=True)
    remembered_path().write_text(json.dumps({"recognise": values}))


def _widget(viewer):
    from napari_pathrobust.widgets.recognise import RecogniseWidget

    widget = RecogniseWidget(viewer)
    viewer.window.add_dock_widget(widget)
    return widget


def test_status_names_method_stain_seed_and_little_dab(viewer_with_demo, qtbot):
    from napari_pathrobust.engine.ihc.dab_check import NOTE

    widget = _widget(viewer_with_demo)
    widget._method.value = "classical"
    widget._device.value = "cpu"
    widget._stain.value = "ihc"
    widget._seed.value = 3
    widget.run()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=120_000)
    status = widget._status.value
    assert "nuclei in" in status and "(classical, IHC stain, seed 3)" in status, status
    assert NOTE in status  # the H&E demo crop run as IHC
    meta = viewer_with_demo.layers["demo_he_crop_nuclei"].metadata
    assert meta["stain"] == "ihc" and meta["stain_check"]["little_dab"]
    widget._stain.value = "he"
    widget._seed.value = 0
    widget.run()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=120_000)
    status = widget._status.value
    assert "(classical, H&E stain)" in status and NOTE not in status, status


def test_remembered_values_are_marked_and_reset(make_napari_viewer):
    from napari_pathrobust.engine.registry import DEFAULT_METHOD
    from napari_pathrobust.widgets._remembered import MARK, REMEMBERED_TIP, remembered_path

    _remember({"Stain": "ihc", "Seed": 3, "Method": DEFAULT_METHOD})
    widget = _widget(make_napari_viewer())
    assert (widget._stain.value, widget._seed.value) == ("ihc", 3)
    assert widget._stain.label == f"Stain{MARK}" and widget._seed.label == f"Seed{MARK}"
    assert REMEMBERED_TIP in widget._stain.tooltip and "default: he" in widget._stain.tooltip
    assert "IHC scoring" in widget._stain.tooltip  # the field's own tip is kept
    assert widget._method.label == "Method"  # remembered, but the default: not marked
    widget._seed.value = 5  # chosen now: no longer "remembered"
    assert widget._seed.label == "Seed" and REMEMBERED_TIP not in (widget._seed.tooltip or "")
    widget._reset.clicked.emit()
    assert (widget._stain.value, widget._seed.value) == ("he", 0)
    assert widget._stain.label == "Stain" and REMEMBERED_TIP not in widget._stain.tooltip
    saved = json.loads(remembered_path().read_text())["recognise"]
    assert saved["Stain"] == "he" and saved["Seed"] == 0
    again = _widget(make_napari_viewer())
    assert again._stain.label == "Stain" and again._seed.label == "Seed"
