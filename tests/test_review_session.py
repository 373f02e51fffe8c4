"""Review sessions (Qt-free): undo / redo, atomic autosave, restore after a kill."""

import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd

from napari_pathrobust.engine.review.session import (
    ReviewHistory,
    load_session,
    save_cells,
    save_reviews,
    session_files,
)


def _frame(n=5) -> pd.DataFrame:
    return pd.DataFrame({"label": np.arange(1, n + 1), "x": np.arange(n) * 2.0,
                         "y": np.arange(n) * 3.0, "area": np.full(n, 9),
                         "classification": np.array(["Nucleus"] * n, dtype=object),
                         "status": np.array(["unreviewed"] * n, dtype=object),
                         "solidity": np.linspace(0.5, 1, n)})


def test_history_undo_redo():
    history = ReviewHistory()
    first = _frame()
    second = first.copy()
    second.loc[second["label"].isin([2, 3]), "status"] = "accepted"
    history.record(first, second, [2, 3])
    third = second.copy()
    third.loc[third["label"] == 3, ["classification", "status"]] = ["Tumor", "rejected"]
    history.record(second, third, [3])
    history.record(third, third.copy(), [1])  # no change: not a step
    undone, labels = history.undo(third)
    assert labels == [3] and undone.equals(second)
    undone, _ = history.undo(undone)
    assert undone.equals(first) and history.undo(undone) is None
    redone, _ = history.redo(undone)
    assert redone.equals(second)
    redone, _ = history.redo(redone)
    assert redone.equals(third) and history.redo(redone) is None
    # a new change clears the redo steps
    history.undo(redone)
    history.record(second, first, [2, 3])
    assert not history.can_redo


def test_history_skips_cells_removed_since():
    history = ReviewHistory()
    first = _frame()
    second = first.copy()
    second.loc[second["label"] == 2, "status"] = "accepted"
    history.record(first, second, [2])
    edited = second[second["label"] != 2].reset_index(drop=True)  # cell 2 erased
    undone, _ = history.undo(edited)
    assert undone.equals(edited)


def test_save_and_load_round_trip(tmp_path):
    frame = _frame()
    labels = np.zeros((20, 20), np.uint32)
    labels[2:5, 2:5] = 1
    token = save_cells(tmp_path, "slide one", frame, labels, "slide one_nuclei")
    frame.loc[frame["label"] == 4, ["classification", "status"]] = ["Immune cells", "accepted"]
    path = save_reviews(tmp_path, "slide one", "slide one_nuclei", frame,
                        {"source_layer": "slide one", "region": [0, 0, 20, 20]}, token=token)
    assert path.name == "slide_one_review.json"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "slide_one_cells.npz", "slide_one_review.json"]
    saved = load_session(tmp_path, "slide one")
    assert saved.layer == "slide one_nuclei" and saved.n_reviewed == 1
    np.testing.assert_array_equal(saved.labels, labels)
    # a frame saved without the class parts comes back with them split out
    pd.testing.assert_frame_equal(saved.features[frame.columns], frame, check_dtype=False)
    assert saved.features["base_class"].tolist()[3] == "Immune cells"
    assert saved.features["intensity"].tolist() == [""] * 5
    assert saved.metadata["region"] == [0, 0, 20, 20]
    assert load_session(tmp_path, "another") is None


def test_autosave_replaces_atomically(tmp_path, monkeypatch):
    """A failing write leaves the previous file whole and no temporary file behind."""
    frame = _frame()
    token = save_cells(tmp_path, "s", frame, np.zeros((4, 4), np.uint32))
    save_reviews(tmp_path, "s", "s_nuclei", frame, token=token)
    before = session_files(tmp_path, "s")["review"].read_bytes()
    frame.loc[0, "status"] = "rejected"

    def broken(*_args, **_kwargs):
        raise OSError("disk full")

    import napari_pathrobust.engine.review.session as session

    monkeypatch.setattr(session.json, "dumps", broken)
    try:
        save_reviews(tmp_path, "s", "s_nuclei", frame, token=token)
    except OSError:
        pass
    assert session_files(tmp_path, "s")["review"].read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s_cells.npz", "s_review.json"]


def test_reviews_survive_a_killed_process(tmp_path):
    """A process that autosaves and is then killed (SIGKILL) leaves a loadable session."""
    script = textwrap.dedent(f"""
        import os, signal
        import numpy as np, pandas as pd
        from napari_pathrobust.engine.review.session import save_cells, save_reviews
        frame = pd.DataFrame({{"label": [1, 2, 3], "x": [1.0, 2, 3], "y": [1.0, 2, 3],
                               "classification": ["Nucleus"] * 3,
                               "status": ["unreviewed"] * 3}})
        token = save_cells({str(tmp_path)!r}, "img", frame,
                           np.arange(9, dtype=np.uint32).reshape(3, 3))
        for label, status in ((1, "accepted"), (3, "rejected")):
            frame.loc[frame["label"] == label, "status"] = status
            save_reviews({str(tmp_path)!r}, "img", "img_nuclei", frame,
                         {{"source_layer": "img"}}, token=token)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert done.returncode != 0  # killed, not closed
    saved = load_session(tmp_path, "img")
    assert list(saved.features["status"]) == ["accepted", "unreviewed", "rejected"]
    assert saved.labels.shape == (3, 3)


def test_reviews_of_other_cells_are_not_applied(tmp_path):
    """Reviews saved against other cells (another result of the slide, or a kill between
    the two writes) never land on the saved cells: their own columns are used."""
    frame = _frame()
    frame.loc[frame["label"] == 2, "status"] = "accepted"
    save_cells(tmp_path, "s", frame, np.zeros((4, 4), np.uint32), "s_nuclei")
    other = _frame()
    other.loc[other["label"] == 2, ["classification", "status"]] = ["Tumor", "rejected"]
    save_reviews(tmp_path, "s", "s_other", other, token="another result")
    saved = load_session(tmp_path, "s")
    assert saved.layer == "s_nuclei"
    assert list(saved.features["status"]) == ["unreviewed", "accepted", "unreviewed",
                                              "unreviewed", "unreviewed"]
    assert set(saved.features["classification"]) == {"Nucleus"}


def test_a_killed_write_leaves_no_temporary_behind_the_next_save(tmp_path):
    stale = tmp_path / ".s_cells.npz.tmp-0123abcd"
    stale.write_bytes(b"half a file")
    save_cells(tmp_path, "s", _frame(), np.zeros((4, 4), np.uint32))
    assert not stale.exists()
