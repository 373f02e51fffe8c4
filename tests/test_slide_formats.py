"""Vendor slide formats (issue 27): OpenSlide for vendor files, pylibCZIrw for CZI.

For each format: opens lazily, right pixel size, pyramid levels, tiles equal to a full
read of the same region, recognition runs; bad input gives one line and writes nothing.
Files come from ../shared/data/wsi-fixtures (read in place, never copied), are written
by tests/_wsi_writers.py, or (NDPI and a real Aperio crop) are read from a local cache
of public samples, ``$PATHROBUST_SLIDE_CACHE`` or ~/.cache/pathrobust/test-slides:
``CMU-1-Small-Region.svs`` and ``test3-DAPI-2-(387).ndpi`` from
github.com/Booritas/slideio-tutorial (images/; the NDPI is CC BY 4.0, Manuel Stritt).
"""

from __future__ import annotations

import json
import os
import pickle
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dask.array as da
import numpy as np
import openslide
import pytest
from _wsi_writers import (
    pyramid,
    write_czi,
    write_dicom_wsi,
    write_leica_scn,
    write_philips_tiff,
)

from napari_pathrobust.cli import main
from napari_pathrobust.engine.errors import InputError
from napari_pathrobust.engine.image_formats import SLIDE_SUFFIXES, openslide_files
from napari_pathrobust.engine.image_formats.openslide_files import rgba_to_rgb
from napari_pathrobust.engine.io import open_image

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "data" / "wsi-fixtures"
CACHE = Path(os.environ.get("PATHROBUST_SLIDE_CACHE",
                            Path.home() / ".cache" / "pathrobust" / "test-slides"))
needs_fixtures = pytest.mark.skipif(not (FIXTURES / "boxes_0.dcm").is_file(),
                                    reason="../shared/data/wsi-fixtures not available")
RNG = np.random.default_rng(27)


def noise(y, x):
    return RNG.integers(0, 256, (y, x, 3), dtype=np.uint8)


def one_line_error(path, words):
    with pytest.raises(InputError) as info:
        open_image(path)
    text = str(info.value)
    assert Path(path).name in text and "\n" not in text and words in text, text
    return text


@pytest.fixture
def count_reads(monkeypatch):
    """Counts OpenSlide read_region calls (and the pixels they asked for)."""
    calls = []
    original = openslide.OpenSlide.read_region

    def counted(self, location, level, size):
        calls.append(size[0] * size[1])
        return original(self, location, level, size)

    monkeypatch.setattr(openslide.OpenSlide, "read_region", counted)
    openslide_files._handles.clear()
    return calls


def check_tiles_equal_full_read(level: da.Array, box):
    """A region read through the dask chunks equals one read of the same region."""
    y0, y1, x0, x1 = box
    assert level.chunksize[:2] == (min(1024, level.shape[0]), min(1024, level.shape[1]))
    full = np.asarray(level.compute())
    np.testing.assert_array_equal(level[y0:y1, x0:x1].compute(), full[y0:y1, x0:x1])
    return full


# ----------------------------------------------------------------------------- fixtures


@needs_fixtures
@pytest.mark.parametrize("name", ["boxes_0.dcm", "boxes_1.dcm"])
def test_any_dcm_of_the_series_opens_the_dicom_wsi(name):
    slide = open_image(FIXTURES / name)
    assert slide.metadata["format"] == "dicom" and slide.metadata["backend"] == "openslide"
    assert slide.shape == (16, 16) and len(slide.levels) == 1
    assert slide.mpp == pytest.approx(0.499) and slide.mpp_source == "OpenSlide mpp-x/y"
    assert slide.metadata["associated_images"] == {"thumbnail": [16, 16]}
    json.dumps(slide.metadata)
    osr = openslide.OpenSlide(str(FIXTURES / name))
    expected = rgba_to_rgb(np.asarray(osr.read_region((0, 0), 0, (16, 16))))
    np.testing.assert_array_equal(slide.data.compute(), expected)


@needs_fixtures
def test_generic_pyramidal_tiff_fixture_stays_with_tifffile():
    import tifffile

    slide = open_image(FIXTURES / "boxes.tiff")
    assert slide.metadata["format"] == "tiff" and slide.metadata["backend"] == "tifffile"
    assert [lv.shape[:2] for lv in slide.levels] == [(250, 300), (125, 150), (62, 75),
                                                     (31, 37)]
    assert slide.mpp is None and "screen resolution" in slide.metadata["mpp_note"]
    with tifffile.TiffFile(FIXTURES / "boxes.tiff") as tif:
        for k, page in enumerate(tif.pages):
            np.testing.assert_array_equal(slide.levels[k].compute(), page.asarray())


@needs_fixtures
def test_aperio_fixture_and_its_thumbnail():
    from napari_pathrobust.engine.api import read_associated_image

    slide = open_image(FIXTURES / "small.svs")
    assert slide.metadata["format"] == "svs" and slide.metadata["vendor"] == "aperio"
    assert slide.mpp == pytest.approx(0.499) and slide.metadata["objective_power"] == "20"
    thumb = read_associated_image(FIXTURES / "small.svs", "thumbnail")
    assert thumb.shape == (16, 16, 3) and thumb.dtype == np.uint8
    with pytest.raises(InputError, match="no associated image 'label'.*thumbnail"):
        read_associated_image(FIXTURES / "small.svs", "label")


@needs_fixtures
def test_a_strided_read_of_an_openslide_level_is_strided():
    """The whole-slide overlay reads every 8th pixel: the lazy level must honour the
    step (it returned full-size blocks, and a 20000 x 20000 run failed at its end)."""
    slide = open_image(FIXTURES / "small.svs")
    whole = np.asarray(slide.data.compute())
    np.testing.assert_array_equal(np.asarray(slide.data[::8, 3::5].compute()),
                                  whole[::8, 3::5])


@needs_fixtures
def test_unopenable_fixture_is_one_line():
    one_line_error(FIXTURES / "unopenable.tiff", "compression 52479")


# ----------------------------------------------------------------------------- Philips


def test_philips_tiff_levels_pixels_mpp_and_label(tmp_path):
    img, label = noise(2300, 2500), noise(60, 90)
    path = write_philips_tiff(tmp_path / "philips.tiff", img, mpp=0.25, n_levels=3,
                              label=label)
    slide = open_image(path)
    assert slide.metadata["format"] == "philips-tiff" and slide.metadata["backend"] == \
        "openslide"
    assert slide.mpp == pytest.approx(0.25) and slide.metadata["levels_added"] == 0
    assert slide.metadata["level_downsamples"] == [1.0, 2.0, 4.0]
    for level, expected in zip(slide.levels, pyramid(img, 3)):
        assert level.shape == expected.shape
        full = check_tiles_equal_full_read(level, (1000, 1100, 1000, 1050))
        np.testing.assert_array_equal(full, expected)
    from napari_pathrobust.engine.api import read_associated_image

    np.testing.assert_array_equal(read_associated_image(path, "label"), label)


def test_opening_reads_no_pixels_and_a_region_reads_only_its_chunks(tmp_path, count_reads):
    path = write_philips_tiff(tmp_path / "big.tiff", np.full((8192, 8192, 3), 230, np.uint8),
                              n_levels=4, tile=512)
    slide = open_image(path)
    assert count_reads == []  # lazily opened: not one pixel read
    assert slide.levels[0].numblocks[:2] == (8, 8)
    region = slide.levels[0][1000:1100, 2000:2100].compute()
    assert tuple(region[0, 0]) == (230, 230, 230)
    # one read per chunk the region touches (4: it crosses y=1024 and x=2048), and dask
    # passes the slice down, so exactly the region's pixels are read
    assert len(count_reads) == 4 and sum(count_reads) == 100 * 100


def test_pixel_size_from_objective_power_then_none(tmp_path, capsys):
    img = np.full((600, 500, 3), 240, np.uint8)
    power = write_philips_tiff(tmp_path / "power.tiff", img, mpp=None, spacing_in_wsi=False,
                               objective=40)
    slide = open_image(power)
    assert slide.mpp == pytest.approx(0.25)
    assert slide.mpp_source.startswith("objective power 40x (assumed 0.25 um/px")
    bare = write_philips_tiff(tmp_path / "bare.tiff", img, mpp=None, spacing_in_wsi=False)
    slide = open_image(bare)
    assert slide.mpp is None
    assert slide.metadata["mpp_note"] == "no OpenSlide mpp-x/y and no objective power"
    assert main(["-q", "segment", str(bare), "-o", str(tmp_path / "out"),
                 "--method", "classical"]) == 0
    line = [s for s in capsys.readouterr().out.splitlines() if s.startswith("bare:")]
    assert len(line) == 1 and "pixel size unknown: assumed" in line[0]


def test_vendor_tiff_that_openslide_refuses_is_read_by_tifffile(tmp_path):
    import tifffile

    img = noise(512, 768)
    path = tmp_path / "webp.svs"
    tifffile.imwrite(path, img, tile=(256, 256), photometric="rgb", compression="webp",
                     compressionargs={"lossless": True}, metadata=None,
                     description="Aperio Image Library v12.0.0\n768x512 (256x256)|MPP = 0.25")
    slide = open_image(path)
    assert slide.metadata["backend"] == "tifffile" and slide.mpp == pytest.approx(0.25)
    assert "Unsupported TIFF compression" in slide.metadata["openslide_refused"]
    np.testing.assert_array_equal(slide.data.compute(), img)


def test_fractional_downsample_level_is_the_same_through_any_window(tmp_path):
    """OpenSlide interpolates between level pixels when a level-0 origin falls between
    them; such levels are read in aligned blocks, so tiles equal the full read."""
    import tifffile
    from PIL import Image

    img = noise(3000, 3100)
    path = tmp_path / "frac.svs"
    head = "Aperio Image Library v12.0.0\n"
    with tifffile.TiffWriter(path) as tw:
        tw.write(img, tile=(256, 256), photometric="rgb", metadata=None,
                 description=head + "3100x3000 (256x256)|AppMag = 40|MPP = 0.25")
        tw.write(np.asarray(Image.fromarray(img).resize((1033, 1000))), tile=(256, 256),
                 photometric="rgb", metadata=None, description=head + "1033x1000")
    slide = open_image(path)
    assert slide.metadata["level_downsamples"][1] == pytest.approx(3.0005, abs=1e-4)
    level = slide.levels[1]
    full = level.compute()
    for y0, y1, x0, x1 in [(10, 990, 7, 1033), (1000, 1000, 1020, 1030), (999, 1000, 0, 9)]:
        np.testing.assert_array_equal(level[y0:y1, x0:x1].compute(), full[y0:y1, x0:x1])
    ds = slide.metadata["level_downsamples"][1]
    raw = openslide_files._Level(str(path), 1, level.shape[:2], ds, "x")._region(
        7, 10, 1026, 980)  # one unaligned OpenSlide read is resampled differently
    assert not np.array_equal(raw, full[10:990, 7:1033])


def test_rgba_from_openslide_is_composited_on_white():
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[0, 0] = (200, 10, 30, 255)  # opaque: unchanged
    rgba[0, 1] = (0, 0, 0, 0)  # outside the scanned area: white
    rgba[0, 2] = (255, 0, 0, 128)  # half transparent red over white
    out = rgba_to_rgb(rgba)
    assert tuple(out[0, 0]) == (200, 10, 30) and tuple(out[0, 1]) == (255, 255, 255)
    assert tuple(out[0, 2]) == (255, 127, 127)
    assert rgba_to_rgb(np.full((2, 2, 4), 255, np.uint8)).shape == (2, 2, 3)


def test_thread_safe_tiles_and_picklable_levels(tmp_path):
    img = noise(2600, 2400)
    slide = open_image(write_philips_tiff(tmp_path / "t.tiff", img, n_levels=2))
    level = slide.levels[0]
    blocks = [(i, j) for i in range(level.numblocks[0]) for j in range(level.numblocks[1])]

    def block(ij):
        return level.blocks[ij].compute(scheduler="synchronous")

    with ThreadPoolExecutor(8) as pool:
        parallel = list(pool.map(block, blocks * 3))
    for (i, j), got in zip(blocks * 3, parallel):
        np.testing.assert_array_equal(got, img[i * 1024:(i + 1) * 1024, j * 1024:(j + 1) * 1024])
    clone = pickle.loads(pickle.dumps(slide.levels[1]))  # what a distributed worker gets
    openslide_files._handles.clear()  # as in a fresh process: reopened by path
    np.testing.assert_array_equal(clone.compute(), img[::2, ::2])


# ----------------------------------------------------------------------------- Leica


def test_leica_scn_levels_bounds_and_white_margin(tmp_path, count_reads):
    img = noise(1200, 1000)
    slide = open_image(write_leica_scn(tmp_path / "leica.scn", img, mpp=0.5, margin=4))
    assert count_reads == []
    assert slide.metadata["format"] == "scn" and slide.metadata["vendor"] == "leica"
    assert slide.mpp == pytest.approx(0.5) and slide.mpp_source == "OpenSlide mpp-x/y"
    assert slide.metadata["bounds"] == [4, 4, 1000, 1200]
    assert [lv.shape[:2] for lv in slide.levels] == [(1208, 1008), (604, 504), (302, 252)]
    for k, level in enumerate(slide.levels):
        full = check_tiles_equal_full_read(level, (500, 604, 400, 504))
        m = 4 >> k
        np.testing.assert_array_equal(full[m:-m, m:-m], pyramid(img, 3)[k])
        assert (full[:m] == 255).all()  # outside the scanned area: transparent -> white


# ----------------------------------------------------------------------------- DICOM


def test_generated_dicom_series_from_any_file_or_its_folder(tmp_path, count_reads):
    img, label = noise(1100, 900), noise(40, 70)
    files = write_dicom_wsi(tmp_path / "series", img, mpp=0.5, n_levels=3, label=label)
    for source in [files[0], files[2], tmp_path / "series"]:
        count_reads.clear()
        slide = open_image(source)
        assert max(count_reads) == 1  # the last pixel of each level: a cut file fails here
        assert slide.metadata["format"] == "dicom" and slide.mpp == pytest.approx(0.5)
        assert [lv.shape for lv in slide.levels] == [p.shape for p in pyramid(img, 3)]
        assert slide.metadata["associated_images"]["label"] == [70, 40]
    for level, expected in zip(slide.levels, pyramid(img, 3)):
        np.testing.assert_array_equal(check_tiles_equal_full_read(level, (0, 700, 500, 900)),
                                      expected)
    from napari_pathrobust.engine.api import read_associated_image

    np.testing.assert_array_equal(read_associated_image(tmp_path / "series", "label"), label)


def test_generated_dicom_reads_the_same_in_wsidicom(tmp_path):
    """The DICOM writer is checked by a second, independent DICOM WSI reader."""
    wsidicom = pytest.importorskip("wsidicom")
    img = noise(700, 600)
    write_dicom_wsi(tmp_path / "series", img, mpp=0.5, n_levels=2)
    with wsidicom.WsiDicom.open(tmp_path / "series") as wsi:
        assert wsi.mpp.width == pytest.approx(0.5)
        region = np.asarray(wsi.read_region((0, 0), 0, (600, 700)).convert("RGB"))
    np.testing.assert_array_equal(region, img)


# ----------------------------------------------------------------------------- CZI


def test_czi_levels_pixels_and_mpp(tmp_path, monkeypatch):
    from napari_pathrobust.engine.image_formats import czi

    reads = []
    original = czi._Level.read
    monkeypatch.setattr(czi._Level, "read", lambda self, *a: reads.append(a) or
                        original(self, *a))
    img = noise(2600, 2200)
    slide = open_image(write_czi(tmp_path / "zeiss.czi", img, mpp=0.3, origin=(-100, 30)))
    assert reads == []  # lazily opened
    assert slide.metadata["format"] == "czi" and slide.metadata["backend"] == "pylibCZIrw"
    assert slide.mpp == pytest.approx(0.3) and slide.mpp_source == "CZI Scaling X/Y"
    assert [lv.shape[:2] for lv in slide.levels] == [(2600, 2200), (1300, 1100), (650, 550)]
    full = check_tiles_equal_full_read(slide.levels[0], (1000, 1100, 1000, 1050))
    np.testing.assert_array_equal(full, img)
    full = check_tiles_equal_full_read(slide.levels[1], (1000, 1100, 1001, 1050))
    np.testing.assert_array_equal(full, img[::2, ::2])  # libCZI's zoomed read
    clone = pickle.loads(pickle.dumps(slide.levels[0][:64, :64]))
    np.testing.assert_array_equal(clone.compute(), img[:64, :64])


def test_czi_without_pylibczirw_says_what_to_install(tmp_path, monkeypatch):
    import sys

    path = write_czi(tmp_path / "z.czi", noise(64, 64))
    monkeypatch.setitem(sys.modules, "pylibCZIrw", None)
    one_line_error(path, "reading .czi needs pylibCZIrw: pip install pylibCZIrw")


# ----------------------------------------------------------------------------- bad input


def test_bad_vendor_files_are_one_line_each(tmp_path):
    whole = write_philips_tiff(tmp_path / "whole.tiff", noise(1200, 1000), n_levels=2)
    cut = tmp_path / "cut.tiff"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    one_line_error(cut, "truncated")
    files = write_dicom_wsi(tmp_path / "series", noise(600, 500), n_levels=3)
    data = files[2].read_bytes()
    files[2].write_bytes(data[: len(data) // 2])
    one_line_error(files[0], "file is truncated")
    one_line_error(tmp_path / "series", "file is truncated")
    mrxs = tmp_path / "CMU-1.mrxs"
    mrxs.write_text("[GENERAL]\nSLIDE_VERSION = 01.02\n")
    one_line_error(mrxs, "MIRAX data folder 'CMU-1/' is missing")
    (tmp_path / "CMU-1").mkdir()
    one_line_error(mrxs, "has no Slidedat.ini")
    for name in ("junk.ndpi", "junk.scn", "junk.bif", "junk.svslide"):
        (tmp_path / name).write_bytes(b"II*\x00" + b"\x00" * 40)
        one_line_error(tmp_path / name, "")
    (tmp_path / "junk.czi").write_bytes(b"ZISRAWFILE" + b"\x00" * 100)
    one_line_error(tmp_path / "junk.czi", "not a readable CZI file")
    (tmp_path / "junk.dcm").write_bytes(b"\x00" * 128 + b"DICM" + b"\x00" * 64)
    one_line_error(tmp_path / "junk.dcm", "OpenSlide")
    (tmp_path / "notes.vms").write_text("hello")
    one_line_error(tmp_path / "notes.vms", "")
    empty = tmp_path / "nothing"
    empty.mkdir()
    one_line_error(empty, "not a zarr store or a DICOM WSI folder")


def test_segment_writes_nothing_for_bad_slides(tmp_path, capsys):
    mrxs = tmp_path / "in" / "slide.mrxs"
    mrxs.parent.mkdir()
    mrxs.write_text("[GENERAL]\n")
    whole = write_philips_tiff(tmp_path / "whole.tiff", noise(800, 700), n_levels=2)
    cut = tmp_path / "in" / "cut.tiff"
    cut.write_bytes(whole.read_bytes()[:5000])
    out = tmp_path / "out"
    assert main(["-q", "segment", str(mrxs), str(cut), "-o", str(out),
                 "--method", "classical"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "slide.mrxs: MIRAX data folder" in err[0] and "cut.tiff" in err[1]
    assert not out.exists() or not any(out.rglob("*"))


# ----------------------------------------------------------------------------- recognition


@needs_fixtures
def test_segment_runs_on_philips_tiff_and_dicom_fixture(tmp_path):
    blank = write_philips_tiff(tmp_path / "blank.tiff", np.full((1200, 1000, 3), 236,
                                                                np.uint8))
    out = tmp_path / "out"
    assert main(["-q", "segment", str(blank), str(FIXTURES / "boxes_0.dcm"), "-o", str(out),
                 "--method", "classical"]) == 0
    blank_run = json.loads((out / "blank_run.json").read_text())
    assert blank_run["n_nuclei"] == 0
    # the fixture is a 16x16 crop of an H&E slide with one dark spot: no crash, 0 or 1
    dicom_run = json.loads((out / "boxes_0_run.json").read_text())
    assert dicom_run["n_nuclei"] <= 1
    assert (out / "boxes_0_labels.tif").is_file() and (out / "boxes_0.geojson").is_file()


@pytest.mark.skipif(not (CACHE / "CMU-1-Small-Region.svs").is_file(),
                    reason="public Aperio sample not in the local cache")
def test_recognition_on_a_real_aperio_crop(count_reads):
    from napari_pathrobust.engine import api

    slide = open_image(CACHE / "CMU-1-Small-Region.svs")
    assert slide.shape == (2967, 2220) and slide.mpp == pytest.approx(0.499)
    assert set(slide.metadata["associated_images"]) == {"label", "macro", "thumbnail"}
    assert count_reads == []
    region = api.segment_region(slide.data, api.Box(1200, 800, 1712, 1312),
                                api.RegionOptions(method="classical", device="cpu"),
                                mpp=slide.mpp)
    assert region.n_nuclei > 30  # H&E tissue, at 20x
    assert sum(count_reads) < slide.shape[0] * slide.shape[1] / 4  # the region, not the slide


@pytest.mark.skipif(not (CACHE / "test3-DAPI-2-(387).ndpi").is_file(),
                    reason="public NDPI sample not in the local cache")
def test_real_ndpi_sample(count_reads):
    path = CACHE / "test3-DAPI-2-(387).ndpi"
    slide = open_image(path)
    assert count_reads == []
    assert slide.metadata["format"] == "hamamatsu" and len(slide.levels) == 7
    assert slide.mpp == pytest.approx(0.22818, abs=1e-4)
    osr = openslide.OpenSlide(str(path))
    for k in (0, 1, 2):
        level = slide.levels[k]
        y, x = level.shape[0] // 3, level.shape[1] // 3  # a region across chunk borders
        h, w = min(1100, level.shape[0] - y), min(1300, level.shape[1] - x)
        want = rgba_to_rgb(np.asarray(osr.read_region((x * 2 ** k, y * 2 ** k), k, (w, h))))
        np.testing.assert_array_equal(level[y:y + h, x:x + w].compute(), want)


# ----------------------------------------------------------------------------- front ends


def test_napari_reader_opens_slides_multiscale_with_their_scale(tmp_path):
    from napari_pathrobust._reader import get_reader

    img = noise(1200, 1000)
    cases = [(write_philips_tiff(tmp_path / "p.tiff", img, mpp=0.25), 0.25, 3),
             (tmp_path / "dicom", 0.5, 2),
             (write_czi(tmp_path / "z.czi", noise(2400, 2200), mpp=0.3), 0.3, 3)]
    write_dicom_wsi(tmp_path / "dicom", img, mpp=0.5, n_levels=2)
    if FIXTURES.is_dir():
        cases += [(FIXTURES / "boxes.tiff", None, 4), (FIXTURES / "boxes_0.dcm", 0.499, 1),
                  (FIXTURES / "small.svs", 0.499, 1)]
    for path, mpp, n_levels in cases:
        reader = get_reader(str(path))
        assert reader is not None, path
        (data, kwargs, kind), = reader(str(path))
        assert kind == "image" and kwargs["rgb"], path
        if n_levels > 1:
            assert kwargs["multiscale"] and len(data) == n_levels, path
        else:
            assert data.shape[:2] == (16, 16)
        assert kwargs.get("scale") == ((mpp, mpp) if mpp else None), path
    for name in ("x.ndpi", "x.mrxs", "x.vms", "x.scn", "x.bif", "x.svslide", "x.dcm", "x.czi"):
        assert get_reader(name) is not None, name
    assert get_reader(str(tmp_path)) is None  # a folder without DICOM files
    (tmp_path / "lost.mrxs").write_text("[GENERAL]\n")
    with pytest.raises(InputError, match="^lost.mrxs: MIRAX data folder 'lost/' is missing"):
        get_reader(str(tmp_path / "lost.mrxs"))(str(tmp_path / "lost.mrxs"))


def test_every_slide_suffix_reaches_the_reader_and_the_cli():
    import yaml

    from napari_pathrobust import _reader
    from napari_pathrobust.cli._common import IMAGE_SUFFIXES

    manifest = yaml.safe_load((Path(_reader.__file__).parent / "napari.yaml").read_text())
    patterns = set(manifest["contributions"]["readers"][0]["filename_patterns"])
    for suffix in SLIDE_SUFFIXES:
        assert f"*{suffix}" in patterns and suffix in _reader._SLIDE_SUFFIXES, suffix
        assert suffix in IMAGE_SUFFIXES or suffix == ".dcm", suffix  # DICOM: its folder


def test_cli_takes_a_dicom_folder_as_one_slide(tmp_path):
    from napari_pathrobust.cli._common import expand_inputs

    write_dicom_wsi(tmp_path / "series", noise(300, 200), n_levels=2)
    assert expand_inputs([str(tmp_path / "series")]) == [tmp_path / "series"]
