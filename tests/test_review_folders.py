"""Reviews are found wherever they were autosaved (issue 28.1): a change of the results
folder must not lose a slide's earlier review."""

import numpy as np
import pandas as pd
import pytest

from napari_pathrobust.engine.review import session as sessions


def _save(folder, fingerprint="64x64:abc", status="accepted"):
    features = pd.DataFrame({"label": [1, 2], "status": [status, "unreviewed"],
                             "classification": ["Nucleus", "Nucleus"]})
    meta = {"source_layer": "slide", "source_fingerprint": fingerprint}
    token = sessions.save_cells(folder, "slide", features, np.ones((4, 4), np.uint32),
                                "slide_nuclei", meta)
    sessions.save_reviews(folder, "slide", "slide_nuclei", features, meta, token=token)
    sessions.note_review_folder(folder)


def test_the_newest_session_in_any_folder_used_is_found(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _save(a, status="rejected")
    assert sessions.find_session([b], "slide").session is None  # old lookup: lost
    folders = sessions.review_folders(b)
    assert folders[0] == b and a in folders
    found = sessions.find_session(folders, "slide", "64x64:abc")
    assert found.folder == a and found.session.features["status"][0] == "rejected"
    _save(b, status="accepted")  # reviewed again after the change: the newer one wins
    found = sessions.find_session(sessions.review_folders(b), "slide", "64x64:abc")
    assert found.folder == b and found.session.features["status"][0] == "accepted"


def test_sessions_of_other_pixels_are_skipped(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _save(a, fingerprint="64x64:abc")
    _save(b, fingerprint="64x64:other")  # newer, but another slide of the same name
    asked = []

    def fingerprint():
        asked.append(1)
        return "64x64:abc"

    found = sessions.find_session(sessions.review_folders(b), "slide", fingerprint)
    assert found.folder == a and found.other_pixels == 1 and asked == [1]
    assert sessions.find_session([tmp_path / "none"], "slide", fingerprint).session is None
    assert asked == [1]  # no session: the pixels are not read


def test_the_folder_list_is_short_and_survives_a_broken_file(tmp_path):
    from napari_pathrobust.engine.settings import config_dir

    (config_dir() / "review_folders.json").write_text("{broken")
    for i in range(sessions.MAX_REVIEW_FOLDERS + 5):
        sessions.note_review_folder(tmp_path / f"f{i}")
    folders = sessions.review_folders(tmp_path / "now")
    assert len(folders) == sessions.MAX_REVIEW_FOLDERS + 2  # + current + default
    assert folders[1] == tmp_path / f"f{sessions.MAX_REVIEW_FOLDERS + 4}"  # newest first


@pytest.mark.gui
def test_reviews_come_back_after_the_results_folder_changed(make_napari_viewer, tmp_path,
                                                           qtbot, monkeypatch):
    from test_review_widget_session import _open, _status, _tile

    from napari_pathrobust.widgets import _review_session
    from napari_pathrobust.widgets._settings import save_settings

    told = []
    monkeypatch.setattr(_review_session, "show_info", told.append)

    first_folder, second_folder = tmp_path / "A", tmp_path / "B"
    save_settings({"results_dir": str(first_folder)})
    rgb, truth, table = _tile()
    viewer = make_napari_viewer()
    widget = _open(viewer, rgb, truth, table)
    layer = viewer.layers["tile_nuclei"]
    widget.bind(layer)
    label = int(layer.features["label"][0])
    widget.set_status("rejected", labels=[label])
    review = first_folder / "tile_review.json"
    qtbot.waitUntil(lambda: review.exists() and "rejected" in review.read_text())
    save_settings({"results_dir": str(second_folder)})  # the user picks another folder
    other = make_napari_viewer()
    _open(other, rgb)  # the slide opened again
    assert "tile_nuclei" in other.layers, "the review autosaved in A was not restored"
    restored = other.layers["tile_nuclei"]
    assert _status(restored) == _status(layer) and _status(restored)[label] == "rejected"
    assert f"autosaved in {first_folder}; new autosaves go to {second_folder}" in told[-1]
