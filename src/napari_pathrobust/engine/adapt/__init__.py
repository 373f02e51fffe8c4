"""Test-time adaptation of segmentation networks to the open image (OCL, TENT, none).

    >>> from napari_pathrobust.engine.adapt import AdaptConfig, TestTimeAdapter
    >>> adapter = TestTimeAdapter(net, AdaptConfig(method="ocl", steps=1))
    >>> probs = adapter.adapt_rgb(tile)    # (C, H, W) sigmoid outputs, adapted on the tile
    >>> adapter.reset()                    # back to the source weights
"""

from .adapter import DEFAULT_LR, LOG_FIELDS, METHODS, AdaptConfig, TestTimeAdapter
from .ocl import (
    binary_entropy,
    negative_term,
    negative_term_all_pairs,
    normalised_probabilities,
    ocl_loss,
    positive_term,
)
from .views import VIEWS, apply_view, set_bn_prior, undo_view

__all__ = ["AdaptConfig", "TestTimeAdapter", "DEFAULT_LR", "LOG_FIELDS", "METHODS", "VIEWS",
           "apply_view", "undo_view", "set_bn_prior", "binary_entropy", "negative_term",
           "negative_term_all_pairs", "normalised_probabilities", "ocl_loss", "positive_term"]

# AdaptedPSM: .method; the file job adapt_to_files: ..jobs.adapt
