"""The engine's public surface: what the widgets, the CLI and users' scripts import.

Everything here is stable; modules below it may move. Names load on first use (so
importing this module is cheap and pulls in torch only when a method needs it).
Typical use, with this module imported as ``api`` (docs/architecture.md)::

    slide = api.open_image("slide.svs")                  # lazy pyramid + pixel size
    method = api.get_method("psm", device="cpu")         # or "classical", "psm@<name>"
    result = api.segment_slide(slide, method, keep_records=True)
    print(result.n_nuclei, result.labels.shape)

    api.segment_file("slide.svs", "out/", api.JobOptions(method="psm", stain="ihc"))

Sections (the job functions take a :class:`Reporter` for progress and cancel):

- images: :func:`open_image`, :func:`slide_from_array`, :class:`Slide`,
  :func:`to_rgb_uint8`, :func:`unit_to_um`, :class:`Box` (a pixel region),
  :func:`read_associated_image` (a slide's label / macro / thumbnail), ``SLIDE_SUFFIXES``
- methods: :func:`get_method`, :func:`available_methods`, :func:`parse_method_params`,
  :func:`method_params_type`, ``DEFAULT_METHOD``, :func:`check_device_name`
- recognise: :func:`segment_slide` (a slide in memory), :func:`segment_region` with
  :class:`RegionOptions` (a region, for viewers), :func:`segment_file` with
  :class:`JobOptions` (a file to result files), :func:`segment_whole_slide` (a whole
  slide to result files, returned lazily, for viewers)
- adapt: :func:`adapt_slide_to_files`, :class:`SlideAdaptConfig`, ``SLIDE_METHODS``,
  :func:`save_adapted`, :func:`default_models_dir`; the gated stain normalisation every
  psm run uses: :func:`normalisation_record`, :func:`normalisation_note`,
  :class:`NormaliseConfig`
- IHC: :class:`IhcThresholds`, :func:`classify_cells`, :func:`auto_thresholds`,
  :func:`ihc_summary`, :func:`summary_in_region`, :func:`summary_row`,
  :func:`write_summary_csv`, :func:`cell_types` (tumour / immune / stroma rule),
  :func:`estimate_mpp` (pixel size from the nuclei)
- corruptions: :func:`corrupt`, :func:`corrupt_tiled`, :func:`available_corruptions`,
  ``CORRUPTIONS``, ``BENCHMARK_KINDS``, :func:`robustness_files`
- review: :func:`merge_region`, :func:`load_session`, :func:`save_reviews`, ...
- export and read: :func:`export_geojson`, :func:`export_csv`,
  :func:`export_labels_tiff`, :func:`export_labels_zarr`, :func:`read_labels_tiff`,
  :func:`read_cells_table`, :func:`read_geojson_cells`
- cells: :func:`class_color`, ``DEFAULT_CLASS_COLORS`` (QuPath's class colours),
  :func:`outline_colors`, :func:`outline_under`, :func:`stain_under`,
  :func:`rejected_grey`, :func:`contrast_ratio` (outlines readable on the stain)
- training: :func:`train_activation_network`, :func:`train_downstream`
- infrastructure: :class:`Reporter`, :class:`Cancelled`, :class:`InputError`,
  :func:`atomic_path`
"""

import importlib
from typing import Any

#: submodule (relative to the engine) -> the public names it provides here
_SOURCES: dict[str, list[str]] = {
    # images
    "io": ["open_image", "slide_from_array", "Slide", "to_rgb_uint8"],
    "image_formats": ["unit_to_um", "read_associated_image", "SLIDE_SUFFIXES"],
    "tiled.tiling": ["Box"],
    # methods
    "registry": ["get_method", "available_methods", "parse_method_params",
                 "method_params_type", "DEFAULT_METHOD"],
    "device": ["check_device_name", "resolve_device", "cuda_device_count"],
    # recognise
    "tiled.pipeline": ["segment_slide", "SegmentResult", "ImageWarning"],
    "jobs.region": ["segment_region", "RegionOptions", "clip_box"],
    "jobs.whole_slide": ["segment_whole_slide"],
    "jobs": ["segment_file", "JobOptions", "LARGE_IMAGE_PIXELS"],
    "nucleus_records": ["measure_objects"],
    # adapt
    "jobs.adapt": ["adapt_slide_to_files"],
    "adapt.slide": ["SlideAdaptConfig", "SLIDE_METHODS", "DEFAULT_SLIDE_METHOD"],
    "adapt.saved": ["save_adapted", "default_models_dir"],
    "adapt.finetuned": ["save_finetuned"],
    "psm.finetune": ["FinetuneConfig", "FINETUNE_METHODS", "reviewed_image"],
    "jobs.finetune": ["finetune_to_model", "read_reviewed", "FinetuneJobResult",
                      "network_view", "result_stain"],
    "adapt.normalise": ["normalisation_note", "normalisation_record", "NormaliseConfig"],
    # IHC
    "ihc.scoring": ["IhcThresholds", "auto_thresholds", "classify_cells", "ihc_summary",
                    "summary_in_region", "summary_row", "summary_line", "split_params",
                    "scored_types"],
    "ihc.cell_type": ["cell_types"],
    "ihc.pixel_size": ["estimate_mpp"],
    # corruptions and robustness
    "corrupt": ["corrupt", "corrupt_tiled", "map_labels", "available_corruptions",
                "CORRUPTIONS", "BENCHMARK_KINDS"],
    "robustness": ["parse_severities", "RobustnessImage", "main_metric"],
    "jobs.robustness": ["robustness_files", "corrupt_slide"],
    # review
    "review.merge": ["merge_region", "reviewed_mask", "union_box"],
    "review.session": ["load_session", "save_cells", "save_reviews", "safe_name",
                       "REVIEW_COLUMNS", "ReviewHistory", "find_session",
                       "note_review_folder", "review_folders"],
    # export and read
    "jobs.export": ["export_csv", "export_geojson", "export_labels_tiff",
                    "export_labels_zarr", "rejected_labels", "with_geometry"],
    "writers": ["read_labels_tiff", "read_ome_zarr_labels", "atomic_path"],
    "writers.tables": ["write_summary_csv"],
    "results": ["read_cells_table", "read_geojson_cells", "geojson_extent", "file_digest",
                "region_origin", "CSV_HEADER", "ZARR_CELLS"],
    "polygon_labels": ["paint_labels", "lazy_label_levels", "cell_features",
                       "EAGER_MAX_PIXELS"],
    "synthetic": ["synthetic_he_tile"],
    "robustness.sheet": ["captioned_sheet"],
    "robustness.report": ["metric_label"],
    "adapt.gate": ["outcome_details"],
    # settings (one schema for napari's Preferences, the Settings dock and the CLI)
    "settings": ["SETTING_DEFAULTS", "SETTINGS_SCHEMA", "check_setting", "config_dir",
                 "settings_path", "read_json", "write_json", "load_settings",
                 "save_settings", "preference_problems", "results_dir"],
    # the cell vocabulary
    "cells": ["class_color", "DEFAULT_CLASS_COLORS", "outline_colors", "outline_under",
              "stain_under", "rejected_grey", "contrast_ratio"],
    "cell_classes": ["compose_class", "split_class", "with_classes", "set_intensity",
                     "set_base", "named_mask", "display_class", "PATHOLOGIST",
                     "CLASSIFIER", "UNREVIEWED", "ACCEPTED", "REJECTED", "STATUSES",
                     "INTENSITY_CLASSES", "BASE_CLASSES", "NO_CLASS", "CLASS_COLUMNS",
                     "REVIEW_DEFAULTS", "PAINTED", "INTENSITY_OVERRIDE",
                     "intensity_overridden"],
    # training
    "jobs.train_psm": ["train_activation_network", "train_downstream"],
    "psm.pretext": ["PretextConfig"],
    "psm.training_options": ["SEG_STRATEGIES", "TARGET_VARIANTS"],
    # cell classifier (trained from the cells the pathologist named)
    "classify": ["CellClassifier", "measure_cells", "training_mask", "check_training",
                 "CLASSIFIER_FEATURES", "MIN_NAMED_CELLS", "CLASSIFIER_SUFFIX"],
    "jobs.classify": ["train_from_results", "train_on_cells", "apply_classifier",
                      "classify_outputs", "load_classifier", "read_result"],
    # infrastructure
    "progress": ["Reporter"],
    "errors": ["Cancelled", "InputError"],
}

_ENGINE = __name__.rsplit(".", 1)[0]
_SOURCE_OF = {name: module for module, names in _SOURCES.items() for name in names}
__all__ = sorted(_SOURCE_OF)


def __getattr__(name: str) -> Any:
    """Import a public name from its engine module on first use (PEP 562)."""
    try:
        module = _SOURCE_OF[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"{_ENGINE}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
