"""The Recognise widget in a real viewer (runs under xvfb)."""

import time

import napari
import numpy as np
import pytest

try:
    from napari_pathrobust.engine.methods import MethodBase
except ImportError:  # the code before the method base class (regression runs)
    MethodBase = object

pytestmark = pytest.mark.gui


@pytest.fixture(autouse=True)
def results_folder(tmp_path, monkeypatch):
    """Settings and results (autosaved sessions too) in the test's own folder."""
    monkeypatch.setenv("NAPARI_PATHROBUST_CONFIG_DIR", str(tmp_path / "config"))
    from napari_pathrobust.widgets._settings import save_settings

    save_settings({"results_dir": str(tmp_path / "results")})
    return tmp_path / "results"


@pytest.fixture
def viewer_with_demo(make_napari_viewer):
    from napari_pathrobust._sample_data import demo_crop

    viewer = make_napari_viewer()
    (data, kwargs, _), = demo_crop()
    viewer.add_image(data, **kwargs)
    return viewer


def _widget(viewer):
    from napari_pathrobust.widgets.recognise import RecogniseWidget

    widget = RecogniseWidget(viewer)
    viewer.window.add_dock_widget(widget)
    return widget


@pytest.mark.slow
def test_run_adds_nuclei_and_centroids(viewer_with_demo, qtbot):
    viewer = viewer_with_demo
    widget = _widget(viewer)
    widget._seed.value = 7
    widget.run()
    assert widget.worker is not None and not widget._run.enabled
    qtbot.waitUntil(lambda: "demo_he_crop_centroids" in viewer.layers, timeout=120_000)
    qtbot.waitUntil(lambda: widget.worker is None, timeout=10_000)
    nuclei = viewer.layers["demo_he_crop_nuclei"]
    points = viewer.layers["demo_he_crop_centroids"]
    n = int(nuclei.data.max())
    assert n > 50 and len(points.data) == n
    assert nuclei.metadata["seed"] == 7 and nuclei.metadata["method"] == "psm"
    assert {"label", "area", "mean_hematoxylin_od"} <= set(points.features.columns)
    np.testing.assert_allclose(nuclei.scale, viewer.layers["demo_he_crop"].scale)
    assert widget._run.enabled and "nuclei" in widget._status.value
    # a re-run updates the layers in place instead of adding new ones
    count = len(viewer.layers)
    widget.run()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=120_000)
    assert len(viewer.layers) == count


def test_cancel_adds_no_layer(viewer_with_demo, qtbot):
    viewer = viewer_with_demo
    widget = _widget(viewer)
    widget._tile.value = 256
    widget.run()
    widget.cancel()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)
    assert "demo_he_crop_nuclei" not in viewer.layers
    assert widget._status.value == "cancelled"


class _ToyMethod(MethodBase):
    """A method returning maps, as learned methods do (PSM)."""

    name = "toy"
    halo = 0
    map_names = ("activation", "pseudomask")  # large images: these go to zarr
    delay = 0.0

    def fit(self, sample_rgb):
        return self

    def segment_tile(self, rgb):
        from scipy import ndimage

        from napari_pathrobust.engine.methods.base import TileOutput

        time.sleep(self.delay)
        dark = rgb.mean(axis=2) < 120
        labels = ndimage.label(dark)[0].astype(np.int32)
        activation = (255 - rgb.mean(axis=2)).astype(np.float32) / 255
        return TileOutput(labels, maps={"activation": activation,
                                        "pseudomask": dark.astype(np.uint8),
                                        "edges": activation * 0.5})

    def describe(self):
        return {"model_hash": "toy-123"}


def _patch_get_method(monkeypatch, factory):
    """Make the Recognise job build its method with ``factory(name, **kwargs)``."""
    import importlib

    from napari_pathrobust.widgets import recognise

    try:
        region = importlib.import_module("napari_pathrobust.engine.jobs.region")
    except ImportError:  # before the region job existed the widget built it
        region = recognise
    monkeypatch.setattr(region, "get_method", factory)


@pytest.fixture
def toy_method(monkeypatch):
    from napari_pathrobust.engine.registry import get_method
    from napari_pathrobust.widgets import recognise

    monkeypatch.setattr(recognise, "available_methods", lambda: ["classical", "toy"])
    _patch_get_method(monkeypatch, lambda name, **kw: _ToyMethod() if name == "toy"
                      else get_method(name, **kw))


def _run(widget, qtbot):
    widget.run()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)


def test_maps_shown_by_role(viewer_with_demo, qtbot, toy_method):
    viewer = viewer_with_demo
    widget = _widget(viewer)
    widget._method.value = "toy"
    _run(widget, qtbot)
    activation = viewer.layers["demo_he_crop_activation"]
    assert isinstance(activation, napari.layers.Image) and activation.colormap.name == "turbo"
    assert activation.data.shape == (512, 512) and float(activation.data.max()) <= 1
    mask = viewer.layers["demo_he_crop_pseudomask"]
    assert isinstance(mask, napari.layers.Labels) and set(np.unique(mask.data)) <= {0, 1}
    assert isinstance(viewer.layers["demo_he_crop_edges"], napari.layers.Image)
    nuclei = viewer.layers["demo_he_crop_nuclei"]
    assert nuclei.metadata["model_hash"] == "toy-123" and nuclei.metadata["method"] == "toy"
    assert {"status", "classification", "perimeter", "eccentricity"} <= set(nuclei.features)
    # the slide stays readable: maps and centroids hidden, nuclei as coloured outlines
    assert not activation.visible and not mask.visible
    assert not viewer.layers["demo_he_crop_edges"].visible
    assert not viewer.layers["demo_he_crop_centroids"].visible
    assert nuclei.visible and nuclei.contour >= 1
    assert type(nuclei.colormap).__name__ == "DirectLabelColormap"
    activation.visible = True  # one click shows a map; a re-run keeps the choice
    _run(widget, qtbot)
    assert activation.visible and not mask.visible


def test_region_from_shapes_offsets_translate(viewer_with_demo, qtbot):
    viewer = viewer_with_demo
    image = viewer.layers["demo_he_crop"]
    scale = image.scale[-1]
    # rectangle in world units (the image is scaled to micrometres)
    shapes = viewer.add_shapes([np.array([[100, 200], [100, 400], [300, 400], [300, 200]])
                                * scale], shape_type="rectangle", name="roi")
    widget = _widget(viewer)
    widget._image.value = image
    widget._region.value = "shapes rectangle"
    widget._shapes.value = shapes
    _run(widget, qtbot)
    nuclei = viewer.layers["demo_he_crop_nuclei"]
    assert nuclei.data.shape == (200, 200)
    assert nuclei.metadata["region"] == [100, 200, 300, 400]
    np.testing.assert_allclose(nuclei.translate, np.array([100, 200]) * scale)
    points = viewer.layers["demo_he_crop_centroids"]
    assert len(points.data) == len(nuclei.features) > 0
    assert points.data.max() < 200  # crop coordinates, translated by the layer


def test_result_bound_to_source_layer(viewer_with_demo, qtbot):
    viewer = viewer_with_demo
    widget = _widget(viewer)
    widget._image.value = viewer.layers["demo_he_crop"]
    widget.run()
    other = viewer.add_image(np.zeros((64, 64), np.uint8), name="other")
    viewer.layers.selection.active = other
    widget._image.reset_choices()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)
    assert "demo_he_crop_nuclei" in viewer.layers and "other_nuclei" not in viewer.layers
    assert viewer.layers["demo_he_crop_nuclei"].metadata["source_layer"] == "demo_he_crop"


def test_large_region_goes_to_zarr(viewer_with_demo, qtbot, tmp_path, monkeypatch,
                                   toy_method):
    from napari_pathrobust.widgets import recognise

    monkeypatch.setenv("NAPARI_PATHROBUST_CONFIG_DIR", str(tmp_path / "config"))
    from napari_pathrobust.widgets._settings import save_settings

    save_settings({"results_dir": str(tmp_path / "results")})
    monkeypatch.setattr(recognise, "LARGE_PIXELS", 1000)
    viewer = viewer_with_demo
    widget = _widget(viewer)
    widget._method.value = "toy"
    widget._tile.value = 128
    _ToyMethod.delay = 0.3
    widget.run()
    qtbot.waitUntil(lambda: widget._progress.value >= 1, timeout=60_000)  # zarr is open
    widget.cancel()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)
    assert "demo_he_crop_nuclei" not in viewer.layers and widget._status.value == "cancelled"
    results = tmp_path / "results"
    assert not results.exists() or list(results.iterdir()) == []  # nothing half-made
    _ToyMethod.delay = 0.0
    _run(widget, qtbot)
    nuclei = viewer.layers["demo_he_crop_nuclei"]
    assert sorted(p.name for p in results.iterdir()) == [
        "demo_he_crop_cells.npz", "demo_he_crop_maps.zarr", "demo_he_crop_nuclei.zarr",
        "demo_he_crop_review.json"]  # the result and its autosaved session
    assert not isinstance(viewer.layers["demo_he_crop_activation"].data, np.ndarray)
    assert isinstance(viewer.layers["demo_he_crop_edges"].data, np.ndarray)
    assert not isinstance(nuclei.data, np.ndarray)  # lazy, read from the zarr
    assert int(np.asarray(nuclei.data).max()) == len(nuclei.features) > 20


def test_current_view_and_multiscale_input(make_napari_viewer, qtbot):
    import dask.array as da

    from napari_pathrobust._sample_data import demo_crop

    (data, kwargs, _), = demo_crop()
    viewer = make_napari_viewer()
    kwargs = dict(kwargs, name="pyramid", multiscale=True, scale=(1, 1))
    viewer.add_image([da.from_array(data, chunks=128), da.from_array(data[::2, ::2])],
                     **kwargs)
    widget = _widget(viewer)
    widget._region.value = "current view"
    cam = getattr(viewer, "scene", viewer).camera
    cam.center = (0, 300, 200)
    cam.zoom = max(viewer.canvas.size) / 100  # about 100 pixels visible
    _run(widget, qtbot)
    nuclei = viewer.layers["pyramid_nuclei"]
    y0, x0, y1, x1 = nuclei.metadata["region"]
    assert y1 - y0 <= 110 and x1 - x0 <= 110 and y0 <= 300 <= y1 and x0 <= 200 <= x1
    assert nuclei.data.shape == (y1 - y0, x1 - x0)


def test_psm_adds_activation_and_pseudomask(viewer_with_demo, qtbot):
    viewer = viewer_with_demo
    widget = _widget(viewer)
    widget._method.value = "psm"
    widget._device.value = "cpu"
    widget.run()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=120_000)
    names = {layer.name for layer in viewer.layers}
    assert {"demo_he_crop_nuclei", "demo_he_crop_centroids", "demo_he_crop_activation",
            "demo_he_crop_pseudomask"} <= names
    activation = viewer.layers["demo_he_crop_activation"]
    assert activation.data.dtype == np.float32 and float(activation.data.max()) <= 1
    nuclei = viewer.layers["demo_he_crop_nuclei"]
    assert int(nuclei.data.max()) > 50
    assert nuclei.metadata["method"] == "psm" and nuclei.metadata.get("model_hash")


def test_psm_ihc_classes_reach_the_points(make_napari_viewer, qtbot):
    from test_ihc import ihc_tile

    viewer = make_napari_viewer()
    viewer.add_image(ihc_tile(seed=4)[0], name="ki67", rgb=True)
    widget = _widget(viewer)
    widget._method.value = "psm"
    widget._device.value = "cpu"
    widget._stain.value = "ihc"
    _run(widget, qtbot)
    classes = set(viewer.layers["ki67_centroids"].features["classification"])
    assert classes == {"Positive", "Negative"}
    assert viewer.layers["ki67_nuclei"].metadata["stain"] == "ihc"


@pytest.fixture
def errors(monkeypatch):
    """Messages sent to napari's error notifications."""
    from napari_pathrobust.widgets import _runner

    shown = []
    monkeypatch.setattr(_runner, "show_error", shown.append, raising=False)
    return shown


def test_method_gets_device_seed_stain_or_fails_loudly(viewer_with_demo, qtbot, monkeypatch,
                                                       errors):
    """No silent fallback to a method without device, seed and stain (bug 8)."""
    calls = []

    def strict(name, **kwargs):
        calls.append((name, kwargs))
        if "stain" in kwargs:
            raise TypeError("got an unexpected keyword argument 'stain'")
        return _ToyMethod()

    _patch_get_method(monkeypatch, strict)
    widget = _widget(viewer_with_demo)
    widget._method.value = "psm"
    widget._device.value = "cpu"
    widget._seed.value = 5
    widget._stain.value = "ihc"
    _run(widget, qtbot)
    assert calls == [("psm", {"device": "cpu", "seed": 5, "stain": "ihc", "normalise": True})]
    assert "demo_he_crop_nuclei" not in viewer_with_demo.layers
    assert widget._status.value.startswith("failed") and "stain" in errors[0]


def test_bad_weights_come_back_as_a_notification(viewer_with_demo, qtbot, monkeypatch,
                                                 tmp_path, errors):
    """Weight-loading errors are the worker's, shown as a notification (bug 8)."""
    from napari_pathrobust.engine.registry import get_method

    bad = tmp_path / "missing_unet.pt"

    def with_bad_weights(name, **kwargs):
        return get_method(name, seg_weights=str(bad), **kwargs)

    _patch_get_method(monkeypatch, with_bad_weights)
    widget = _widget(viewer_with_demo)
    widget._method.value = "psm"
    widget._device.value = "cpu"
    widget.run()  # returns at once: the weights are loaded in the worker
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)
    assert len(errors) == 1 and bad.name in errors[0] and "Recognise nuclei" in errors[0]
    assert widget._status.value.startswith("failed") and widget._run.enabled
    assert "demo_he_crop_nuclei" not in viewer_with_demo.layers


def test_um_per_pixel_field_prefilled_and_passed(make_napari_viewer, qtbot):
    from napari_pathrobust.engine.synthetic import synthetic_he_tile

    viewer = make_napari_viewer()
    rgb = synthetic_he_tile(shape=(192, 192), seed=1)[0]
    viewer.add_image(rgb, name="plain", rgb=True)
    widget = _widget(viewer)
    widget._image.value = viewer.layers["plain"]
    widget._method.value = "classical"
    assert widget._mpp.value == 0  # no units, no metadata: unknown
    _run(widget, qtbot)
    assert "pixel size unknown: assumed 0.25 um/px" in widget._status.value
    viewer.add_image(rgb, name="twenty", rgb=True, scale=(0.5, 0.5), units=("um", "um"))
    widget._image.value = viewer.layers["twenty"]
    assert widget._mpp.value == 0.5  # from the layer's scale in microns
    _run(widget, qtbot)
    nuclei = viewer.layers["twenty_nuclei"]
    assert nuclei.data.shape == (192, 192) and nuclei.metadata["scale"] == 2.0
    assert nuclei.metadata["mpp"] == 0.5 and "assumed" not in widget._status.value


def test_stain_normalisation_checkbox_reaches_the_job(viewer_with_demo, qtbot, monkeypatch):
    """On by default; unticked, the method is built without it and the layer says so."""
    from napari_pathrobust.engine.registry import get_method

    calls = []

    def spy(name, **kwargs):
        calls.append(kwargs.get("normalise"))
        return get_method("classical")

    _patch_get_method(monkeypatch, spy)
    widget = _widget(viewer_with_demo)
    assert widget._normalise.value is True
    _run(widget, qtbot)
    widget._normalise.value = False
    _run(widget, qtbot)
    assert calls == [True, False]
    record = viewer_with_demo.layers["demo_he_crop_nuclei"].metadata["normalisation"]
    assert record["enabled"] is False and record["decision"] == "off"
