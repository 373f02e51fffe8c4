"""Robustness testing: run a model on every corrupted version of images and score it.

model_loaders  how a built-in method or a user's own model (callable, TorchScript, ONNX)
               runs
harness        the inputs, the run over kinds x severities and the per-row scores
summary        tables from the rows: CSV columns, means per kind and severity, ranking
report         plots, example grids and the HTML report

Imports go one way (model_loaders <- harness; summary <- report). The job that turns image
files into a report folder is :mod:`..jobs.robustness`.
"""

from .harness import RobustnessImage, parse_severities, run_robustness
from .model_loaders import Model, as_output, load_model, method_model
from .report import contact_sheet, kinds_grid, plot_curves, plot_heatmap, write_report
from .summary import (
    CLS_COLUMNS,
    SEG_COLUMNS,
    main_metric,
    sensitivity_ranking,
    summarise,
    write_rows_csv,
)

__all__ = ["CLS_COLUMNS", "SEG_COLUMNS", "Model", "RobustnessImage", "as_output",
           "contact_sheet", "kinds_grid", "load_model", "main_metric", "method_model",
           "parse_severities", "plot_curves", "plot_heatmap", "run_robustness",
           "sensitivity_ranking", "summarise", "write_report", "write_rows_csv"]
