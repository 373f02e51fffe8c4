"""Test-time adaptation of segmentation networks to the open image.

Slide level (the default of ``pathrobust adapt`` and the Adapt widget): adapt on sample
tiles, let the never-worse gate keep the adapted network or roll back, then segment::

    >>> from napari_pathrobust.engine.adapt import SlideAdaptConfig, adapt_to_slide
    >>> adaptation = adapt_to_slide(rgb, psm, SlideAdaptConfig())   # method "stain"
    >>> adaptation.summary()       # "adapted (stain): ..." or "kept source (stain): ..."
    >>> method = AdaptedNetworkMethod(psm, adaptation)   # a pipeline method

Tile stream (continual OCL / TENT over tiles, the earlier adapter):

    >>> from napari_pathrobust.engine.adapt import AdaptConfig, TestTimeAdapter
    >>> adapter = TestTimeAdapter(net, AdaptConfig(method="ocl", steps=1))
    >>> probs = adapter.adapt_rgb(tile)    # (C, H, W) sigmoid outputs, adapted on the tile
    >>> adapter.reset()                    # back to the source weights
"""

from .adapter import DEFAULT_LR, LOG_FIELDS, METHODS, AdaptConfig, TestTimeAdapter
from .bn_stats import reestimate_bn
from .gate import Decision, GateThresholds, decide, gate_signals
from .ocl import (
    binary_entropy,
    negative_term,
    negative_term_all_pairs,
    normalised_probabilities,
    ocl_loss,
    positive_term,
)
from .saved import build_adapted, default_models_dir, list_adapted, save_adapted
from .slide import (
    DEFAULT_SLIDE_METHOD,
    SLIDE_METHODS,
    AdaptedNetworkMethod,
    SlideAdaptation,
    SlideAdaptConfig,
    adapt_to_slide,
)
from .stain_norm import ReinhardNormaliser
from .views import VIEWS, apply_view, set_bn_prior, undo_view

__all__ = ["AdaptConfig", "TestTimeAdapter", "DEFAULT_LR", "LOG_FIELDS", "METHODS", "VIEWS",
           "apply_view", "undo_view", "set_bn_prior", "binary_entropy", "negative_term",
           "negative_term_all_pairs", "normalised_probabilities", "ocl_loss", "positive_term",
           "reestimate_bn", "Decision", "GateThresholds", "decide", "gate_signals",
           "build_adapted", "default_models_dir", "list_adapted", "save_adapted",
           "DEFAULT_SLIDE_METHOD", "SLIDE_METHODS", "AdaptedNetworkMethod", "SlideAdaptation",
           "SlideAdaptConfig", "adapt_to_slide", "ReinhardNormaliser"]

# AdaptedPSM: .method; the file job adapt_to_files: ..jobs.adapt
