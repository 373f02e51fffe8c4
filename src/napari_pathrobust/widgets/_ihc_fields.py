"""Fields of the IHC scoring dock: the threshold boxes, the marker and measurement lists,
and the cell classes the tumour index can count."""

import numpy as np
from magicgui.widgets import FloatSpinBox

from ..engine.api import CLASSIFIER, PATHOLOGIST

MEASUREMENTS = ("dab_nucleus_mean", "dab_nucleus_max", "dab_cell_mean", "dab_cell_max")
MODES = {"positive / negative": "positive", "bins (negative, 1+, 2+, 3+)": "bins"}
#: markers the Marker field offers as you type (any other name is accepted)
MARKERS = ("Ki-67", "ER", "PR", "p53", "HER2", "AR", "PD-L1", "CD3", "CD8")
POSITIVE_LABEL = "Positive / 1+ threshold"
FITTED_LABEL = "Positive / 1+ (fitted)"
POSITIVE_TIP = ("a cell is Positive (1+ or above) at or above this DAB OD; the labelling "
                "index, H-score and bin counts all use it")
FITTED_TIP = "fitted by the automatic cut on this slide; untick Automatic cut to set it"
#: the classes the label-free rule gives (engine.ihc.cell_type), Tumor first: the default
RULE_CLASSES = ("Tumor", "Immune cells", "Stroma")
COUNTED_TIP = ("the cells the second index counts: cells of this class named in Review or "
               "by a cell classifier, else those the label-free rule classes so")


def threshold_box(name: str, label: str, value: float, tooltip: str) -> FloatSpinBox:
    """A DAB OD threshold box (0-5, shown to 0.001 so a fitted cut reads exactly)."""
    box = FloatSpinBox(name=name, label=label, min=0.0, max=5.0, step=0.01, value=value,
                       tooltip=tooltip)
    box.native.setDecimals(3)
    return box


def counted_choices(features) -> list[str]:
    """The classes the index can count: the rule's three, then every other base class
    the pathologist or a classifier set on a cell of ``features`` (sorted)."""
    named: set = set()
    if features is not None and "base_class" in features and "class_source" in features:
        source = np.asarray(features["class_source"], dtype=object)
        base = np.asarray(features["base_class"], dtype=object)
        set_by = np.isin(source, (PATHOLOGIST, CLASSIFIER))
        named = {str(b) for b in base[set_by] if str(b).strip()}
    return [*RULE_CLASSES, *sorted(named - set(RULE_CLASSES))]
