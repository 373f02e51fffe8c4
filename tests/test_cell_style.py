"""Cell outlines coloured by class and status, repainted at once on every change."""

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.gui


def _grid(n_side=6, side=8, offset=0):
    labels = np.zeros((n_side * side, n_side * side), np.uint32)
    rows = []
    for i in range(n_side):
        for j in range(n_side):
            label = offset + i * n_side + j + 1
            labels[i * side + 1:(i + 1) * side, j * side + 1:(j + 1) * side] = label
            rows.append({"label": label, "x": j * side + side / 2, "y": i * side + side / 2,
                         "area": (side - 1) ** 2, "classification": "Nucleus",
                         "status": "unreviewed"})
    frame = pd.DataFrame(rows)
    frame["index"] = frame["label"]
    return labels, frame


def _layer(labels, frame):
    from napari.layers import Labels

    from napari_pathrobust.widgets.cell_style import auto_restyle

    layer = Labels(labels, features=frame)
    auto_restyle(layer)
    return layer


def _shown(layer, label):
    return np.asarray(layer.colormap.map(int(label)), float)


def _full_texture(layer):
    """What napari computes for the whole slice from scratch."""
    return layer.colormap._data_to_texture(
        layer._calculate_contour(layer._slice.image.raw,
                                 tuple(slice(0, s) for s in layer.data.shape)))


def test_outlines_coloured_by_class_and_status():
    from napari_pathrobust.engine.cells import contrast_ratio, outline_colors, stain_under
    from napari_pathrobust.widgets.cell_style import cell_color

    labels, frame = _grid()
    layer = _layer(labels, frame)
    assert layer.contour >= 1  # outlines, the slide stays readable
    first, second, third = (int(v) for v in frame["label"][:3])
    table = layer.features.copy()
    table.loc[table["label"] == first, ["classification", "status"]] = ["Tumor", "accepted"]
    table.loc[table["label"] == second, "status"] = "rejected"
    layer.features = table  # what Review does: the colours follow at once
    tumor = _shown(layer, first)
    under = stain_under("Tumor")  # no stain measured: H&E's
    np.testing.assert_allclose(tumor[:3], np.array(outline_colors("Tumor", under)["accepted"])
                               / 255, atol=1e-6)
    assert tumor[3] == 1.0 and tumor[0] > 1.1 * max(tumor[1:3])  # still red
    np.testing.assert_allclose(_shown(layer, first), cell_color("Tumor", "accepted"))
    np.testing.assert_allclose(_shown(layer, second), cell_color("Nucleus", "rejected"))
    np.testing.assert_allclose(_shown(layer, third), cell_color("Nucleus", "unreviewed"))
    accepted, unreviewed, rejected = (cell_color("Nucleus", s)
                                      for s in ("accepted", "unreviewed", "rejected"))
    # status visible: accepted contrasts more with the stain than unreviewed
    assert contrast_ratio(255 * accepted, under) > 1.3 * contrast_ratio(255 * unreviewed, under)
    assert not np.allclose(accepted[:3], unreviewed[:3])
    assert np.ptp(rejected[:3]) == 0 and rejected[:3].sum() < unreviewed[:3].sum()  # grey
    # QuPath's IHC conventions
    assert cell_color("Positive", "accepted")[0] > cell_color("Positive", "accepted")[2]
    assert cell_color("Negative", "accepted")[2] > cell_color("Negative", "accepted")[0]


def test_partial_repaint_matches_a_full_one():
    """Only the changed cells' boxes are redrawn, and the result is what a full redraw
    gives (including a class that adds a colour)."""
    labels, frame = _grid()
    layer = _layer(labels, frame)
    table = layer.features.copy()
    for label, cls, status in [(3, "Nucleus", "accepted"),
                               (8, "Stroma", "accepted"),
                               (20, "My class", "rejected"),
                               (36, "Tumor", "unreviewed")]:
        table.loc[table["label"] == label, ["classification", "status"]] = [cls, status]
        layer.features = table.copy()
        np.testing.assert_array_equal(layer._slice.image.view, _full_texture(layer))
    from napari_pathrobust.widgets.cell_style import cell_color

    np.testing.assert_allclose(_shown(layer, 8), cell_color("Stroma", "accepted"), atol=1e-6)


def test_hide_rejected_and_large_ids():
    from napari_pathrobust.widgets.cell_style import hides_rejected, restyle

    labels, frame = _grid(offset=70_000)  # ids above 65535, as on a 100,000-cell slide
    layer = _layer(labels, frame)
    rejected = int(frame["label"].iat[4])
    table = layer.features.copy()
    table.loc[table["label"] == rejected, "status"] = "rejected"
    layer.features = table
    restyle(layer, hide_rejected=True)
    assert hides_rejected(layer) and _shown(layer, rejected)[3] == 0
    assert _shown(layer, int(frame["label"].iat[0]))[3] > 0
    restyle(layer, hide_rejected=False)
    assert _shown(layer, rejected)[3] > 0
    np.testing.assert_array_equal(layer._slice.image.view, _full_texture(layer))


def test_layers_without_cells_are_left_alone():
    from napari.layers import Labels

    from napari_pathrobust.widgets.cell_style import auto_restyle

    mask = Labels(np.eye(8, dtype=np.uint8))
    before = mask.colormap
    auto_restyle(mask)
    assert mask.colormap is before and mask.contour == 0


@pytest.mark.slow
def test_canvas_pixels_follow_status(make_napari_viewer):
    """A screenshot of the canvas: an accepted Tumor cell is drawn red (pale: it stands
    out on a dark stain), a rejected one grey."""
    labels, frame = _grid(n_side=2, side=40)
    viewer = make_napari_viewer(show=True)
    layer = viewer.add_labels(labels, features=frame)
    from napari_pathrobust.widgets.cell_style import auto_restyle

    auto_restyle(layer)
    layer.contour = 0  # filled, so the pixels are easy to find
    viewer.reset_view()

    def corners():
        shot = viewer.screenshot(canvas_only=True, flash=False)
        h, w = shot.shape[:2]
        # the 80 x 80 image is centred: cell 1 top-left, cell 4 bottom-right
        return (shot[int(h * 0.3), int(w * 0.5 - h * 0.2), :3].astype(int),
                shot[int(h * 0.7), int(w * 0.5 + h * 0.2), :3].astype(int))

    top_left, bottom_right = corners()
    assert top_left[1] > top_left[0] and bottom_right[1] > bottom_right[0]  # green
    table = layer.features.copy()
    table.loc[table["label"] == 1, ["classification", "status"]] = ["Tumor", "accepted"]
    table.loc[table["label"] == 4, "status"] = "rejected"
    layer.features = table
    top_left, bottom_right = corners()
    red, green, blue = top_left
    assert red > 100 and red > green + 25 and red > blue + 25  # Tumor
    assert abs(bottom_right[0] - bottom_right[1]) < 20 and \
        abs(bottom_right[1] - bottom_right[2]) < 20  # rejected: grey
    assert bottom_right.sum() > 30
    from napari_pathrobust.widgets.cell_style import restyle

    restyle(layer, hide_rejected=True)
    _top_left, hidden = corners()
    assert hidden.sum() < 10  # the black background shows through


def test_without_a_compiled_backend(monkeypatch):
    """napari's numpy colour mapping: small ids are styled (full repaints), ids above
    65535 keep napari's colours with one warning instead of failing on the canvas."""
    from napari.utils.colormap_backend import ColormapBackend
    from napari.utils.colormaps import _accelerated_cmap as accel

    from napari_pathrobust.widgets import cell_style

    warnings = []
    monkeypatch.setattr(cell_style, "show_warning", warnings.append)
    accel.set_colormap_backend(ColormapBackend.pure_python)
    try:
        labels, frame = _grid()
        layer = _layer(labels, frame)
        table = layer.features.copy()
        table.loc[table["label"] == 5, "status"] = "rejected"
        layer.features = table
        np.testing.assert_allclose(_shown(layer, 5), cell_style.cell_color("", "rejected"))
        np.testing.assert_array_equal(layer._slice.image.view, _full_texture(layer))
        big = _layer(*_grid(offset=70_000))
        assert type(big.colormap).__name__ == "CyclicLabelColormap" and len(warnings) == 1
        big.refresh()  # draws without error
    finally:
        accel.set_colormap_backend(ColormapBackend.fastest_available)


def test_napari_internals_missing_means_the_plain_path(monkeypatch):
    """The fast paths read napari internals; without them styling falls back, never
    raises (pyproject allows napari versions other than the one measured; the full
    fallback suite is tests/test_napari_compat.py)."""
    from napari.utils.colormaps import _accelerated_cmap as accel

    from napari_pathrobust.widgets import _napari_compat as compat

    monkeypatch.delattr(accel, "_labels_raw_to_texture_direct_numpy")
    public = compat.fast_labels_backend()  # the backend asked for, the packages there
    assert public is (accel.numba is not None or accel.partsegcore_mapping is not None)
    assert compat.colours_edited(object()) is False  # no napari cache: caller rebuilds
