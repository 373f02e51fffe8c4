"""Adapt widget in a real viewer (xvfb): region choice as in Recognise, device from the
settings, result with features and what was done, keep-network saved with a card and
listed for Recognise."""

import json

import numpy as np
import pytest

pytestmark = pytest.mark.gui


@pytest.fixture
def adapt(make_napari_viewer, tmp_path, monkeypatch):
    from napari_pathrobust._sample_data import demo_crop
    from napari_pathrobust.widgets._settings import save_settings
    from napari_pathrobust.widgets.adapt import AdaptWidget

    monkeypatch.setenv("NAPARI_PATHROBUST_CONFIG_DIR", str(tmp_path / "config"))
    save_settings({"device": "cpu"})
    (data, _kwargs, _), = demo_crop()
    viewer = make_napari_viewer()
    viewer.add_image(data, name="demo", rgb=True)
    widget = AdaptWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.synchronous = True
    return viewer, widget


def _rectangle(viewer, y0, x0, y1, x1):
    rect = np.array([[y0, x0], [y0, x1], [y1, x1], [y1, x0]], float)
    return viewer.add_shapes([rect], shape_type="rectangle", name="roi")


def test_shapes_region_result_with_features_and_decision(adapt):
    viewer, widget = adapt
    assert widget.device() == "cpu"  # from the settings
    widget._shapes.value = _rectangle(viewer, 40, 60, 232, 252)
    widget._region.value = "shapes rectangle"
    widget.run()
    assert widget.last_error is None, widget.last_error
    layer = viewer.layers["demo_adapted_nuclei"]
    assert layer.data.shape == (192, 192)
    assert np.allclose(layer.translate[-2:], (40, 60))
    meta = layer.metadata
    assert meta["region"] == [40, 60, 232, 252] and meta["source_layer"] == "demo"
    assert meta["adaptation"]["decision"] in ("adapted", "kept source")
    assert meta["adaptation"]["method"] == "stain" and meta["kept_network"] is None
    assert meta["adaptation"]["decision"] in widget._status.value
    assert "nuclei" in widget._status.value
    n = int(layer.data.max())
    assert n > 0 and len(layer.features) == n and {"label", "area"} <= set(layer.features)


def test_current_view_and_empty_shapes_messages(adapt):
    viewer, widget = adapt
    widget._region.value = "shapes rectangle"
    widget.run()
    assert "draw a rectangle" in widget._status.value
    widget._region.value = "current view"
    box = widget._box(viewer.layers["demo"])
    assert not isinstance(box, str) and box.shape[0] > 0


def test_keep_network_saves_card_and_lists_it_for_recognise(adapt, tmp_path):
    from napari_pathrobust.engine.registry import available_methods

    viewer, widget = adapt
    widget._shapes.value = _rectangle(viewer, 0, 0, 160, 160)
    widget._region.value = "shapes rectangle"
    widget._gate.value = False  # always keep: the test needs an adapted network
    widget._keep.value = True
    widget._name.value = "mine"
    widget.run()
    assert widget.last_error is None, widget.last_error
    weights = tmp_path / "config" / "models" / "mine.pt"
    assert widget.saved == weights and weights.is_file()
    card = json.loads(weights.with_suffix(".json").read_text())
    assert card["image"] == "demo" and card["method"] == "stain"
    assert card["decision"] == "adapted" and card["region"] == [0, 0, 160, 160]
    assert card["source_model_hash"] and card["sha256"]
    assert "psm@mine" in available_methods()
    assert "kept as psm@mine" in widget._status.value
    assert viewer.layers["demo_adapted_nuclei"].metadata["kept_network"] == str(weights)


def test_recognise_lists_a_kept_network_when_its_method_list_opens(adapt):
    """A network kept while Recognise is already open shows up in its Method list the
    next time the drop-down opens."""
    from napari_pathrobust.engine.adapt.saved import default_models_dir
    from napari_pathrobust.widgets.recognise import RecogniseWidget

    viewer, _widget = adapt
    recognise = RecogniseWidget(viewer)
    assert "psm@late" not in recognise._method.choices
    folder = default_models_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "late.pt").write_bytes(b"weights")
    (folder / "late.json").write_text(json.dumps({"adapted": True}))
    recognise._method.native.showPopup()
    recognise._method.native.hidePopup()
    assert "psm@late" in recognise._method.choices
