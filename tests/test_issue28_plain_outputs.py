"""Issue 28, items 9 and 11 (engine side): the adaptation outcome in plain words, the
robustness heatmap that says what its metric compares, and the captioned contact
sheet whose progress ends at 100 %."""

import numpy as np
import pytest

SIGNALS = {"flip_agreement": 0.9, "confidence": 0.8, "fraction": 0.2, "count_per_mpx": 500.0,
           "median_area": 300.0}


@pytest.mark.parametrize("change, starts", [
    ({}, "Original network kept: adapting gave no clear gain"),
    ({"flip_agreement": 0.95}, "Adapted network kept: it agrees better with itself"),
    ({"confidence": 0.9}, "Adapted network kept: it is clearly more confident"),
    ({"confidence": 0.95, "fraction": 0.9}, "Original network kept: the adapted one changed"),
])
def test_the_gate_outcome_in_plain_words(change, starts):
    from napari_pathrobust.engine.adapt.gate import decide, outcome_details, outcome_message

    decision = decide(SIGNALS, {**SIGNALS, **change})
    message = outcome_message(decision.keep, decision)
    assert message.startswith(starts), message
    for jargon in ("flip", "confidence +", "kept source", "("):
        assert jargon not in message.replace("confident", ""), message
    details = outcome_details("stain", decision.reason, decision)
    assert decision.reason in details and "flip agreement: 0.900 -> " in details
    assert "median nucleus area (px): 300 -> " in details


def test_the_outcome_without_a_gate():
    from napari_pathrobust.engine.adapt.gate import outcome_details, outcome_message

    assert outcome_message(True, None) == "Adapted network used: the never-worse check was off"
    assert outcome_message(False, None).startswith("Original network used")
    assert outcome_details("stain", "gate off", None) == "method stain: gate off"


def test_adaptation_records_the_message_in_its_description():
    """``describe()`` (the widget's layer metadata and ``_run.json``) carries the words."""
    from napari_pathrobust.engine.adapt.gate import decide
    from napari_pathrobust.engine.adapt.slide import SlideAdaptation, SlideAdaptConfig

    decision = decide(SIGNALS, dict(SIGNALS))
    adaptation = SlideAdaptation("stain", False, decision.reason, None, None, None, decision,
                                 SlideAdaptConfig(), 1.0)
    info = adaptation.describe()
    assert info["message"] == adaptation.message
    assert info["message"].startswith("Original network kept")
    assert info["reason"].startswith("no clear gain (flip")  # the numbers stay recorded


def _rows(reference):
    rows = [{"kind": "clean", "severity": 0, "image": "a", "reference": reference, "aji": 1.0}]
    rows += [{"kind": k, "severity": s, "image": "a", "reference": reference,
              "aji": 1.0 - 0.1 * s} for k in ("hue", "defocus") for s in (1, 3)]
    return rows


@pytest.mark.parametrize("reference, words", [
    ("clean", "vs the clean image's result (1 = unchanged)"),
    ("gt", "vs the ground truth"),
])
def test_heatmap_says_what_its_metric_compares(tmp_path, monkeypatch, reference, words):
    from napari_pathrobust.engine.robustness import report

    figures = []
    monkeypatch.setattr(report, "_save", lambda fig, path: figures.append(fig) or path)
    report.plot_heatmap(_rows(reference), "aji", tmp_path / "h", fmts=("png",))
    (fig,) = figures
    heatmap, colorbar = fig.axes
    assert words in heatmap.get_title() and heatmap.get_title().startswith("AJI")
    assert colorbar.get_ylabel().startswith(f"AJI {words}")


def test_contact_sheet_tiles_are_captioned_and_progress_ends_at_100():
    from napari_pathrobust.engine.progress import Reporter
    from napari_pathrobust.engine.robustness.sheet import (
        CAPTION_PX,
        SHEET_THUMB,
        captioned_sheet,
    )
    from napari_pathrobust.engine.synthetic import synthetic_he_tile

    rgb, _ = synthetic_he_tile((200, 180), seed=1)
    kinds = ["hue", "defocus", "jpeg", "rotation", "markup"]
    seen = []
    sheet = captioned_sheet(rgb, kinds, 2, reporter=Reporter(progress=lambda *a: seen.append(a)))
    assert seen[-1][0] == seen[-1][1] == len(kinds)  # 100 %
    assert sheet.captions == ["clean", "hue 2", "defocus 2", "jpeg 2", "rotation 2",
                              "markup 2"]
    assert sheet.ncols == 4 and sheet.pixel == pytest.approx(180 / SHEET_THUMB)
    cell = SHEET_THUMB + 6
    assert sheet.image.shape == (2 * (CAPTION_PX + cell), 4 * cell, 3)
    for row in range(2):  # text drawn in each caption band, above each used tile
        band = sheet.image[row * (CAPTION_PX + cell):row * (CAPTION_PX + cell) + CAPTION_PX]
        for col in range(4 if row == 0 else 2):
            ink = band[:, col * cell:(col + 1) * cell].min(axis=-1) < 100
            assert ink.sum() > 20, (row, col)
    empty = sheet.image[CAPTION_PX + cell:2 * CAPTION_PX + cell, 3 * cell:]
    assert np.all(empty == 255)  # no caption over the padding cells
