"""The method contract (issue 14): one base class with explicit defaults and a pipeline
that never imports the distributed executor (import cycles: test_import_graph.py)."""

import ast
from pathlib import Path

import pytest

import napari_pathrobust.engine as engine

ENGINE = Path(engine.__file__).parent
PACKAGE = "napari_pathrobust.engine"


def test_pipeline_never_imports_the_distributed_executor():
    for module in ("pipeline.py", "executor.py", "label_ids.py"):
        tree = ast.parse((ENGINE / "tiled" / module).read_text())
        names = {alias.name for node in ast.walk(tree)
                 if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names}
        sources = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert "distributed" not in sources and "DistributedExecutor" not in names, module


def test_pipeline_reads_capabilities_without_probing():
    for module in ("pipeline.py", "executor.py", "distributed.py", "working_tiles.py"):
        text = (ENGINE / "tiled" / module).read_text()
        assert "getattr(" not in text and "hasattr(" not in text, module


@pytest.mark.parametrize("name", ["classical", "psm"])
def test_builtin_methods_subclass_the_base(name):
    from napari_pathrobust.engine.methods import MethodBase
    from napari_pathrobust.engine.registry import get_method

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
