"""The engine must import without Qt, napari or magicgui (checked in a fresh process)."""

import subprocess
import sys


def _engine_modules() -> list[str]:
    """Every module of the engine package (found by walking it), plus the CLI."""
    import pkgutil

    import napari_pathrobust.engine as engine

    names = [m.name for m in pkgutil.walk_packages(engine.__path__, engine.__name__ + ".")]
    return sorted(names) + ["napari_pathrobust.cli"]


ENGINE_MODULES = _engine_modules()

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
    assert len(ENGINE_MODULES) > 40 and "napari_pathrobust.engine.psm.segstrategy" in ENGINE_MODULES
    code = CHECK.format(modules=ENGINE_MODULES)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "", f"engine pulled in GUI modules: {out.stdout}"
