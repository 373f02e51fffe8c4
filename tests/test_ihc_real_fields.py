"""Issue 24 (Ki-67 on real slides): pixel size from the nuclei, the slide-normalised
detection image, the label-free cell type and the bright-field check."""

import json

import numpy as np
import pytest
from PIL import Image

from napari_pathrobust.engine.errors import InputError
from napari_pathrobust.engine.ihc.cell_type import IMMUNE, STROMA, TUMOUR, cell_types
from napari_pathrobust.engine.ihc.dab_check import not_brightfield
from napari_pathrobust.engine.ihc.detection import SATURATION, HdabDetector
from napari_pathrobust.engine.ihc.pixel_size import estimate_mpp
from napari_pathrobust.engine.ihc.scoring import classify_cells, ihc_summary
from napari_pathrobust.engine.jobs import JobOptions
from napari_pathrobust.engine.jobs.segment import segment_file
from napari_pathrobust.engine.stain import compose_od, od_to_rgb
from napari_pathrobust.engine.synthetic import synthetic_ihc_tile


@pytest.fixture(scope="module")
def tile():
    return synthetic_ihc_tile(size=384, seed=1)[0]


def _half(rgb):
    return np.asarray(Image.fromarray(rgb).resize((rgb.shape[1] // 2, rgb.shape[0] // 2),
                                                  Image.BICUBIC))


def test_pixel_size_estimate_follows_the_scale(tile):
    full, half = estimate_mpp(tile, "ihc"), estimate_mpp(_half(tile), "ihc")
    assert full is not None and half is not None
    assert 0.8 < (half / full) / 2.0 < 1.2  # halving the image doubles the pixel size


@pytest.mark.parametrize("rgb", [np.full((128, 128, 3), 255, np.uint8),
                                 np.full((128, 128, 3), 90, np.uint8)])
def test_no_estimate_without_nuclei(rgb):
    assert estimate_mpp(rgb, "ihc") is None


def test_unknown_pixel_size_is_estimated_for_ihc_and_said(tile, tmp_path):
    src = tmp_path / "field.png"
    Image.fromarray(tile).save(src)
    res = segment_file(src, tmp_path / "ihc", JobOptions(method="classical", workers=1,
                                                         method_params={"stain": "ihc"}))
    px = json.loads(res.outputs["run"].read_text())["pixel_size"]
    assert px["mpp_source"] == "estimated from nuclei" and "estimated" in px["note"]
    given = segment_file(src, tmp_path / "given", JobOptions(
        method="classical", workers=1, mpp=0.25, method_params={"stain": "ihc"}))
    assert json.loads(given.outputs["run"].read_text())["pixel_size"]["mpp_source"] == "user"
    he = segment_file(src, tmp_path / "he", JobOptions(method="classical", workers=1))
    assert json.loads(he.outputs["run"].read_text())["pixel_size"]["mpp_assumed"] is True


def test_grayscale_and_fluorescence_are_refused_for_ihc(tile, tmp_path):
    gray = np.repeat(tile.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)
    dark = (255 - tile) // 2  # bright structures on a dark ground
    assert "grayscale" in not_brightfield(gray)
    assert "fluorescence" in not_brightfield(dark)
    assert not_brightfield(tile) is None
    src = tmp_path / "gray.png"
    Image.fromarray(gray).save(src)
    with pytest.raises(InputError, match="grayscale"):
        segment_file(src, tmp_path / "out", JobOptions(method="classical", workers=1,
                                                       method_params={"stain": "ihc"}))


def test_levels_make_pale_and_dark_nuclei_alike(tile):
    det = HdabDetector(mpp=0.25).fit(tile)
    bg, level = det.levels
    assert level > bg
    image = det.image(tile)
    assert image.min() >= 0.0 and image.max() <= SATURATION
    raw = HdabDetector(mpp=0.25, normalise=False).fit(tile)
    assert raw.levels is None and raw.image(tile).max() > 1.0  # OD units without levels


def _pale_field():
    """A pale Ki-67 field at 0.25 um/px: 0.08 OD hematoxylin ground, 30 pale nuclei
    (+0.12 OD, 6 um), faint fibres (+0.04 OD, 3 px wide) and two touching dark nuclei
    whose seam is paler than their centres."""
    size = 256
    yy, xx = np.mgrid[:size, :size]
    hema = np.full((size, size), 0.08)
    fibres = np.zeros((size, size), bool)
    for i in range(6):
        fibres |= abs(yy - (20 + 40 * i) - xx // 8) <= 1
    hema[fibres] += 0.04
    nuclei = np.zeros((size, size), bool)
    for i in range(30):
        cy, cx = 30 + 40 * (i // 6), 20 + 40 * (i % 6)
        nuclei |= (yy - cy) ** 2 + (xx - cx) ** 2 <= 12 ** 2
    hema[nuclei] = 0.2
    for cx in (226, 246):  # touching dark nuclei: 0.4 OD at the centres, less outwards
        r2 = ((yy - 230) ** 2 + (xx - cx) ** 2) / 12.0 ** 2
        hema = np.maximum(hema, np.where(r2 <= 1, 0.4 - 0.25 * r2, 0))
    return od_to_rgb(compose_od(hema, np.zeros_like(hema)))


def test_levels_keep_the_seam_between_dark_nuclei():
    """A pale nucleus reaches the nucleus level; darker ones stay graded up to
    SATURATION, so two touching dark nuclei keep the paler seam between them."""
    rgb = _pale_field()
    image = HdabDetector(mpp=0.25, estimate=False).fit(rgb).image(rgb)
    assert 1.0 <= image[30, 20] <= SATURATION  # a pale nucleus reads at least 1
    centres, seam = image[230, [226, 246]], image[230, 236]
    assert (centres > seam + 0.1).all()  # touching dark nuclei keep their seam


def test_cell_type_rule_and_both_indices():
    n = 20
    table = {"label": np.arange(1, n + 1), "area_um2": np.full(n, 60.0),
             "eccentricity": np.full(n, 0.5), "minor_axis_um": np.full(n, 8.0),
             "hema_nucleus_mean": np.full(n, 0.3), "dab_nucleus_mean": np.zeros(n)}
    table["area_um2"][0], table["hema_nucleus_mean"][0] = 20.0, 0.8  # small, round, dark
    table["eccentricity"][1], table["minor_axis_um"][1] = 0.97, 3.0  # a spindle
    table["dab_nucleus_mean"][2:7] = 0.5  # 5 positive tumour cells
    table["dab_nucleus_mean"][0] = 0.5  # a positive lymphocyte: not in the tumour index
    types = cell_types(table)
    assert types[0] == IMMUNE and types[1] == STROMA and (types[2:] == TUMOUR).all()
    classified = classify_cells(table)
    assert list(classified["cell_type"]) == list(types)
    s = ihc_summary(classified)
    assert (s["n_cells"], s["n_positive"]) == (20, 6)
    assert (s["n_tumour"], s["n_tumour_positive"], s["n_immune"], s["n_stroma"]) == (18, 5, 1, 1)
    assert s["tumour_index"] == pytest.approx(500 / 18)
