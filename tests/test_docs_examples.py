"""The library examples in README.md and docs/architecture.md run as written (on the
bundled demo crop instead of "slide.svs", with the fast classical method)."""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "resources" / "demo_he_crop.png"


def _python_blocks(doc: Path) -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)
    return [b for b in blocks if "napari_pathrobust" in b]


@pytest.mark.parametrize("doc", ["README.md", "docs/architecture.md"])
def test_library_examples_run(doc, tmp_path, monkeypatch, capsys):
    blocks = _python_blocks(REPO / doc)
    assert blocks, f"{doc}: no library example"
    monkeypatch.chdir(tmp_path)
    for code in blocks:
        code = code.replace('"slide.svs"', repr(str(DEMO))).replace('"psm"', '"classical"')
        exec(compile(code, doc, "exec"), {})
    printed = capsys.readouterr().out
    assert re.search(r"^\d+ \(\d+, \d+\)", printed, re.M), printed
