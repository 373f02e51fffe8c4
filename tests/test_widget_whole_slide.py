"""A whole slide from napari: Recognise "whole image" on a generated 12000 x 12000 pyramid
in a shown viewer (progress, Cancel, resume), the lazy multiscale result, and Review,
IHC scoring and Export on it without ever reading its full-resolution labels whole.
Bad input (a truncated file, an MRXS without its data folder, no pixel size): one line,
nothing written."""

from types import SimpleNamespace

import dask.array as da
import numpy as np
import pytest
from _large_pyramid import write_large_pyramid

from napari_pathrobust.engine.errors import InputError
from napari_pathrobust.engine.jobs.region import RegionOptions
from napari_pathrobust.engine.jobs.whole_slide import segment_whole_slide

SIZE = 12000


@pytest.fixture(scope="module")
def ihc_slide(tmp_path_factory):
    """A 12000 x 12000 Ki-67-like slide: flat glass and 2 x 2 tiles of IHC tissue."""
    path = tmp_path_factory.mktemp("slide") / "ki67.tif"
    return write_large_pyramid(path, size=SIZE, tissue_tiles=2, stain="ihc", glass_noise=0)


class Guarded:
    """Level 0 of a labels pyramid that fails any read of more than ``limit`` pixels
    (``np.asarray`` of it, a full slice) and counts the windowed reads."""

    def __init__(self, array, limit: int):
        self._array, self.limit, self.reads = array, limit, 0
        self.shape, self.dtype, self.ndim = array.shape, array.dtype, array.ndim
        self.size = int(np.prod(array.shape))

    def __getitem__(self, key):
        part = self._array[key]
        if int(np.prod(getattr(part, "shape", ()))) > self.limit:
            raise AssertionError(f"read {part.shape} of the full-resolution labels")
        self.reads += 1
        return np.asarray(part)

    def __array__(self, dtype=None, copy=None):
        raise AssertionError("the full-resolution labels were read whole")


def _click(layer, world):
    """Press the mouse at ``world`` on ``layer`` in pan/zoom mode (as napari would)."""
    event = SimpleNamespace(type="mouse_press", position=tuple(world), view_direction=None,
                            dims_displayed=[0, 1], modifiers=())
    for callback in list(layer.mouse_drag_callbacks):
        callback(layer, event)


@pytest.mark.gui
@pytest.mark.slow
def test_whole_slide_in_a_shown_viewer(make_napari_viewer, qtbot, ihc_slide, tmp_path):
    from napari_pathrobust._reader import read_slide
    from napari_pathrobust.widgets.export import ExportWidget
    from napari_pathrobust.widgets.ihc_scoring import IhcScoringWidget
    from napari_pathrobust.widgets.recognise import RecogniseWidget
    from napari_pathrobust.widgets.review import ReviewWidget

    viewer = make_napari_viewer(show=True)
    (data, kwargs, _), = read_slide(str(ihc_slide))
    image = viewer.add_image(data, **kwargs)
    assert image.multiscale and image.data[0].shape[:2] == (SIZE, SIZE)
    widget = RecogniseWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget._method.value, widget._stain.value, widget._tile.value = "classical", "ihc", 1024
    folder = widget._dest(image).parent / "ki67_slide"

    # Cancel: the activity dock shows the job; nothing is published
    widget.run()
    assert widget._activity is not None and widget._cancel.enabled
    widget.cancel()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=120_000)
    assert widget._status.value == "cancelled" and "ki67_nuclei" not in viewer.layers
    assert not folder.exists() or [p for p in folder.iterdir()
                                   if not p.name.startswith(".")] == []

    widget.run()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=600_000)
    assert widget.last_error is None, widget._status.value
    assert str(folder) in widget._status.value
    nuclei = viewer.layers["ki67_nuclei"]
    assert nuclei.multiscale and all(isinstance(level, da.Array) for level in nuclei.data)
    assert nuclei.data[0].shape == (SIZE, SIZE)
    meta = nuclei.metadata
    assert meta["seed"] == 0 and meta["run_id"] and "model_hash" in meta
    assert meta["method"] == "classical" and meta["stain"] == "ihc"
    assert {p.name for p in folder.iterdir()} >= {
        "ki67_labels.zarr", "ki67_points.csv", "ki67.geojson", "ki67_run.json"}
    n_cells = len(nuclei.features)
    assert n_cells > 20 and int(nuclei.features["label"].max()) == n_cells

    guard = Guarded(nuclei.data[0], limit=SIZE * SIZE // 4)  # a GeoJSON band: 2304 rows
    nuclei.data = [guard, *list(nuclei.data)[1:]]

    # Review: a click on a cell selects it; accept it
    review = ReviewWidget(viewer)
    viewer.window.add_dock_widget(review)
    review.bind(nuclei)
    row = nuclei.features.iloc[n_cells // 2]
    label = int(row["label"])
    nuclei.mode = "pan_zoom"
    _click(nuclei, nuclei.data_to_world((row["y"], row["x"])))
    assert nuclei.selected_label == label
    review.set_status("accepted")
    other = int(nuclei.features["label"].iloc[0])
    _click(nuclei, nuclei.data_to_world((nuclei.features["y"].iloc[0],
                                         nuclei.features["x"].iloc[0])))
    assert nuclei.selected_label == other
    review.set_class("Tumor")
    review.set_status("rejected", labels=[int(nuclei.features["label"].iloc[-1])])
    frame = nuclei.features.set_index("label")
    assert frame.loc[label, "status"] == "accepted"
    assert frame.loc[other, "classification"].startswith("Tumor")
    assert frame["status"].iloc[-1] == "rejected"

    # IHC scoring on the lazy layer
    scoring = IhcScoringWidget(viewer)
    viewer.window.add_dock_widget(scoring)
    scoring._layer.value = nuclei
    scoring.apply()
    scoring.update_scores()
    classes = set(nuclei.features["classification"].astype(str))
    assert any("Positive" in c for c in classes) and any("Negative" in c for c in classes)

    # Export streams: zarr chunk by chunk, GeoJSON band by band, the cells table; one
    # TIFF of the whole slide would be read whole: refused in one line
    export = ExportWidget(viewer)
    export.synchronous = True
    export.export("tiff", tmp_path / "out.tif", layer=nuclei)
    assert "too large for one TIFF" in export._status.value
    assert not (tmp_path / "out.tif").exists()
    for kind, name in (("zarr", "out.zarr"), ("geojson", "out.geojson"), ("csv", "out.csv")):
        export.export(kind, tmp_path / name, layer=nuclei, drop_rejected=True)
        assert export.last_error is None, export._status.value
        assert (tmp_path / name).exists()
    assert guard.reads > 0
    exported = read_slide(str(tmp_path / "out.zarr"))[0]
    assert exported[1]["multiscale"] and len(exported[1]["features"]["label"]) == n_cells - 1


@pytest.mark.gui
def test_no_pixel_size_is_refused_before_running(make_napari_viewer, tmp_path):
    from napari_pathrobust._reader import read_slide
    from napari_pathrobust.widgets.recognise import RecogniseWidget

    bare = write_large_pyramid(tmp_path / "bare.tif", size=8400, tissue_tiles=1, mpp=None,
                               glass_noise=0)
    viewer = make_napari_viewer()
    (data, kwargs, _), = read_slide(str(bare))
    image = viewer.add_image(data, **kwargs)
    widget = RecogniseWidget(viewer)
    widget._method.value = "classical"
    assert widget.run() is None and widget.worker is None
    assert widget._status.value.startswith("not run: bare.tif: no pixel size")
    assert "bare_nuclei" not in viewer.layers
    assert not (widget._dest(image).parent / "bare_slide").exists()


def test_bad_input_one_line_nothing_written(tmp_path):
    """A truncated file, an MRXS without its data folder, a slide without a pixel size."""
    out = tmp_path / "out"
    good = write_large_pyramid(tmp_path / "good.tif", size=2048, tissue_tiles=1,
                               glass_noise=0)
    cut = tmp_path / "cut.tif"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size * 2 // 3])
    mrxs = tmp_path / "scan.mrxs"
    mrxs.write_text("[GENERAL]\nSLIDE_VERSION = 01.02\n")
    bare = write_large_pyramid(tmp_path / "bare.tif", size=2048, tissue_tiles=1, mpp=None,
                               glass_noise=0)
    cases = [(cut, "truncated"), (mrxs, "data folder"), (bare, "no pixel size")]
    for path, words in cases:
        with pytest.raises(InputError) as err:
            segment_whole_slide(str(path), out, RegionOptions(method="classical"),
                                name=path.stem)
        message = str(err.value)
        assert "\n" not in message and path.name in message and words in message
    with pytest.raises(InputError, match="no pixel size"):  # pyramid levels, no size given
        segment_whole_slide([np.zeros((64, 64, 3), np.uint8)], out, name="levels")
    assert not out.exists() or list(out.iterdir()) == []


@pytest.mark.slow
def test_job_cancel_publishes_nothing_and_a_rerun_replaces(tmp_path):
    from napari_pathrobust.engine.errors import Cancelled
    from napari_pathrobust.engine.progress import Reporter

    slide = write_large_pyramid(tmp_path / "s.tif", size=2048, tissue_tiles=1, glass_noise=0)
    out = tmp_path / "out"
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 3  # a few tiles in

    with pytest.raises(Cancelled):
        segment_whole_slide(str(slide), out, RegionOptions(method="classical"),
                            Reporter(cancel=cancel), name="s")
    assert [p for p in out.iterdir() if not p.name.startswith(".")] == []
    for seed in (0, 1):
        result = segment_whole_slide(str(slide), out, RegionOptions(method="classical",
                                                                    seed=seed), name="s")
        assert isinstance(result.labels, list) and all(
            isinstance(level, da.Array) for level in result.labels)
        assert result.labels[0].shape == (2048, 2048)
        assert len(result.table["label"]) == result.n_nuclei > 20
        assert result.metadata["seed"] == seed and result.metadata["mpp"] == 0.25
        assert result.table["status"].dtype == object
    assert sorted(p.name for p in out.iterdir()) == [
        "s.geojson", "s_labels.zarr", "s_overlay.png", "s_points.csv", "s_run.json"]
