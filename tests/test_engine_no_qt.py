"""Everything that needs no GUI imports without Qt, napari or magicgui.

Checked in a fresh process where importing any GUI package fails: the engine, the
CLI, the npe2 reader / writer / sample-data contributions and the Qt-free widget helpers.
"""

import pkgutil
import subprocess
import sys

GUI_PACKAGES = ("qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "napari", "magicgui", "vispy")

#: Qt-free modules outside the engine and CLI packages
QT_FREE_MODULES = [
    "napari_pathrobust",
    "napari_pathrobust._reader",
    "napari_pathrobust._writer",
    "napari_pathrobust._sample_data",
    "napari_pathrobust._resources",
    "napari_pathrobust.widgets._cell_edits",
    "napari_pathrobust.widgets._settings",
]


def _walk(package_name: str) -> list[str]:
    package = __import__(package_name, fromlist=["__path__"])
    return [package_name] + sorted(m.name for m in pkgutil.walk_packages(
        package.__path__, package_name + ".") if not m.name.endswith(".__main__"))


def qt_free_modules() -> list[str]:
    """Every engine and CLI module (found by walking the packages), plus the others."""
    return _walk("napari_pathrobust.engine") + _walk("napari_pathrobust.cli") + QT_FREE_MODULES


CHECK = """
import importlib, importlib.abc, sys

GUI = {gui!r}

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in GUI:
            raise ImportError(f"GUI package {{name}} imported by a Qt-free module")
        return None

sys.meta_path.insert(0, Block())
failed = []
for name in {modules!r}:
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed.append(f"{{name}}: {{exc}}")
loaded = sorted(m for m in sys.modules if m.split('.')[0] in GUI)
print('\\n'.join(failed + loaded))
"""


def test_qt_free_modules_import_without_gui_packages():
    modules = qt_free_modules()
    assert len(modules) > 50
    assert {"napari_pathrobust.engine.jobs.region", "napari_pathrobust.cli.segment",
            "napari_pathrobust.engine.tiled.pipeline"} <= set(modules)
    code = CHECK.format(gui=GUI_PACKAGES, modules=modules)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"failed imports or GUI packages reached:\n{out.stdout}"


def test_the_block_catches_a_gui_import():
    code = CHECK.format(gui=GUI_PACKAGES, modules=["napari_pathrobust.widgets._runner"])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert "widgets._runner" in out.stdout
