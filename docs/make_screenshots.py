"""Take the documentation screenshots from a real, shown napari viewer.

Run under a display (or xvfb):
    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" \
        .venv/bin/python docs/make_screenshots.py

Writes docs/images/{recognise,review,export,settings}-widget.png (each < 400 KB:
palette-quantised PNG saved with optimize).
"""

import tempfile
import time
from pathlib import Path

import napari
from PIL import Image
from qtpy.QtWidgets import QApplication

from napari_pathrobust._sample_data import demo_crop
from napari_pathrobust.widgets.export import ExportWidget
from napari_pathrobust.widgets.recognise import RecogniseWidget
from napari_pathrobust.widgets.review import ReviewWidget
from napari_pathrobust.widgets.settings import SettingsWidget

OUT = Path(__file__).resolve().parent / "images"
MAX_BYTES = 400_000


def _wait(predicate, timeout=300):
    start = time.time()
    while not predicate():
        QApplication.processEvents()
        time.sleep(0.02)
        if time.time() - start > timeout:
            raise TimeoutError("run did not finish")


def _settle():
    for _ in range(20):
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
    print(f"{path.name}: {size // 1024} KB")


def main():
    OUT.mkdir(exist_ok=True)
    viewer = napari.Viewer(show=True)
    viewer.window.resize(1400, 850)
    (data, kwargs, _), = demo_crop()
    viewer.add_image(data, **kwargs)
    recognise = RecogniseWidget(viewer)
    dock = viewer.window.add_dock_widget(recognise, name="Recognise nuclei", area="right")
    recognise.run()
    _wait(lambda: recognise.worker is None)
    nuclei = viewer.layers["demo_he_crop_nuclei"]
    nuclei.contour = 2
    viewer.layers.selection.active = viewer.layers["demo_he_crop_centroids"]
    viewer.reset_view()
    _shot(viewer, "recognise-widget.png")
    viewer.window.remove_dock_widget(dock)

    review = ReviewWidget(viewer)
    dock = viewer.window.add_dock_widget(review, name="Review cells", area="right")
    review.bind(nuclei)
    labels = [int(v) for v in nuclei.features["label"][:12]]
    review.set_status("accepted", labels=labels[:8])
    review.set_status("rejected", labels=labels[8:10])
    review.set_class("Tumor", labels=labels[:5])
    viewer.layers.selection.active = nuclei
    getattr(viewer, "scene", viewer).camera.zoom *= 2.5
    viewer.layers["demo_he_crop_centroids"].visible = False
    feats = nuclei.features
    middle = ((feats["x"] - 256) ** 2 + (feats["y"] - 256) ** 2).idxmin()
    review.set_status("accepted", labels=[int(feats["label"][middle])])
    review.select_label(int(feats["label"][middle]))
    _shot(viewer, "review-widget.png")
    viewer.window.remove_dock_widget(dock)

    export = ExportWidget(viewer)
    dock = viewer.window.add_dock_widget(export, name="Export / open results", area="right")
    with tempfile.TemporaryDirectory() as tmp:
        export.export("geojson", Path(tmp) / "demo_he_crop_nuclei.geojson", layer=nuclei)
        _wait(lambda: export.worker is None)
        viewer.reset_view()
        _shot(viewer, "export-widget.png")
    viewer.window.remove_dock_widget(dock)

    settings = SettingsWidget(viewer)
    viewer.window.add_dock_widget(settings, name="PathRobust settings", area="right")
    _shot(viewer, "settings-widget.png")
    viewer.close()


if __name__ == "__main__":
    main()
