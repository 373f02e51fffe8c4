"""Cell classifier: per-cell features (:mod:`.features`) and a classifier trained from the
cells the pathologist named (:mod:`.classifier`), saved as one file with a card."""

from .classifier import MIN_CELLS, SUFFIX, CellClassifier, check_training, training_mask
from .features import FEATURES, feature_matrix, measure_cells

#: the names the engine API gives them
CLASSIFIER_FEATURES, MIN_NAMED_CELLS, CLASSIFIER_SUFFIX = FEATURES, MIN_CELLS, SUFFIX

__all__ = ["CellClassifier", "CLASSIFIER_FEATURES", "CLASSIFIER_SUFFIX", "FEATURES",
           "MIN_NAMED_CELLS", "MIN_CELLS", "SUFFIX", "measure_cells",
           "check_training", "feature_matrix", "training_mask"]
