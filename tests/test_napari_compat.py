"""napari internals live in one module, ``widgets/_napari_compat.py`` (issue 23).

* the internals it declares exist with the shape it expects in the installed napari
  (0.9.2, the newest release when written): an upgrade that changes one fails here;
* on this napari every fast path is taken (no silent fallback);
* every public fallback gives the same result (``USE_INTERNALS`` off);
* no other module under ``src/`` touches a napari internal or the proxy's
  ``__wrapped__``, and the compat module declares each internal it uses.
"""

import ast
import functools
import inspect
import warnings
from collections import deque
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import napari_pathrobust
from napari_pathrobust.widgets import _napari_compat as compat

pytestmark = pytest.mark.gui

SRC = Path(napari_pathrobust.__file__).parent
COMPAT = SRC / "widgets" / "_napari_compat.py"
#: private attributes read outside the compat module that are not napari's
NOT_NAPARI = {"_widget", "_mgui_get_choices"}  # magicgui's ComboBox backend
#: modules of this issue kept small (house rule: no file over ~400 lines)
SMALL = ["widgets/review.py", "widgets/cell_style.py", "widgets/_napari_compat.py",
         "widgets/_review_actions.py", "widgets/_review_edits.py",
         "widgets/_review_points.py", "widgets/_review_selection.py",
         "widgets/_review_autosave.py"]


def _grid(n_side=6, side=8, offset=0):
    labels = np.zeros((n_side * side, n_side * side), np.uint32)
    rows = []
    for i in range(n_side):
        for j in range(n_side):
            label = offset + i * n_side + j + 1
            labels[i * side + 1:(i + 1) * side, j * side + 1:(j + 1) * side] = label
            rows.append({"label": label, "x": j * side + side / 2, "y": i * side + side / 2,
                         "area": (side - 1) ** 2, "classification": "Nucleus",
                         "status": "unreviewed"})
    return labels, pd.DataFrame(rows)


def _styled(offset=0):
    from napari.layers import Labels

    from napari_pathrobust.widgets.cell_style import auto_restyle

    labels, frame = _grid(offset=offset)
    layer = Labels(labels, features=frame)
    auto_restyle(layer)
    return layer


def _params(func) -> list:
    return list(inspect.signature(func).parameters)


def _full_texture(layer):
    """What napari computes for the whole slice from scratch."""
    return layer.colormap._data_to_texture(
        layer._calculate_contour(layer._slice.image.raw,
                                 tuple(slice(0, s) for s in layer.data.shape)))


# ---------------------------------------------------------------------- shape


def test_napari_internals_have_the_expected_shape():
    """Each internal of ``compat.INTERNALS``, as the compat module uses it. A failure
    here means napari changed: adapt ``_napari_compat`` (its public fallbacks keep the
    plugin working meanwhile, only slower)."""
    import napari
    from napari.layers import Labels
    from napari.utils._proxies import PublicOnlyProxy
    from napari.utils.colormaps import DirectLabelColormap
    from napari.utils.colormaps import _accelerated_cmap as accel
    from napari.utils.colormaps.colormap import LabelColormapBase

    from napari_pathrobust.widgets._cell_edits import paint_extent

    version = f"napari {napari.__version__}"
    # the colour-mapping backends
    assert callable(accel.labels_raw_to_texture_direct), version
    assert _params(accel._labels_raw_to_texture_direct_numpy) == \
        ["data", "direct_colormap"], version
    # a direct colormap's caches
    assert _params(LabelColormapBase._clear_cache) == ["self"], version
    assert _params(DirectLabelColormap._clear_cache) == ["self"], version
    for name in ("_label_mapping_and_color_dict", "_num_unique_colors", "_array_map"):
        assert isinstance(inspect.getattr_static(DirectLabelColormap, name),
                          functools.cached_property), f"{version}: {name}"
    assert _params(DirectLabelColormap._values_mapping_to_minimum_values_set) == \
        ["self", "apply_selection"], version
    green = np.array([0, 1, 0, 1], np.float32)
    cmap = DirectLabelColormap(color_dict={None: [1, 0, 0, 1], 0: [0, 0, 0, 0],
                                           5: green, 6: green})
    assert len(cmap._cache_other) == 0, version
    mapping, colors = cmap._values_mapping_to_minimum_values_set()
    assert vars(cmap)["_label_mapping_and_color_dict"] == (mapping, colors), version
    assert isinstance(mapping, dict) and isinstance(colors, dict), version
    assert mapping[5] == mapping[6] and None in mapping, version
    np.testing.assert_array_equal(colors[mapping[5]], green)
    assert isinstance(cmap._num_unique_colors, int), version
    cmap._clear_cache()
    assert "_label_mapping_and_color_dict" not in vars(cmap), version
    # a labels layer's slice, outlines, events
    layer = Labels(_grid()[0])
    layer.contour = 1
    image = layer._slice.image
    assert isinstance(image.raw, np.ndarray) and image.raw.shape == layer.data.shape
    assert isinstance(image.view, np.ndarray) and image.view.shape == layer.data.shape
    assert _params(Labels._calculate_contour) == ["self", "labels", "data_slice"], version
    box = (slice(3, 20), slice(5, 30))
    outline = layer._calculate_contour(image.raw, box)
    assert isinstance(outline, np.ndarray) and outline.shape == (17, 25), version
    assert "labels_update" in layer.events.emitters and isinstance(layer.loaded, bool)
    # napari's own label history, replayed by undo / redo
    assert isinstance(layer._undo_history, deque), version
    assert isinstance(layer._redo_history, deque), version
    assert _params(Labels.undo) == ["self"] and _params(Labels.redo) == ["self"], version
    layer.paint((4, 4), 99)
    item = layer._undo_history[-1]
    ids, where = paint_extent(item)
    assert isinstance(item, list) and 99 in ids and where is not None, version
    layer.undo()
    assert isinstance(layer._redo_history[-1], list), version
    # the proxy napari gives plugin docks
    proxy = PublicOnlyProxy(layer)
    assert proxy.__wrapped__ is layer and proxy.unique_id == layer.unique_id, version


def test_the_fast_paths_are_taken_on_this_napari(monkeypatch):
    """On the installed napari nothing falls back silently: a status change patches
    napari's lookup and redraws boxes only, undo reports its item, proxies unwrap."""
    from napari.utils._proxies import PublicOnlyProxy

    from napari_pathrobust.widgets import cell_style
    from napari_pathrobust.widgets.cell_style import notify

    layer = _styled(offset=70_000)
    full_refreshes, edited = [], []
    monkeypatch.setattr(layer, "refresh", lambda *a, **k: full_refreshes.append(k))

    def spy(*args, **kwargs):
        edited.append(compat.colours_edited(*args, **kwargs))
        return edited[-1]
    monkeypatch.setattr(cell_style, "colours_edited", spy)
    label = int(layer.features["label"].iat[7])
    layer.features.loc[layer.features["label"] == label, "status"] = "accepted"
    notify(layer, [label])
    assert edited == [True] and full_refreshes == []
    np.testing.assert_array_equal(layer._slice.image.view, _full_texture(layer))
    items = []
    compat.watch_undo_redo(layer, items.append)
    layer.paint((4, 4), 5)
    layer.undo()
    assert len(items) == 1 and isinstance(items[0], list)
    assert compat.unwrap(PublicOnlyProxy(layer)) is layer


# ---------------------------------------------------------------------- fallbacks


@pytest.fixture
def public_only(monkeypatch):
    """Every compat function takes its public fallback, as on a napari without them."""
    monkeypatch.setattr(compat, "USE_INTERNALS", False)


def test_fallback_colours_follow_every_change(public_only, monkeypatch):
    """Without napari's caches and partial refresh: a new colormap and full redraws,
    the same colours on the canvas."""
    from napari_pathrobust.widgets.cell_style import cell_color, hides_rejected, restyle

    layer = _styled(offset=70_000)  # ids above 65535
    shown = lambda label: np.asarray(layer.colormap.map(int(label)), float)  # noqa: E731
    for label, cls, status in [(70_003, "Nucleus", "accepted"), (70_008, "Stroma", "accepted"),
                               (70_020, "My class", "rejected"), (70_036, "Tumor", "unreviewed")]:
        table = layer.features.copy()
        table.loc[table["label"] == label, ["classification", "status"]] = [cls, status]
        before = layer.colormap
        layer.features = table
        assert layer.colormap is not before  # the public path: a new colormap
        np.testing.assert_allclose(shown(label), cell_color(cls, status))
        np.testing.assert_array_equal(layer._slice.image.view, _full_texture(layer))
    restyle(layer, hide_rejected=True)
    assert hides_rejected(layer) and shown(70_020)[3] == 0 and shown(70_001)[3] > 0
    restyle(layer, hide_rejected=False)
    np.testing.assert_allclose(shown(70_020), cell_color("", "rejected"))
    np.testing.assert_array_equal(layer._slice.image.view, _full_texture(layer))


def test_fallback_repaint_is_a_full_refresh(public_only, monkeypatch):
    layer = _styled()
    calls = []
    monkeypatch.setattr(layer, "refresh", lambda *a, **k: calls.append(k))
    compat.repaint_boxes(layer, [(slice(0, 8), slice(0, 8))])
    assert calls == [{"extent": False}]


def test_fallback_colormap_is_the_public_constructor(public_only):
    colors = {None: np.array([1, 0, 0, 1], np.float32), 0: np.zeros(4, np.float32),
              3: np.array([0, 0, 1, 1], np.float32)}
    cmap = compat.direct_colormap(colors)
    np.testing.assert_allclose(cmap.map(3), colors[3])
    np.testing.assert_allclose(cmap.map(42), colors[None])
    assert compat.colours_edited(cmap, [3]) is False  # the caller builds a new one
    assert compat.recolour_index(cmap, 3, colors[None]) is False


@pytest.mark.parametrize("internals", [True, False])
def test_napari_undo_is_remeasured_either_way(internals, qtbot, monkeypatch):
    """The label-edit component re-measures after napari's own undo / redo: the cells
    of the item replayed, or (public fallback) every cell."""
    from napari.layers import Labels

    from napari_pathrobust.widgets._review_edits import LabelEdits

    monkeypatch.setattr(compat, "USE_INTERNALS", internals)
    labels, frame = _grid(n_side=3, side=12)
    layer = Labels(labels, features=frame)
    stored = []

    def store(table):
        stored.append(table)
        layer.features = table
    edits = LabelEdits(None, lambda: layer.features.copy(), store)
    edits.attach(layer)
    area = int((labels == 5).sum())
    layer.paint((18, 18), 50)  # a brush stroke inside cell 5
    qtbot.waitUntil(lambda: not edits.busy)
    assert 50 in set(layer.features["label"])
    assert layer.features.set_index("label").loc[5, "area"] < area
    layer.undo()  # napari's own: no paint event
    qtbot.waitUntil(lambda: not edits.busy)
    assert 50 not in set(layer.features["label"])
    assert layer.features.set_index("label").loc[5, "area"] == area
    layer.redo()
    qtbot.waitUntil(lambda: not edits.busy)
    assert 50 in set(layer.features["label"])
    edits.detach()
    assert "undo" not in vars(layer) and "redo" not in vars(layer)
    n = len(stored)
    layer.undo()
    assert len(stored) == n  # detached: not measured


@pytest.mark.parametrize("internals", [True, False])
def test_proxies_either_way(internals, monkeypatch):
    from napari.layers import Labels
    from napari.utils._proxies import PublicOnlyProxy

    monkeypatch.setattr(compat, "USE_INTERNALS", internals)
    layer, other = Labels(np.zeros((4, 4), np.uint8)), Labels(np.zeros((4, 4), np.uint8))
    proxy = PublicOnlyProxy(layer)
    assert (compat.unwrap(proxy) is layer) is internals
    assert compat.unwrap(layer) is layer
    assert compat.same_layer(PublicOnlyProxy(layer), PublicOnlyProxy(layer))
    assert compat.same_layer(proxy, layer) and compat.same_layer(layer, proxy)
    assert not compat.same_layer(PublicOnlyProxy(layer), PublicOnlyProxy(other))
    assert not compat.same_layer(layer, None) and compat.same_layer(None, None)


@pytest.mark.parametrize("internals", [True, False])
def test_fast_backend_either_way(internals, monkeypatch):
    from napari.utils.colormap_backend import ColormapBackend, set_backend
    from napari.utils.colormaps import _accelerated_cmap as accel

    monkeypatch.setattr(compat, "USE_INTERNALS", internals)
    compiled = accel.numba is not None or accel.partsegcore_mapping is not None
    assert compat.fast_labels_backend() is compiled
    previous = set_backend(ColormapBackend.pure_python)
    try:
        assert compat.fast_labels_backend() is False
    finally:
        set_backend(previous)


def test_a_proxied_layer_is_styled_without_private_access_warnings():
    """A docked plugin gets layers behind PublicOnlyProxy, which warns on private
    access: styling unwraps them first (and keeps one styler per layer)."""
    from napari.layers import Labels
    from napari.utils._proxies import PublicOnlyProxy

    from napari_pathrobust.widgets.cell_style import _STYLERS, auto_restyle, restyle

    labels, frame = _grid(offset=70_000)
    layer = Labels(labels, features=frame)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        auto_restyle(PublicOnlyProxy(layer))
        table = layer.features.copy()
        table.loc[table["label"] == 70_002, "status"] = "rejected"
        PublicOnlyProxy(layer).features = table
        restyle(PublicOnlyProxy(layer), hide_rejected=True)
    assert layer in _STYLERS and layer.colormap.map(70_002)[3] == 0


# ---------------------------------------------------------------------- static


def _tree(path: Path) -> ast.AST:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _declared() -> set:
    return {name for names in compat.INTERNALS.values() for name in names}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _own_private_names() -> set:
    """Private names this project defines (functions, classes, attributes it sets)."""
    names = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(_tree(path)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
    return {n for n in names if _private(n)}


def _napari_module(name) -> bool:
    return bool(name) and name.split(".")[0] == "napari"


def _violations(tree: ast.AST, where: str, own: set) -> list:
    """Uses of napari internals in one module (see the test below)."""
    declared = _declared() - {"labels_raw_to_texture_direct"}
    engine = where.startswith("engine/")
    named = {id(call.args[1]) for call in ast.walk(tree) if isinstance(call, ast.Call)
             and isinstance(call.func, ast.Name) and len(call.args) > 1
             and call.func.id in ("getattr", "hasattr", "setattr", "delattr")}
    found = []
    for node in ast.walk(tree):
        line = f"{where}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.ImportFrom) and _napari_module(node.module):
            assert not engine, f"{line}: the engine imports napari"
            if any(_private(p) for p in node.module.split(".")) or \
                    any(_private(a.name) for a in node.names):
                found.append(f"{line}: from {node.module} import ...")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _napari_module(alias.name):
                    assert not engine, f"{line}: the engine imports napari"
                    if any(_private(p) for p in alias.name.split(".")):
                        found.append(f"{line}: import {alias.name}")
        elif isinstance(node, ast.Attribute):
            base = node.value
            mine = isinstance(base, ast.Name) and base.id in ("self", "cls")
            if node.attr == "__wrapped__" or (not mine and node.attr in declared) or (
                    not engine and not mine and _private(node.attr)
                    and node.attr not in own | NOT_NAPARI):
                found.append(f"{line}: .{node.attr}")
        elif isinstance(node, ast.Name) and node.id == "PublicOnlyProxy":
            found.append(f"{line}: PublicOnlyProxy")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value == "__wrapped__" or node.value in declared or (
                    not engine and _private(node.value) and node.value.isidentifier()
                    and node.value not in own | NOT_NAPARI and id(node) in named):
                found.append(f"{line}: {node.value!r}")
    return found


def test_no_other_module_touches_napari_internals():
    """Outside ``_napari_compat``: no ``__wrapped__`` / ``PublicOnlyProxy``, no import
    from a private napari module or of a private napari name, no private attribute of
    another object that this project does not define itself (engine modules import no
    napari at all), no internal the compat module declares, by attribute or by name."""
    own = _own_private_names()
    found = [hit for path in sorted(SRC.rglob("*.py")) if path != COMPAT
             for hit in _violations(_tree(path), path.relative_to(SRC).as_posix(), own)]
    assert not found, "napari internals outside widgets/_napari_compat.py:\n" + \
        "\n".join(found)


def test_the_static_check_catches_what_it_should():
    """The check above flags each way the code used napari internals before."""
    source = """
import napari.utils.colormaps._accelerated_cmap
from napari.utils._proxies import PublicOnlyProxy
from napari.utils.colormaps.colormap import LabelColormapBase

def style(layer, cmap, combo, widget):
    layer._slice.image.view                                  # 1
    getattr(layer, "__wrapped__", layer)                     # 2
    cmap.__dict__.get("_label_mapping_and_color_dict")       # 3
    hasattr(cmap, "_cache_other")                            # 4
    LabelColormapBase._clear_cache(cmap)                     # 5
    layer._some_new_napari_internal                          # 6
    isinstance(layer, PublicOnlyProxy)                       # 7
    layer.__wrapped__                                        # 8
    self._anything, combo._widget._mgui_get_choices()        # allowed
    widget._history_of_ours                                  # allowed (ours)
"""
    found = _violations(ast.parse(source), "widgets/x.py", {"_history_of_ours"})
    lines = sorted({int(hit.split(":")[1].split(" ")[0]) for hit in found})
    assert lines == [2, 3, 7, 8, 9, 10, 11, 12, 13, 14], found
    with pytest.raises(AssertionError, match="the engine imports napari"):
        _violations(ast.parse("import napari"), "engine/x.py", set())


def test_the_compat_module_declares_every_internal_it_uses():
    """Each private name the compat module reads (attribute, string, module) is in
    ``INTERNALS``, so the shape test above covers it."""
    declared = _declared() | {part for owner in compat.INTERNALS for part in owner.split(".")}
    own = {node.name for node in ast.walk(_tree(COMPAT))
           if isinstance(node, (ast.FunctionDef, ast.ClassDef))} | \
        {"_CHANGED", "_UNKNOWN"}
    used = set()
    for node in ast.walk(_tree(COMPAT)):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            used.add(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                node.value.isidentifier() and node.value.startswith("_"):
            used.add(node.value)
        elif isinstance(node, ast.ImportFrom) and _napari_module(node.module):
            used |= {p for p in node.module.split(".") if _private(p)}
            used |= {a.name for a in node.names if _private(a.name)}
    assert used - own <= declared, sorted(used - own - declared)


def test_review_modules_stay_small():
    sizes = {name: len((SRC / name).read_text(encoding="utf-8").splitlines())
             for name in SMALL}
    assert max(sizes.values()) <= 400, sizes
    assert sizes["widgets/review.py"] < 360, sizes
