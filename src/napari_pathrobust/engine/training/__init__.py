"""Training strategies under label noise and class imbalance (ERM, focal, GCE, class
reweighting, DAR) and the generic seeded training loop they share."""

from .dar import DARStrategy, get_strategy, split_parameters
from .loop import Strategy, TensorBatches, TrainResult, predict, train_model

STRATEGIES = ("erm", "focal", "gce", "reweight", "dar")

__all__ = ["DARStrategy", "STRATEGIES", "Strategy", "TensorBatches", "TrainResult",
           "get_strategy", "predict", "split_parameters", "train_model"]
