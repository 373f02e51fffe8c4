"""The method contract (issue 14): one base class with explicit defaults, no import cycle
in the engine, a pipeline that never imports the distributed executor."""

import ast
from pathlib import Path

import pytest

import napari_pathrobust.engine as engine

ENGINE = Path(engine.__file__).parent
PACKAGE = "napari_pathrobust.engine"


def _modules() -> dict[str, tuple[Path, bool]]:
    out = {}
    for path in ENGINE.rglob("*.py"):
        parts = list(path.relative_to(ENGINE.parent.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return out


def _module_level_imports(name: str, path: Path, is_package: bool, known) -> set[str]:
    """Engine modules ``name`` imports when it is imported (top-level statements)."""
    base = name if is_package else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = base.split(".")[:len(base.split(".")) - node.level + 1]
                source = ".".join(parts + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            targets = [source] + [f"{source}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t in known)
    return found


def _unit(module: str) -> str:
    """The engine's top-level module or subpackage a module belongs to."""
    return module[len(PACKAGE) + 1:].split(".")[0] if module != PACKAGE else ""


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in list(edges):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle_between_engine_modules_and_subpackages():
    """E.g. methods/psm.py -> pipeline -> methods used to be one."""
    modules = _modules()
    edges: dict[str, set[str]] = {}
    for name, (path, is_package) in modules.items():
        for target in _module_level_imports(name, path, is_package, modules):
            if _unit(target) != _unit(name):
                edges.setdefault(_unit(name), set()).add(_unit(target))
    assert _cycles(edges) == []


def test_pipeline_never_imports_the_distributed_executor():
    for module in ("pipeline.py", "tile_executor.py", "label_ids.py"):
        tree = ast.parse((ENGINE / module).read_text())
        names = {alias.name for node in ast.walk(tree)
                 if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names}
        sources = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert "distributed" not in sources and "DistributedExecutor" not in names, module


def test_pipeline_reads_capabilities_without_probing():
    for module in ("pipeline.py", "tile_executor.py", "distributed.py", "working_tiles.py"):
        text = (ENGINE / module).read_text()
        assert "getattr(" not in text and "hasattr(" not in text, module


@pytest.mark.parametrize("name", ["classical", "psm"])
def test_builtin_methods_subclass_the_base(name):
    from napari_pathrobust.engine.methods import MethodBase, get_method

    method = get_method(name, **({"device": "cpu"} if name == "psm" else {}))
    assert isinstance(method, MethodBase)
    assert method.halo > 0 and method.alignment >= 1 and method.bytes_per_pixel > 0
    assert method.max_area > 1000 and isinstance(method.map_names, tuple)
    method.configure_threads(1)


def test_adapted_methods_subclass_the_base():
    from napari_pathrobust.engine.adapt.method import AdaptedPSM
    from napari_pathrobust.engine.methods import MethodBase

    adapted = AdaptedPSM(device="cpu")
    assert isinstance(adapted, MethodBase) and adapted.alignment == 8


def test_base_defaults_and_tile_output():
    import numpy as np

    from napari_pathrobust.engine.methods import MethodBase, TileOutput

    class Toy(MethodBase):
        name = "toy"

        def segment_tile(self, rgb):
            return np.zeros(rgb.shape[:2], np.int32)

    toy = Toy()
    assert (toy.halo, toy.alignment, toy.map_names) == (0, 1, ())
    assert toy.fit(None) is toy and toy.describe() == {"name": "toy"}
    out = TileOutput.of(toy.segment_tile(np.zeros((4, 4, 3), np.uint8)))
    assert out.labels.shape == (4, 4) and out.maps == {} and TileOutput.of(out) is out
