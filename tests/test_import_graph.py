"""The package's import graph has no cycle, counting what lazy imports hide.

Every ``import`` statement counts, at module level or inside a function, and so does
each parent package whose ``__init__`` an import runs (``from ..adapt.saved import x``
runs ``adapt/__init__`` first). A cycle is a set of modules that import each other,
directly or through others; the graph is checked module by module and, coarser, between
the engine's top-level modules and subpackages.
"""

import ast
from pathlib import Path

import napari_pathrobust

ROOT = Path(napari_pathrobust.__file__).parent
PACKAGE = "napari_pathrobust"
ENGINE = f"{PACKAGE}.engine"


def modules() -> dict[str, tuple[Path, bool]]:
    """Every module of the package: dotted name -> (file, is a package ``__init__``)."""
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return out


def _is_within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def imports_of(name: str, path: Path, is_package: bool, known) -> set[str]:
    """Package modules that importing ``name`` can run: every import statement in the
    file (function-level ones too) and the parent packages each of them initialises,
    except ``name``'s own parents (already initialising when ``name`` runs)."""
    base = name if is_package else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
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
        for target in targets:
            if target not in known:
                continue
            parts = target.split(".")
            for i in range(2, len(parts) + 1):
                module = ".".join(parts[:i])
                if module in known and not _is_within(name, module):
                    found.add(module)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports_of(name, path, is_package, known)
            for name, (path, is_package) in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges.get(w, ())))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    component = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        component.append(w)
                        if w == v:
                            break
                    if len(component) > 1:
                        out.append(sorted(component))
    return out


def _unit(module: str) -> str:
    """The engine's top-level module or subpackage a module belongs to."""
    return module[len(ENGINE) + 1:].split(".")[0] if _is_within(module, ENGINE) else module


def test_no_import_cycle_between_modules_counting_lazy_and_parent_imports():
    assert cycles(graph()) == []


def test_no_import_cycle_between_engine_units():
    edges: dict[str, set[str]] = {}
    for name, targets in graph().items():
        if not _is_within(name, ENGINE) or name == ENGINE:
            continue
        for target in targets:
            if _is_within(target, ENGINE) and target != ENGINE and _unit(target) != _unit(name):
                edges.setdefault(_unit(name), set()).add(_unit(target))
    assert cycles(edges) == []


def test_the_graph_sees_lazy_and_parent_package_imports(tmp_path):
    """The checker itself: a function-level import and a parent package's __init__
    close a cycle that module-level reading misses."""
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from .sub.b import g\n")
    (package / "sub" / "__init__.py").write_text("from .c import h\n")
    (package / "sub" / "b.py").write_text("def g():\n    pass\n")
    (package / "sub" / "c.py").write_text("from ..a import f\n")
    known = {"pkg": (package / "__init__.py", True), "pkg.a": (package / "a.py", False),
             "pkg.sub": (package / "sub" / "__init__.py", True),
             "pkg.sub.b": (package / "sub" / "b.py", False),
             "pkg.sub.c": (package / "sub" / "c.py", False)}
    edges = {name: imports_of(name, path, is_pkg, known)
             for name, (path, is_pkg) in known.items()}
    assert "pkg.sub" in edges["pkg.a"]  # b's parent package runs first
    assert cycles(edges) == [["pkg.a", "pkg.sub", "pkg.sub.c"]]
