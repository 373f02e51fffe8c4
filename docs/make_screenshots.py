"""Take the documentation screenshots from a real, shown napari viewer.

Run under a display (or xvfb):
    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" \
        .venv/bin/python docs/make_screenshots.py
"""

import time
from pathlib import Path

import napari
from qtpy.QtWidgets import QApplication

from napari_pathrobust._sample_data import demo_crop
from napari_pathrobust.widgets.recognise import RecogniseWidget

OUT = Path(__file__).resolve().parent / "images"


def _wait(predicate, timeout=300):
    start = time.time()
    while not predicate():
        QApplication.processEvents()
        time.sleep(0.02)
        if time.time() - start > timeout:
            raise TimeoutError("run did not finish")


def main():
    OUT.mkdir(exist_ok=True)
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1500, 900)  # noqa: SLF001 - window size for docs only
    (data, kwargs, _), = demo_crop()
    viewer.add_image(data, **kwargs)
    widget = RecogniseWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Recognise nuclei", area="right")
    widget.run()
    _wait(lambda: widget.worker is None)
    viewer.layers["demo_he_crop_nuclei"].contour = 2
    viewer.layers.selection.active = viewer.layers["demo_he_crop_centroids"]
    viewer.reset_view()
    _wait(lambda: True)
    for _ in range(20):
        QApplication.processEvents()
        time.sleep(0.05)
    viewer.screenshot(str(OUT / "recognise-widget.png"), canvas_only=False)
    viewer.close()


if __name__ == "__main__":
    main()
