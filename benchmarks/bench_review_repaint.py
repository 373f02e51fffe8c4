"""Repaint time of a review status change on a synthetic 100,000-cell result.

A ``size`` x ``size`` labels image holds a grid of square cells (``--cells`` of them)
with a features table as Recognise makes; the layer is styled with
``widgets.cell_style`` (outlines coloured by class and status). Timed, median of
``--repeat`` runs:

* ``features set``: a new ``layer.features`` frame with one cell's status changed,
  until the colormap is updated and the layer redrawn (the features event repaints);
* ``Review set_status``: the Review widget's Accept / Reject on one cell (features
  edited in place, table, counts, undo step, repaint; autosave is deferred);
* ``+ canvas draw``: followed by one synchronous canvas paint (needs a display: run
  under ``xvfb-run``; both skipped with ``--no-viewer``);
* ``hide / show rejected``: the toggle (one palette colour changes);
* ``first style``: styling the layer the first time.

Run: ``xvfb-run -a .venv/bin/python benchmarks/bench_review_repaint.py``
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd


def grid_cells(size: int, cells: int) -> tuple[np.ndarray, pd.DataFrame]:
    """Square cells on a grid (1-pixel background between them) and their features."""
    side = max(3, int(size / np.sqrt(cells)))
    per_row = size // side
    rows = np.arange(size) // side
    labels = (rows[:, None] * per_row + rows[None, :] + 1).astype(np.uint32)
    border = (np.arange(size) % side) == 0
    labels[border, :] = 0
    labels[:, border] = 0
    labels[rows >= per_row, :] = 0
    labels[:, rows >= per_row] = 0
    n = per_row * per_row
    ids = np.arange(1, n + 1)
    centre = ((ids - 1) // per_row * side + side / 2, (ids - 1) % per_row * side + side / 2)
    frame = pd.DataFrame({"label": ids, "x": centre[1], "y": centre[0],
                          "area": np.full(n, (side - 1) ** 2),
                          "classification": np.array(["Nucleus"] * n, dtype=object),
                          "status": np.array(["unreviewed"] * n, dtype=object)})
    frame["index"] = frame["label"]
    return labels, frame


def _median(values) -> float:
    return statistics.median(values) * 1000


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=8000)
    parser.add_argument("--cells", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--no-viewer", action="store_true",
                        help="a bare Labels layer, no canvas (no display needed)")
    args = parser.parse_args(argv)

    from napari.layers import Labels

    from napari_pathrobust.widgets._napari_compat import fast_labels_backend
    from napari_pathrobust.widgets.cell_style import auto_restyle, cell_color, restyle

    labels, frame = grid_cells(args.size, args.cells)
    viewer, draw = None, None
    if args.no_viewer:
        layer = Labels(labels, features=frame, name="cells")
    else:
        import os
        import tempfile

        import napari
        from qtpy.QtWidgets import QApplication

        os.environ["NAPARI_PATHROBUST_CONFIG_DIR"] = tempfile.mkdtemp()
        from napari_pathrobust.widgets._settings import save_settings

        save_settings({"results_dir": tempfile.mkdtemp()})  # autosaves go there
        viewer = napari.Viewer(show=True)
        layer = viewer.add_labels(labels, features=frame, name="cells",
                                  metadata={"source_layer": "synthetic"})
        canvas = viewer.window._qt_viewer.canvas._scene_canvas.native

        def draw():
            QApplication.processEvents()
            canvas.repaint()

        draw()
    start = time.perf_counter()
    auto_restyle(layer)
    first = time.perf_counter() - start
    if draw:
        draw()
    rng = np.random.default_rng(0)
    statuses = ["accepted", "rejected", "unreviewed"]
    timings = {key: [] for key in ("change", "change_draw", "review", "review_draw",
                                   "toggle", "toggle_draw")}

    def timed(key, action, paint):
        paint = paint and draw is not None
        start = time.perf_counter()
        action()
        if paint:
            draw()
        timings[key + ("_draw" if paint else "")].append(time.perf_counter() - start)

    def set_features(i):
        row = int(rng.integers(len(frame)))
        table = layer.features.copy()
        table.iloc[row, table.columns.get_loc("status")] = statuses[i % 3]
        label = int(table["label"].iat[row])
        timed("change", lambda: setattr(layer, "features", table), i % 2 == 1)
        assert np.allclose(layer.colormap.map(label), cell_color("Nucleus", statuses[i % 3]))

    for i in range(2 * args.repeat):  # a new features frame, as any plugin may set
        set_features(i)
    widget = None
    if viewer is not None:  # the Review widget (bound after: it listens to features)
        from napari_pathrobust.widgets.review import ReviewWidget

        widget = ReviewWidget(viewer)
        viewer.window.add_dock_widget(widget)
        widget.bind(layer)
        draw()
        for i in range(2 * args.repeat):
            label = int(frame["label"].iat[int(rng.integers(len(frame)))])
            timed("review", lambda s=statuses[i % 3], c=label: widget.set_status(s, [c]),
                  i % 2 == 1)
    for i in range(2 * args.repeat):
        timed("toggle", lambda h=i % 2 == 0: restyle(layer, hide_rejected=h),
              (i // 2) % 2 == 1)  # every call toggles
    rows = [("features set (colormap + layer redraw)", "change"),
            ("features set + one canvas draw", "change_draw"),
            ("Review set_status (table, counts, undo, repaint)", "review"),
            ("Review set_status + one canvas draw", "review_draw"),
            ("hide / show rejected (colour table only)", "toggle"),
            ("hide / show rejected + one canvas draw", "toggle_draw")]
    n = int(labels.max())
    print(f"\n{n} cells, {args.size} x {args.size} labels (uint32), "
          f"compiled colormap backend: {fast_labels_backend()}, "
          f"{'bare layer' if viewer is None else 'viewer under a display'}\n")
    print("| step | median ms |")
    print("|---|---|")
    for text, key in rows:
        if timings[key]:
            print(f"| {text} | {_median(timings[key]):.1f} |")
    print(f"| first style (outlines + colormap) | {first * 1000:.1f} |")
    if viewer is not None:
        widget.close()
        viewer.close()


if __name__ == "__main__":
    main()
