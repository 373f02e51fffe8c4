"""The engine must import without Qt, napari or magicgui (checked in a fresh process)."""

import subprocess
import sys

ENGINE_MODULES = [
    "napari_pathrobust.engine.io",
    "napari_pathrobust.engine.tiling",
    "napari_pathrobust.engine.pipeline",
    "napari_pathrobust.engine.jobs",
    "napari_pathrobust.engine.writers",
    "napari_pathrobust.engine.features",
    "napari_pathrobust.engine.metrics",
    "napari_pathrobust.engine.synthetic",
    "napari_pathrobust.engine.methods.classical",
    "napari_pathrobust.engine.device",
    "napari_pathrobust.engine.methods.psm",
    "napari_pathrobust.engine.psm.workflow",
    "napari_pathrobust.engine.psm.data",
    "napari_pathrobust.engine.psm.segtrain",
    "napari_pathrobust.engine.psm.pretext",
    "napari_pathrobust.engine.corrupt",
    "napari_pathrobust.engine.robustness",
    "napari_pathrobust.engine.report",
    "napari_pathrobust.engine.training.dar",
    "napari_pathrobust.engine.adapt.job",
    "napari_pathrobust.engine.tissue",
    "napari_pathrobust.engine.distributed",
    "napari_pathrobust.engine.checkpoint",
    "napari_pathrobust.cli",
]

CHECK = """
import importlib, sys
for name in {modules!r}:
    importlib.import_module(name)
bad = sorted(m for m in sys.modules
             if m.split('.')[0] in ('qtpy', 'PyQt5', 'PyQt6', 'PySide2', 'PySide6',
                                    'napari', 'magicgui', 'vispy'))
print(','.join(bad))
"""


def test_engine_imports_without_qt_or_napari():
    code = CHECK.format(modules=ENGINE_MODULES)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "", f"engine pulled in GUI modules: {out.stdout}"
