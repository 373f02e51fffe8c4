"""Milliseconds of the Review widget's cell table, plot and counts on 100,000 cells.

    QT_QPA_PLATFORM=xcb xvfb-run -a .venv/bin/python benchmarks/bench_cell_table.py \
        [--cells 100000] [--repeat 5]

A synthetic result (label, x, y, area, classification, status and 16 more measurements)
goes into a shown CellTableView and CellPlot; each step is timed to the end of the
repaint of the visible rows or of the figure (median of REPEAT). Target of issue 16:
the table sorts in under 1 s.
"""

import argparse
import statistics
import time

import numpy as np
import pandas as pd
from qtpy.QtWidgets import QApplication

from napari_pathrobust.widgets._cell_counts import counts_table, counts_text, inside_polygon
from napari_pathrobust.widgets._cell_plot import CellPlot
from napari_pathrobust.widgets._cell_table import CellTableView

CLASSES = ["Nucleus", "Tumor", "Stroma", "Immune cells", "Necrosis", "Other"]
STATUSES = ["unreviewed", "accepted", "rejected"]


def synthetic_cells(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` cells on a 20000 x 20000 slide with the columns of a features table."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "label": np.arange(1, n + 1),
        "x": rng.uniform(0, 20000, n), "y": rng.uniform(0, 20000, n),
        "area": rng.lognormal(4.5, 0.4, n).round(),
        "classification": rng.choice(CLASSES, n, p=[0.5, 0.2, 0.15, 0.1, 0.03, 0.02]),
        "status": rng.choice(STATUSES, n, p=[0.7, 0.2, 0.1]),
    })
    for name in ("perimeter", "eccentricity", "solidity", "extent", "major_axis",
                 "minor_axis", "orientation", "circularity", "area_um2", "perimeter_um",
                 "hematoxylin_mean", "hematoxylin_std", "eosin_mean", "eosin_std",
                 "intensity_mean", "intensity_std"):
        frame[name] = rng.normal(1.0, 0.3, n)
    return frame


def timed(app, step, repeat: int, paint=None) -> float:
    """Median ms of ``step()`` followed by the event loop and a repaint of ``paint``."""
    times = []
    for i in range(repeat):
        start = time.perf_counter()
        step(i)
        if paint is not None:
            paint.repaint()
        app.processEvents()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    app = QApplication.instance() or QApplication([])
    frame = synthetic_cells(args.cells)
    edited = frame.copy()
    edited.loc[edited.index[::97], "status"] = "accepted"  # as after a review edit
    view = CellTableView()
    view.resize(900, 600)
    view.show()
    app.processEvents()
    vp = view.table.viewport()
    deep = int(frame.label.iloc[int(args.cells * 0.83)])
    rows = []

    def add(name, ms, target=None):
        ok = "" if target is None else ("yes" if ms <= target else "NO")
        rows.append((name, ms, "" if target is None else f"{target:.0f}", ok))

    add("table: set_frame (new frame)",
        timed(app, lambda i: view.set_frame(frame if i % 2 else edited), args.repeat, vp))
    add("table: sort by area (numeric), asc / desc",
        timed(app, lambda i: view.sort_by("area", i % 2 == 1), args.repeat, vp), 1000)
    add("table: sort by classification (text)",
        timed(app, lambda i: view.sort_by("classification", i % 2 == 1), args.repeat, vp), 1000)
    add("table: set_frame, sorted, after an edit",
        timed(app, lambda i: view.set_frame(frame if i % 2 else edited), args.repeat, vp))
    add("table: filter status = accepted / all",
        timed(app, lambda i: view.set_filters(status="accepted" if i % 2 == 0 else "all"),
              args.repeat, vp))
    add("table: filter text 'area > 120'",
        timed(app, lambda i: view.set_filters(text="area > 120" if i % 2 == 0 else ""),
              args.repeat, vp))
    view.set_filters(status="all", text="")
    view.sort_by("x")
    add(f"table: select_labels([{deep}]) deep in the table",
        timed(app, lambda i: view.select_labels([deep]), args.repeat, vp))
    many = frame.label[frame.area > 120].tolist()
    add(f"table: select_labels of {len(many)} scattered cells",
        timed(app, lambda i: view.select_labels(many if i % 2 == 0 else [deep]),
              args.repeat, vp))

    plot = CellPlot()
    plot.resize(600, 450)
    plot.show()
    app.processEvents()
    canvas = plot.canvas
    moved = frame.assign(area=frame.area + 1, solidity=frame.solidity + 0.01)
    for kind in ("histogram of area", "scatter area x solidity"):
        if kind.startswith("scatter"):
            plot.set_columns("area", "solidity")
        add(f"plot: set_frame + draw, {kind}, new values",
            timed(app, lambda i: (plot.set_frame(moved if i % 2 else frame), canvas.draw()),
                  args.repeat))
        add(f"plot: set_frame, {kind}, after a status edit",
            timed(app, lambda i: plot.set_frame(edited if i % 2 else frame), args.repeat))
    poly = [(80, 0.5), (200, 0.7), (150, 1.6), (90, 1.2)]
    canvas.draw()
    add("plot: lasso selection + highlight (blit)",
        timed(app, lambda i: plot.select_polygon(poly), args.repeat))
    add("plot: highlight one cell (blit)",
        timed(app, lambda i: plot.highlight([deep + i]), args.repeat))
    square = np.array([(5000, 5000), (5000, 15000), (15000, 15000), (15000, 5000)])
    add("counts: counts_table + counts_text, whole result",
        timed(app, lambda i: (counts_table(frame), counts_text(frame)), args.repeat))
    add("counts: cells in a drawn polygon + counts_table",
        timed(app, lambda i: counts_table(frame[inside_polygon(frame, square)]), args.repeat))

    print(f"{args.cells} cells, {frame.shape[1]} columns; median of {args.repeat}")
    print()
    print("| step | ms | target ms | ok |")
    print("|---|---|---|---|")
    for name, ms, target, ok in rows:
        print(f"| {name} | {ms:.1f} | {target} | {ok} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
