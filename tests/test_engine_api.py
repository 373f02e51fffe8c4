"""The engine's public surface (engine/api.py): every name resolves, it is cheap to
import, nothing in the engine depends on it, and the widgets, the CLI and the npe2
contributions (reader, writer, sample data) reach the engine only through it and the jobs."""

import ast
import subprocess
import sys

import pytest
from test_import_graph import ROOT, imports_of, modules

from napari_pathrobust.engine import api

#: engine modules a front end (widgets, CLI, npe2 contributions) may import
ALLOWED = ("napari_pathrobust.engine.api", "napari_pathrobust.engine.jobs")
FRONT_ENDS = ("napari_pathrobust.widgets", "napari_pathrobust.cli", "napari_pathrobust._reader",
              "napari_pathrobust._writer", "napari_pathrobust._sample_data")


@pytest.mark.parametrize("name", api.__all__)
def test_every_public_name_resolves(name):
    assert getattr(api, name) is not None


def test_unknown_names_raise_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'segment_everything'"):
        api.segment_everything  # noqa: B018


def test_importing_the_api_loads_no_heavy_module():
    code = ("import sys, napari_pathrobust.engine.api as a; "
            "print(sorted(m for m in ('torch', 'onnxruntime', 'skimage', 'dask') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def _engine_imports(name: str, path, is_package: bool, known) -> set[str]:
    return {t for t in imports_of(name, path, is_package, known)
            if t.startswith("napari_pathrobust.engine")}


def test_front_ends_import_only_the_api_and_the_jobs():
    known = modules()
    past = {}
    for name, (path, is_package) in known.items():
        if not name.startswith(FRONT_ENDS):
            continue
        for target in _engine_imports(name, path, is_package, known):
            if target == "napari_pathrobust.engine":  # the parent package of api and jobs
                continue
            if not any(target == a or target.startswith(a + ".") for a in ALLOWED):
                past.setdefault(name, set()).add(target)
    assert past == {}, "front ends importing past engine.api / engine.jobs: " + str(past)


def test_nothing_in_the_engine_imports_the_api():
    known = modules()
    users = [name for name, (path, is_package) in known.items()
             if name.startswith("napari_pathrobust.engine")
             and "napari_pathrobust.engine.api" in imports_of(name, path, is_package, known)]
    assert users == []


def test_the_api_names_only_existing_engine_modules():
    """A moved module breaks this test, not a user's script."""
    tree = ast.parse((ROOT / "engine" / "api.py").read_text())
    sources = next(node.value for node in ast.walk(tree) if isinstance(node, ast.AnnAssign)
                   and getattr(node.target, "id", "") == "_SOURCES")
    for key in sources.keys:
        module = f"napari_pathrobust.engine.{key.value}"
        assert module in modules(), module


def test_no_name_comes_from_two_modules():
    """A second module exporting a name would silently shadow the first."""
    from collections import Counter

    counts = Counter(name for names in api._SOURCES.values() for name in names)
    assert [name for name, n in counts.items() if n > 1] == []
