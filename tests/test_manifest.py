"""Plugin hygiene: the npe2 manifest, the declared dependencies, optional extras."""

import ast
import importlib
import sys
import tomllib
from pathlib import Path

import pytest

import napari_pathrobust

npe2 = pytest.importorskip("npe2")

PACKAGE = Path(napari_pathrobust.__file__).resolve().parent
CHECKOUT = PACKAGE.parents[1]  # src/napari_pathrobust -> the repository root
#: imported only for an optional feature, with a clear error when missing
OPTIONAL_IMPORTS = {"onnxruntime": "a user's ONNX model in the robustness report"}


def _manifest():
    return npe2.PluginManifest.from_distribution("napari-pathrobust")


def test_manifest_validates():
    manifest = _manifest()
    assert manifest.name == "napari-pathrobust"
    assert manifest.contributions.widgets and manifest.contributions.sample_data


def test_manifest_is_a_real_file_in_the_package():
    """No symlink (wheels, sdists and Windows checkouts keep it); the repository's root
    copy is the same file."""
    packaged = PACKAGE / "napari.yaml"
    assert packaged.is_file() and not packaged.is_symlink()
    npe2.PluginManifest.from_file(packaged)  # validates
    root = CHECKOUT / "napari.yaml"
    if root.exists():
        assert root.read_bytes() == packaged.read_bytes(), \
            "napari.yaml differs from src/napari_pathrobust/napari.yaml: copy the package one"


def test_plugin_manager_finds_the_plugin():
    manager = npe2.PluginManager()
    manager.discover(include_npe1=False)
    assert "napari-pathrobust" in {m.name for m in manager.iter_manifests()}
    assert manager.get_manifest("napari-pathrobust").contributions.readers


def test_every_command_imports():
    for command in _manifest().contributions.commands:
        module, _, attr = command.python_name.partition(":")
        obj = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
        assert callable(obj), command.id


def _third_party_imports() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "napari_pathrobust":
                    found.setdefault(top, set()).add(path.relative_to(PACKAGE).as_posix())
    return found


def _requirement_names(requirements) -> set[str]:
    import re

    return {re.split(r"[\s\[<>=!~;]", r, maxsplit=1)[0].lower().replace("_", "-")
            for r in requirements}


def test_every_import_is_a_declared_dependency():
    """pandas and platformdirs are declared; distributed is the [distributed] extra."""
    from importlib.metadata import packages_distributions

    project = tomllib.loads((CHECKOUT / "pyproject.toml").read_text())["project"]
    core = _requirement_names(project["dependencies"])
    extras = {k: _requirement_names(v) for k, v in project["optional-dependencies"].items()}
    assert {"pandas", "platformdirs"} <= core
    assert "distributed" not in core and "distributed" in extras["distributed"]
    dists = packages_distributions()
    missing = []
    for module, files in sorted(_third_party_imports().items()):
        if module in OPTIONAL_IMPORTS:
            continue
        names = {d.lower().replace("_", "-") for d in dists.get(module, [module])}
        allowed = core | extras["napari"] | (extras["distributed"] if module == "distributed"
                                             else set())
        if not names & allowed:
            missing.append(f"{module} ({', '.join(sorted(files))})")
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


def test_a_scheduler_without_distributed_says_how_to_install_it(monkeypatch):
    from napari_pathrobust.engine.tiled.distributed import connect

    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    with pytest.raises(ImportError, match=r"napari-pathrobust\[distributed\]"):
        connect("tcp://127.0.0.1:8786")


def test_sample_data_and_reader(demo_image):
    from napari_pathrobust._reader import get_reader
    from napari_pathrobust._sample_data import demo_crop, synthetic_tile

    (data, kwargs, kind), = demo_crop()
    assert data.shape == (512, 512, 3) and kind == "image" and kwargs["rgb"]
    layers = synthetic_tile()
    assert [layer[2] for layer in layers] == ["image", "labels"]
    assert layers[1][0].max() > 5
    assert get_reader(str(demo_image)) is None  # PNGs are napari's own
    assert get_reader("slide.svs") is not None


def test_menus_follow_napari_conventions():
    """Issue 16.7: Recognise under Layers > Segment, Review and Export under Layers >
    Annotate; every menu is one napari lets plugins contribute to."""
    from napari._app_model.constants import MenuId

    menus = _manifest().contributions.menus
    allowed = {str(m) for m in MenuId.contributables()}
    assert set(menus) <= allowed, set(menus) - allowed
    commands = {menu: [item.command for item in items] for menu, items in menus.items()}
    assert "napari-pathrobust.recognise_widget" in commands["napari/layers/segment"]
    assert {"napari-pathrobust.review_widget", "napari-pathrobust.export_widget"} <= set(
        commands["napari/layers/annotate"])
    widgets = {w.command for w in _manifest().contributions.widgets}
    assert {c for items in commands.values() for c in items} <= widgets


def test_ihc_contributions_are_declared():
    manifest = _manifest()
    commands = {c.id: c for c in manifest.contributions.commands}
    assert commands["napari-pathrobust.sample_ihc"].python_name == \
        "napari_pathrobust._sample_data:ihc_sample"
    assert commands["napari-pathrobust.ihc_widget"].python_name == \
        "napari_pathrobust.widgets.ihc_scoring:IhcScoringWidget"
    samples = {s.command: s.display_name for s in manifest.contributions.sample_data}
    assert samples["napari-pathrobust.sample_ihc"] == \
        "IHC sample (scikit-image, DAB + hematoxylin)"
    assert {w.command: w.display_name for w in manifest.contributions.widgets}[
        "napari-pathrobust.ihc_widget"] == "IHC scoring"
