"""Issue 28: the IHC marker on the command line (``--marker``, ``--param marker=``): the
summary line, ``<stem>_summary.csv`` and ``_run.json`` name the index after it."""

import csv
import json

import pytest
from PIL import Image
from test_ihc_scoring import DiscMethod, disc_image, patch_dab_measurement

from napari_pathrobust.cli import main
from napari_pathrobust.engine.ihc.scoring import SUMMARY_COLUMNS


@pytest.fixture
def ihc_png(tmp_path, monkeypatch):
    """A disc slide whose 'method' is :class:`DiscMethod` (fast, no network)."""
    from napari_pathrobust.engine.jobs import segment as segment_job

    patch_dab_measurement(monkeypatch)
    monkeypatch.setattr(segment_job, "get_method",
                        lambda name, device=None, seed=None, **p: DiscMethod(p.get("stain", "he")))
    path = tmp_path / "er7.png"
    Image.fromarray(disc_image()).save(path)
    return path


@pytest.mark.parametrize("flag", [["--marker", "ER"], ["--param", "marker=ER"]])
def test_marker_names_the_index_line_csv_and_run_json(ihc_png, tmp_path, capsys, flag):
    out = tmp_path / "out"
    assert main(["segment", str(ihc_png), "-o", str(out), "--stain", "ihc", *flag,
                 "--param", "positive_threshold=0.3"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "H-score" in ln]
    assert len(lines) == 1 and lines[0].startswith("er7: ER index ") and "Ki-67" not in lines[0]
    run = json.loads((out / "er7_run.json").read_text())["ihc_summary"]
    assert run["marker"] == "ER" and run["thresholds"]["bins"] == [0.3, 0.4, 0.6]
    with open(out / "er7_summary.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        (row,) = list(reader)
    assert tuple(reader.fieldnames) == SUMMARY_COLUMNS
    assert (row["slide"], row["region"], row["marker"], row["mode"]) == (
        "er7", "whole result", "ER", "positive")
    assert row["positive_threshold"] == row["bin_1plus"] == "0.3"
    n = [int(row[k]) for k in ("n_positive", "n_1plus", "n_2plus", "n_3plus")]
    assert n[0] == sum(n[1:])  # one set of thresholds
    assert float(row["labelling_index"]) == pytest.approx(run["labelling_index"])


@pytest.mark.parametrize("argv, words", [
    (["--marker", "ER"], "--marker: IHC settings need --stain ihc"),
    (["--stain", "ihc", "--marker", "ER", "--param", "marker=PR"], "give the marker once"),
    (["--stain", "ihc", "--marker", " "], "IHC marker: expected a name"),
])
def test_bad_marker_is_one_usage_error(ihc_png, tmp_path, capsys, argv, words):
    with pytest.raises(SystemExit) as exc:
        main(["segment", str(ihc_png), "-o", str(tmp_path / "out"), *argv])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and words in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "out").exists()
