"""The pathologist's whole session in a real, shown napari viewer (issue 16, under xvfb).

Played as a user would, through napari's own API (sample menu, plugin dock widgets,
camera, screenshots, File > Open) and the widgets' buttons and public methods: open the
bundled sample, recognise with the defaults, review (accept, reject, classify), see the
colours on the canvas, export GeoJSON and reopen it, re-run over reviewed cells, undo /
redo, then "kill" napari (nothing closed or saved by hand) and reopen the slide in a
fresh viewer: the reviews come back from the autosave.
"""

import numpy as np
import pytest
from qtpy.QtWidgets import QPushButton
from scipy import ndimage as ndi

pytestmark = [pytest.mark.gui, pytest.mark.slow]

PLUGIN = "napari-pathrobust"
IMAGE = "demo_he_crop"
NUCLEI = f"{IMAGE}_nuclei"
#: the re-run region, in image pixels (y0, x0, y1, x1): reviewed cells are chosen inside
REGION = (128, 128, 384, 384)


def _dock(viewer, name):
    _dock_widget, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    return widget


def _click(widget, text):
    """Click the Review widget's push button labelled ``text``."""
    buttons = [b for b in widget.findChildren(QPushButton) if b.text() == text]
    assert len(buttons) == 1, text
    buttons[0].click()


def _review(layer) -> dict:
    """{label: (status, classification)} of every cell of ``layer``."""
    f = layer.features
    return {int(k): (s, c) for k, s, c in zip(f["label"], f["status"], f["classification"])}


def _pixels(labels, label):
    """(outline pixel touching only background, interior pixel) of cell ``label``,
    or None when the cell has no such pair (too small or crowded)."""
    mask = labels == label
    if not mask.any():
        return None
    others = (labels > 0) & ~mask
    near_others = ndi.binary_dilation(others, iterations=2)
    outline = mask & ~ndi.binary_erosion(mask) & ~near_others
    outline &= ndi.binary_dilation(labels == 0)  # on the background side
    depth = ndi.distance_transform_edt(mask)
    if not outline.any() or depth.max() < 4:
        return None
    edge = np.argwhere(outline)[0]
    inside = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return tuple(int(v) for v in edge), tuple(int(v) for v in inside)


def _pick_cells(layer, n):
    """``n`` unreviewed cells well inside ``REGION`` with a clean outline pixel."""
    labels = np.asarray(layer.data)
    y0, x0, y1, x1 = REGION
    f = layer.features
    inside = f[(f["y"] > y0 + 24) & (f["y"] < y1 - 24) & (f["x"] > x0 + 24) & (f["x"] < x1 - 24)]
    picked = {}
    for label in inside.sort_values("area", ascending=False)["label"]:
        pixels = _pixels(labels, int(label))
        if pixels is not None:
            picked[int(label)] = pixels
        if len(picked) == n:
            return picked
    raise AssertionError(f"only {len(picked)} clean cells in the region")


def _canvas_rgb(viewer, layer, pixel, zoom_px=12):
    """The canvas colour at the centre of image ``pixel`` (centred, zoomed in)."""
    world = np.asarray(layer.data_to_world(np.asarray(pixel, float)))
    viewer.camera.center = tuple(world[-2:])
    viewer.camera.zoom = zoom_px / float(layer.scale[-1])
    shot = np.asarray(viewer.screenshot(canvas_only=True, flash=False))
    h, w = shot.shape[:2]
    return shot[h // 2, w // 2, :3].astype(float)


def _blend(under, rgba, opacity):
    alpha = float(rgba[3]) * float(opacity)
    return (1 - alpha) * under + alpha * 255.0 * np.asarray(rgba[:3], float)


def test_the_whole_review_session(make_napari_viewer, qtbot):
    from napari_pathrobust.widgets._settings import results_dir

    viewer = make_napari_viewer(show=True)
    # -- open the sample, recognise with the defaults ---------------------------------
    viewer.open_sample(PLUGIN, "demo_he_crop")
    image = viewer.layers[IMAGE]
    recognise = _dock(viewer, "Recognise nuclei")
    assert recognise._image.value is image and recognise._method.value == "psm"
    recognise.run()
    qtbot.waitUntil(lambda: recognise.worker is None, timeout=180_000)
    assert NUCLEI in viewer.layers, recognise._status.value
    nuclei = viewer.layers[NUCLEI]
    assert "nuclei in" in recognise._status.value
    # the slide stays readable: maps and centroids hidden, nuclei as outlines
    for name in (f"{IMAGE}_activation", f"{IMAGE}_pseudomask", f"{IMAGE}_centroids"):
        assert name in viewer.layers and not viewer.layers[name].visible, name
    assert nuclei.visible and nuclei.contour >= 1 and image.visible
    assert set(nuclei.features["status"]) == {"unreviewed"}

    # -- review: classify, accept, reject (select a cell, click the buttons) -------------
    review = _dock(viewer, "Review cells")
    assert review.layer is nuclei
    cells = _pick_cells(nuclei, 4)
    tumour, accepted, rejected, later = cells
    review.select_label(tumour)
    review.classes.setCurrentText("Tumor")
    _click(review, "Set class (c)")
    review.select_label(accepted)
    _click(review, "Accept (a)")
    review.select_label(rejected)
    _click(review, "Reject (r)")
    state = _review(nuclei)
    assert state[tumour] == ("accepted", "Tumor")  # naming a cell reviews it
    assert state[accepted] == ("accepted", "Nucleus")
    assert state[rejected][0] == "rejected"
    assert state[later] == ("unreviewed", "Nucleus")
    reviewed = {k: state[k] for k in (tumour, accepted, rejected)}

    # -- colours: the layer's colormap and the pixels on the canvas ----------------------
    colour = {k: np.asarray(nuclei.get_color(k), float) for k in cells}
    # Tumor red, made pale enough to read on the dark H&E nuclei (issue 28.2)
    assert colour[tumour][0] > 0.6 and colour[tumour][0] > colour[tumour][1] + 0.1 and \
        colour[tumour][3] == 1
    red, green, blue = colour[rejected][:3]
    assert abs(red - green) < 0.05 and abs(green - blue) < 0.05  # rejected grey
    assert not np.allclose(colour[accepted], colour[later])  # accepted != unreviewed
    shown, under = {}, {}
    for label in (tumour, rejected):
        edge, inside = cells[label]
        shown[label] = _canvas_rgb(viewer, nuclei, edge)
        shown[label, "inside"] = _canvas_rgb(viewer, nuclei, inside)
    nuclei.visible = False
    for label in (tumour, rejected):
        edge, inside = cells[label]
        under[label] = _canvas_rgb(viewer, nuclei, edge)
        under[label, "inside"] = _canvas_rgb(viewer, nuclei, inside)
    nuclei.visible = True
    for label in (tumour, rejected):
        expected = _blend(under[label], colour[label], nuclei.opacity)
        assert np.abs(shown[label] - expected).max() < 24, (label, shown[label], expected)
        # outlines only: the nucleus itself is drawn as the slide shows it
        assert np.abs(shown[label, "inside"] - under[label, "inside"]).max() < 8
    assert shown[tumour][0] - shown[tumour][1:].max() > 25  # red on the canvas
    assert np.ptp(shown[rejected]) < np.ptp(under[rejected]) + 12  # greyed, not coloured
    review.hide_rejected.setChecked(True)  # the "Hide rejected" toggle
    assert nuclei.get_color(rejected)[3] == 0 and nuclei.get_color(tumour)[3] > 0.9
    review.hide_rejected.setChecked(False)
    assert np.asarray(nuclei.get_color(rejected)) == pytest.approx(colour[rejected])

    # -- export GeoJSON with the Export widget and reopen it with the plugin -------------
    export = _dock(viewer, "Export / open results")
    assert export._labels.value is nuclei  # defaults to the cell result
    path = results_dir() / "review.geojson"
    export.export("geojson", path)
    qtbot.waitUntil(lambda: export.worker is None, timeout=60_000)
    assert path.exists() and export._status.value.startswith("wrote review.geojson")
    assert export._progress.value == export._progress.max  # progress completes
    reopened, = viewer.open(path, plugin=PLUGIN)
    back = reopened.features
    assert len(back) == len(nuclei.features)
    by_label = _review(reopened)
    for label, value in reviewed.items():  # same ids, same cells, same reviews
        assert by_label[label] == value
        a, b = np.asarray(reopened.data) == label, np.asarray(nuclei.data) == label
        assert (a & b).sum() / (a | b).sum() > 0.8
    assert (back["status"] == "unreviewed").sum() == len(back) - 3
    viewer.layers.remove(reopened)

    # -- re-run Recognise over a region holding the reviewed cells -----------------------
    masks = {k: np.asarray(nuclei.data) == k for k in reviewed}
    y0, x0, y1, x1 = REGION
    corners = np.array([[y0, x0], [y0, x1], [y1, x1], [y1, x0]], float)
    world = np.array([image.data_to_world(c) for c in corners])
    shapes = viewer.add_shapes([world], shape_type="rectangle", name="region")
    recognise._region.value = "shapes rectangle"  # the user's choices in the dock
    recognise._shapes.value = shapes
    n_before = len(nuclei.features)
    recognise.run()
    qtbot.waitUntil(lambda: recognise.worker is None, timeout=180_000)
    message = recognise._status.value
    assert "3 reviewed kept" in message and "unreviewed replaced" in message, message
    assert viewer.layers[NUCLEI] is nuclei, "one result per slide, updated in place"
    after = _review(nuclei)
    for label, value in reviewed.items():
        assert after[label] == value
        assert np.array_equal(np.asarray(nuclei.data) == label, masks[label])
    assert abs(len(nuclei.features) - n_before) < n_before // 2
    assert np.asarray(nuclei.get_color(tumour)) == pytest.approx(colour[tumour])

    # -- undo / redo a status change (buttons) -------------------------------------------
    later = next(k for k, v in after.items() if v[0] == "unreviewed")
    unreviewed_colour = np.asarray(nuclei.get_color(later), float)
    review.select_label(later)
    _click(review, "Reject (r)")
    assert _review(nuclei)[later][0] == "rejected"
    # the grey of the cell rejected before the re-run (the stain under the outlines is
    # measured again on the merged result, so it may move by a grey level)
    assert np.asarray(nuclei.get_color(later)) == \
        pytest.approx(np.asarray(nuclei.get_color(rejected)))
    _click(review, "Undo review (Alt+Z)")
    assert _review(nuclei)[later][0] == "unreviewed"
    assert np.asarray(nuclei.get_color(later)) == pytest.approx(unreviewed_colour)
    _click(review, "Redo review (Alt+Shift+Z)")
    assert _review(nuclei)[later][0] == "rejected"
    final = _review(nuclei)
    final_labels = np.asarray(nuclei.data).copy()
    # the autosave follows by itself (a kill after this loses nothing)
    qtbot.waitUntil(lambda: "autosaved" in review.status.text(), timeout=10_000)

    # -- "kill" napari: nothing closed or saved; reopen the slide in a fresh viewer -------
    fresh = make_napari_viewer(show=True)
    review2 = _dock(fresh, "Review cells")
    fresh.open_sample(PLUGIN, "demo_he_crop")
    assert NUCLEI in fresh.layers
    restored = fresh.layers[NUCLEI]
    assert "restored" in review2.status.text()
    assert _review(restored) == final
    assert np.array_equal(np.asarray(restored.data), final_labels)
    np.testing.assert_allclose(restored.scale, fresh.layers[IMAGE].scale)
    assert review2.layer is restored
    for label in (tumour, rejected, later):
        assert np.asarray(restored.get_color(label)) == pytest.approx(
            np.asarray(nuclei.get_color(label)))


def test_plugin_docked_rerun_updates_the_result_in_place(make_napari_viewer, qtbot):
    """napari hands plugin docks a viewer whose layers come wrapped in PublicOnlyProxy:
    a re-run must still update ``<image>_nuclei`` in place, and Review stay on it."""
    from napari_pathrobust.engine.synthetic import synthetic_he_tile

    viewer = make_napari_viewer()
    rgb, _truth = synthetic_he_tile(shape=(192, 192), seed=1)
    viewer.add_image(rgb, name="tile", rgb=True)
    recognise = _dock(viewer, "Recognise nuclei")
    review = _dock(viewer, "Review cells")
    recognise._method.value = "classical"
    recognise.run()
    qtbot.waitUntil(lambda: recognise.worker is None, timeout=60_000)
    first = viewer.layers["tile_nuclei"]
    qtbot.waitUntil(lambda: review.layer is first, timeout=5_000)
    recognise.run()
    qtbot.waitUntil(lambda: recognise.worker is None, timeout=60_000)
    assert viewer.layers["tile_nuclei"] is first, "the result layer was replaced"
    assert review.layer is first
