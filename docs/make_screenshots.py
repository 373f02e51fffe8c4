"""Take the user guide's screenshots from a real, shown napari viewer.

Run under a display (or xvfb), from the repository root:
    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" \
        .venv/bin/python docs/make_screenshots.py

Every widget is docked from the plugin's menu entry (``add_plugin_dock_widget``) with its
real defaults; the script only does what a user does through the widgets' buttons and
public methods (Run, Accept, Reject, Set class, Export, ...) and through napari (open a
sample, zoom, delete layers). Nothing on the layers is restyled here. Settings, remembered
widget values, autosaved reviews and napari's own preferences go to a temporary folder,
so the user's choices do not leak into the pictures (and the pictures do not leak into
the user's folders).

Writes docs/images/{recognise,review,review-plot,export,corruption-preview,adapt,
ihc-scoring,settings}-widget.png, each < 400 KB (palette-quantised PNG).
"""

import os
import sys
import tempfile
import time
from pathlib import Path

_TMP = tempfile.TemporaryDirectory(prefix="pathrobust-shots-")
# isolate every store before napari or the plugin reads one
os.environ["NAPARI_PATHROBUST_CONFIG_DIR"] = str(Path(_TMP.name) / "config")
os.environ["XDG_CACHE_HOME"] = str(Path(_TMP.name) / "cache")  # autosaved reviews
os.environ["NAPARI_CONFIG"] = str(Path(_TMP.name) / "napari" / "settings.yaml")

import napari  # noqa: E402
from PIL import Image  # noqa: E402
from qtpy.QtWidgets import QApplication, QTabWidget  # noqa: E402

PLUGIN = "napari-pathrobust"
OUT = Path(__file__).resolve().parent / "images"
MAX_BYTES = 400_000


def _wait(predicate, timeout=600):
    start = time.time()
    while not predicate():
        QApplication.processEvents()
        time.sleep(0.02)
        if time.time() - start > timeout:
            raise TimeoutError("job did not finish")
    _settle()


def _settle(rounds=20):
    for _ in range(rounds):
        QApplication.processEvents()
        time.sleep(0.05)


def _shot(viewer, name):
    _settle()
    path = OUT / name
    viewer.screenshot(str(path), canvas_only=False)
    image = Image.open(path).convert("RGB")
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise RuntimeError(f"{path} is {size} bytes (limit {MAX_BYTES})")
    print(f"{path.name}: {size // 1024} KB", flush=True)


def _dock(viewer, name):
    """Dock the plugin widget ``name`` as Plugins > PathRobust > name does."""
    dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    _settle()
    return dock, widget


def _undock(viewer, dock):
    viewer.window.remove_dock_widget(dock)
    _settle(5)


def _cells_near_centre(layer, n):
    """Labels of the ``n`` cells nearest the image centre (the ones a reviewer sees)."""
    feats = layer.features
    dist = (feats["x"] - feats["x"].mean()) ** 2 + (feats["y"] - feats["y"].mean()) ** 2
    return [int(v) for v in feats.loc[dist.sort_values().index[:n], "label"]]


def he_session(viewer):
    """Recognise, review, export, corruption preview, settings and adapt on the H&E crop."""
    viewer.open_sample(PLUGIN, "demo_he_crop")
    dock, recognise = _dock(viewer, "Recognise nuclei")
    recognise.run()  # the Run button, with the defaults
    _wait(lambda: not recognise.running)
    if recognise.last_error is not None:
        raise RuntimeError(f"Recognise failed: {recognise.last_error}")
    _shot(viewer, "recognise-widget.png")
    _undock(viewer, dock)

    nuclei = viewer.layers["demo_he_crop_nuclei"]
    dock, review = _dock(viewer, "Review cells")
    if review.layer is None:
        raise RuntimeError("Review did not pick demo_he_crop_nuclei")
    cells = _cells_near_centre(nuclei, 40)
    review.set_status("accepted", labels=cells[:12])
    review.set_status("rejected", labels=cells[12:16])
    review.set_class("Tumor", labels=cells[16:26])  # naming a cell accepts it
    review.set_class("Immune cells", labels=cells[26:30])
    review.select_label(cells[0])  # a click on a row: centres, zooms and rings the cell
    _shot(viewer, "review-widget.png")

    tabs = review.findChild(QTabWidget)
    tabs.setCurrentIndex(1)  # the Plot tab
    _settle()
    review.plot.set_columns("area", "solidity")
    review.plot.select_polygon([(0, 0.0), (1e6, 0.0), (1e6, 0.85), (0, 0.85)])  # a lasso
    viewer.reset_view()  # the Home button
    _shot(viewer, "review-plot-widget.png")
    tabs.setCurrentIndex(2)  # the Counts tab, left there for the next pictures
    _undock(viewer, dock)
    name = f"{nuclei.name} selection"
    if name in viewer.layers:  # the plot's selection marks: a user deletes them
        viewer.layers.remove(viewer.layers[name])

    dock, export = _dock(viewer, "Export / open results")
    path = Path(_TMP.name) / "demo_he_crop_nuclei.geojson"
    export.export("geojson", path)  # the "Cells -> QuPath GeoJSON..." button
    _wait(lambda: not export.running)
    _shot(viewer, "export-widget.png")
    export.open(path)  # "Open result...": the round trip (not pictured)
    _undock(viewer, dock)
    for layer in [lay for lay in viewer.layers if lay is not nuclei
                  and lay.name.startswith("demo_he_crop_nuclei")]:
        viewer.layers.remove(layer)

    dock, settings = _dock(viewer, "Settings")
    _shot(viewer, "settings-widget.png")
    _undock(viewer, dock)

    dock, preview = _dock(viewer, "Corruption preview")
    preview.update_preview()  # what the live preview does as the dock opens
    _wait(lambda: not preview.running)
    _shot(viewer, "corruption-preview-widget.png")
    _undock(viewer, dock)  # closing the dock takes its preview away

    try:
        dock, _adapt = _dock(viewer, "Adapt to image")
    except Exception as exc:  # noqa: BLE001 - reported, the other pictures still come
        print(f"adapt-widget.png not taken: {exc}", file=sys.stderr, flush=True)
    else:
        _shot(viewer, "adapt-widget.png")
        _undock(viewer, dock)


def ihc_session(viewer):
    """Recognise the IHC sample with Stain = ihc, then IHC scoring (a fresh viewer)."""
    viewer.open_sample(PLUGIN, "ihc")
    dock, recognise = _dock(viewer, "Recognise nuclei")
    recognise._stain.value = "ihc"  # the Stain box
    recognise.run()
    _wait(lambda: not recognise.running)
    if recognise.last_error is not None:
        raise RuntimeError(f"Recognise (ihc) failed: {recognise.last_error}")
    _undock(viewer, dock)
    dock, scoring = _dock(viewer, "IHC scoring")
    _shot(viewer, "ihc-scoring-widget.png")
    _undock(viewer, dock)


def main():
    OUT.mkdir(exist_ok=True)
    try:
        for session in (he_session, ihc_session):
            viewer = napari.Viewer(show=True)
            viewer.window.resize(1500, 920)
            try:
                session(viewer)
            finally:
                viewer.close()
    finally:
        _TMP.cleanup()


if __name__ == "__main__":
    main()
