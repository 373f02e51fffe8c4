"""Adapt widget in a real viewer (xvfb): region choice as in Recognise, device from the
settings, the cells in the slide's result (outlines, reviews kept) with what was done
in plain words, keep-network saved with a card and listed for Recognise."""

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
    assert "demo_adapted_nuclei" not in viewer.layers  # no copy beside the result
    layer = viewer.layers["demo_nuclei"]
    assert layer.data.shape == (192, 192)
    assert np.allclose(layer.translate[-2:], (40, 60))
    meta = layer.metadata
    assert meta["region"] == [40, 60, 232, 252] and meta["source_layer"] == "demo"
    assert meta["adaptation"]["decision"] in ("adapted", "kept source")
    assert meta["adaptation"]["method"] == "stain" and meta["kept_network"] is None
    status = widget._status.value
    assert status.startswith(meta["adaptation"]["message"] + ". ")
    assert status.startswith(("Adapted network kept: ", "Original network kept: "))
    assert "nuclei in" in status
    for jargon in ("kept source", "flip", "(stain)"):
        assert jargon not in status, status
    tooltip = widget._status.tooltip
    assert meta["adaptation"]["reason"] in tooltip and "flip agreement: " in tooltip
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
    assert widget._status.value.startswith("Adapted network used: ")
    assert viewer.layers["demo_nuclei"].metadata["kept_network"] == str(weights)


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


# -- issue 28, item 9 -----------------------------------------------------------------
PLUGIN = "napari-pathrobust"


def _cell_pixels(labels):
    """(label, outline pixel next to background only, deepest interior pixel) of the
    largest cell that has both."""
    from scipy import ndimage as ndi

    sizes = np.bincount(labels.ravel())
    for label in np.argsort(sizes[1:])[::-1] + 1:
        mask = labels == label
        others = ndi.binary_dilation((labels > 0) & ~mask, iterations=2)
        outline = mask & ~ndi.binary_erosion(mask) & ~others & ndi.binary_dilation(labels == 0)
        depth = ndi.distance_transform_edt(mask)
        if outline.any() and depth.max() >= 4:
            inside = np.unravel_index(int(np.argmax(depth)), depth.shape)
            return int(label), tuple(np.argwhere(outline)[0]), tuple(int(v) for v in inside)
    raise AssertionError("no cell with a clean outline")


def _canvas_at(viewer, layer, pixel, zoom_px=12):
    from napari_pathrobust.widgets._layers import camera

    cam = camera(viewer)
    world = np.asarray(layer.data_to_world(np.asarray(pixel, float)))
    cam.center, cam.zoom = tuple(world[-2:]), zoom_px / float(layer.scale[-1])
    shot = np.asarray(viewer.screenshot(canvas_only=True, flash=False))
    return shot[shot.shape[0] // 2, shot.shape[1] // 2, :3].astype(float)


def test_adapt_draws_outlines_into_the_slides_result_and_keeps_reviews(make_napari_viewer,
                                                                     qtbot):
    """Adapt shows its cells as Recognise does: outlines in ``<image>_nuclei`` (the
    tissue inside a nucleus stays visible), no second result layer; run again over
    reviewed cells, it keeps them."""
    from napari.utils.colormaps import DirectLabelColormap

    from napari_pathrobust.widgets._settings import save_settings

    save_settings({"device": "cpu"})
    viewer = make_napari_viewer(show=True)
    viewer.open_sample(PLUGIN, "demo_he_crop")
    _dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Adapt to image")
    widget.run()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=180_000)
    assert widget.last_error is None, widget.last_error
    names = [layer.name for layer in viewer.layers]
    assert names.count("demo_he_crop_nuclei") == 1 and not any("adapted" in n for n in names)
    nuclei = viewer.layers["demo_he_crop_nuclei"]
    assert nuclei.contour >= 1 and isinstance(nuclei.colormap, DirectLabelColormap)
    label, edge, inside = _cell_pixels(np.asarray(nuclei.data))
    drawn = [_canvas_at(viewer, nuclei, p) for p in (edge, inside)]
    nuclei.visible = False
    bare = [_canvas_at(viewer, nuclei, p) for p in (edge, inside)]
    nuclei.visible = True
    assert np.abs(drawn[1] - bare[1]).max() <= 3, (drawn[1], bare[1])  # tissue shows
    assert np.abs(drawn[0] - bare[0]).max() > 20, (drawn[0], bare[0])  # outline drawn
    assert widget._status.value.startswith(("Adapted network kept", "Original network kept"))

    table = nuclei.features.copy()
    reviewed = [int(v) for v in table["label"][:3]] + [label]
    table.loc[table["label"].isin(reviewed), "status"] = "accepted"
    nuclei.features = table
    widget.run()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=180_000)
    assert widget.last_error is None, widget.last_error
    nuclei = viewer.layers["demo_he_crop_nuclei"]
    f = nuclei.features
    assert set(f.loc[f["status"] == "accepted", "label"]) == set(reviewed)
    assert "4 reviewed kept" in widget._status.value
    assert [layer.name for layer in viewer.layers].count("demo_he_crop_nuclei") == 1


def test_a_large_region_goes_to_zarr_as_in_recognise(adapt, tmp_path, monkeypatch):
    """Above Recognise's in-memory limit the adapted cells are written to the results
    folder's zarr and shown as the slide's result, as Recognise's are."""
    from napari_pathrobust.widgets import recognise
    from napari_pathrobust.widgets._settings import save_settings

    save_settings({"results_dir": str(tmp_path / "results")})
    monkeypatch.setattr(recognise, "LARGE_PIXELS", 1000)
    viewer, widget = adapt
    widget._shapes.value = _rectangle(viewer, 0, 0, 128, 160)
    widget._region.value = "shapes rectangle"
    widget.run()
    assert widget.last_error is None, widget.last_error
    layer = viewer.layers["demo_nuclei"]
    zarr = tmp_path / "results" / "demo_nuclei.zarr"
    assert layer.metadata["zarr_labels"] == str(zarr) and zarr.is_dir()
    assert tuple(layer.data.shape[-2:]) == (128, 160) and len(layer.features) > 0
