"""napari-pathrobust: label-free, robust nucleus recognition for H&E and IHC slides.

The Qt-free engine lives in :mod:`napari_pathrobust.engine`; napari widgets in
:mod:`napari_pathrobust.widgets`; the command line in :mod:`napari_pathrobust.cli`.
"""

__version__ = "0.1.0"
