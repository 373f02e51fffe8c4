"""Tests for engine.io: lazy opening of every supported format, conversions, refusals."""

from __future__ import annotations

import json

import dask.array as da
import numpy as np
import pytest
import tifffile
import zarr
from PIL import Image

from napari_pathrobust.engine.errors import InputError
from napari_pathrobust.engine.io import Slide, open_image, slide_from_array, to_rgb_uint8

RNG = np.random.default_rng(0)


def rgb(y=300, x=400):
    return RNG.integers(0, 256, (y, x, 3), dtype=np.uint8)


def smooth_rgb(y=256, x=256):
    """A smooth image that survives JPEG compression nearly unchanged."""
    yy, xx = np.mgrid[0:y, 0:x]
    return np.stack([yy * 255 // y, xx * 255 // x, (yy + xx) * 255 // (y + x)], -1).astype(
        np.uint8
    )


def check_error(exc_info, filename, words):
    text = str(exc_info.value)
    assert filename in text
    assert "\n" not in text
    assert words.lower() in text.lower(), text


# ----------------------------------------------------------------------------- formats


def test_tiled_tiff_roundtrip(tmp_path):
    img = rgb(600, 700)
    path = tmp_path / "tiled.tif"
    tifffile.imwrite(path, img, tile=(256, 256), photometric="rgb", compression="zlib")
    slide = open_image(path)
    assert isinstance(slide, Slide)
    assert slide.name == "tiled" and slide.path == path
    assert slide.shape == (600, 700)
    assert slide.data is slide.levels[0]
    assert slide.data.dtype == np.uint8 and slide.data.shape == (600, 700, 3)
    np.testing.assert_array_equal(slide.data.compute(), img)
    assert slide.mpp is None
    assert slide.metadata["format"] == "tiff"
    json.dumps(slide.metadata)


def test_pyramidal_ome_tiff_levels_and_mpp(tmp_path):
    img = rgb(1024, 1536)
    path = tmp_path / "TCGA-xx.ome.tif"
    with tifffile.TiffWriter(path) as tw:
        tw.write(img, tile=(256, 256), subifds=2, photometric="rgb",
                 metadata={"axes": "YXS", "PhysicalSizeX": 0.5, "PhysicalSizeXUnit": "µm"})
        tw.write(img[::2, ::2], tile=(256, 256), subfiletype=1, photometric="rgb")
        tw.write(img[::4, ::4], tile=(256, 256), subfiletype=1, photometric="rgb")
    slide = open_image(path)
    assert slide.name == "TCGA-xx"
    assert slide.mpp == pytest.approx(0.5)
    assert [lv.shape for lv in slide.levels] == [(1024, 1536, 3), (512, 768, 3), (256, 384, 3)]
    np.testing.assert_array_equal(slide.levels[0].compute(), img)
    np.testing.assert_array_equal(slide.levels[2].compute(), img[::4, ::4])
    assert slide.metadata["format"] == "ome-tiff"
    assert slide.metadata["levels_in_file"] == 3 and slide.metadata["levels_added"] == 0


def test_ome_tiff_mpp_unit_conversion(tmp_path):
    path = tmp_path / "nm.ome.tiff"
    tifffile.imwrite(path, rgb(64, 64), photometric="rgb",
                     metadata={"axes": "YXS", "PhysicalSizeX": 250.0, "PhysicalSizeXUnit": "nm"})
    assert open_image(path).mpp == pytest.approx(0.25)


def test_svs_like_tiff(tmp_path):
    img = rgb(1024, 1536)
    path = tmp_path / "slide1.svs"
    head = "Aperio Image Library v12.0.0\n"
    kw = {"photometric": "rgb", "metadata": None}
    with tifffile.TiffWriter(path) as tw:
        desc = head + "1536x1024 (256x256)|AppMag = 40|MPP = 0.25"
        tw.write(img, tile=(256, 256), description=desc, **kw)
        tw.write(img[::8, ::8], description=head + "thumbnail", **kw)
        tw.write(img[::4, ::4], tile=(256, 256), description=head + "384x256", **kw)
        tw.write(img[::16, ::16], description=head + "label", subfiletype=1, **kw)
    slide = open_image(path)
    assert slide.name == "slide1"
    assert slide.mpp == pytest.approx(0.25)
    assert slide.metadata["format"] == "svs"
    assert [lv.shape for lv in slide.levels] == [(1024, 1536, 3), (256, 384, 3)]
    np.testing.assert_array_equal(slide.levels[1].compute(), img[::4, ::4])


def test_tiff_resolution_tags(tmp_path):
    img = rgb(64, 64)
    cm = tmp_path / "cm.tif"
    tifffile.imwrite(cm, img, photometric="rgb", resolution=(40000, 40000),
                     resolutionunit="CENTIMETER")
    assert open_image(cm).mpp == pytest.approx(0.25)
    screen = tmp_path / "screen.tif"
    tifffile.imwrite(screen, img, photometric="rgb", resolution=(72, 72), resolutionunit="INCH")
    assert open_image(screen).mpp is None
    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, img, photometric="rgb", resolution=(4, 4), resolutionunit="NONE")
    assert open_image(plain).mpp is None


def test_laziness_large_tiled_tiff(tmp_path):
    path = tmp_path / "big.tif"
    img = np.zeros((4096, 4096, 3), np.uint8)
    img[1000:1100, 2000:2100] = (200, 10, 30)
    tifffile.imwrite(path, img, tile=(256, 256), photometric="rgb", compression="zlib")
    slide = open_image(path)
    level0 = slide.levels[0]
    assert isinstance(level0, da.Array)
    assert level0.chunksize[0] * 4 <= 4096 and level0.chunksize[1] * 4 <= 4096
    assert level0.chunksize[0] % 256 == 0
    # single-level file > 2048 px: lazy 2x levels until the longest side < 1024
    assert [lv.shape[:2] for lv in slide.levels] == [(4096, 4096), (2048, 2048), (1024, 1024),
                                                     (512, 512)]
    assert all(isinstance(lv, da.Array) and lv.dtype == np.uint8 for lv in slide.levels)
    assert slide.metadata["levels_added"] == 3
    np.testing.assert_array_equal(level0[1000:1100, 2000:2100].compute(),
                                  np.broadcast_to(np.uint8([200, 10, 30]), (100, 100, 3)))
    assert tuple(slide.levels[1][525, 1025].compute()) == (200, 10, 30)


def test_strip_and_contiguous_tiff(tmp_path):
    img = rgb(2100, 1500)
    strips = tmp_path / "strips.tif"
    tifffile.imwrite(strips, img, photometric="rgb", rowsperstrip=16)
    contiguous = tmp_path / "contig.tif"
    tifffile.imwrite(contiguous, img, photometric="rgb")
    for path in (strips, contiguous):
        slide = open_image(path)
        np.testing.assert_array_equal(slide.data.compute(), img)
    # uncompressed contiguous data is memory-mapped and split into ~1024 px chunks
    assert open_image(contiguous).data.numblocks[:2] == (3, 2)


def _write_ome_zarr_v05(root, img_cyx, scale_um):
    group = zarr.open_group(root, mode="w", zarr_format=3)
    datasets = []
    level = img_cyx
    for i in range(2):
        arr = group.create_array(str(i), shape=level.shape, dtype=level.dtype,
                                 chunks=(level.shape[0], 128, 128))
        arr[:] = level
        datasets.append({"path": str(i), "coordinateTransformations": [
            {"type": "scale", "scale": [1.0, scale_um * 2**i, scale_um * 2**i]}]})
        level = level[:, ::2, ::2]
    group.attrs["ome"] = {"version": "0.5", "multiscales": [{
        "name": "img",
        "axes": [{"name": "c", "type": "channel"},
                 {"name": "y", "type": "space", "unit": "micrometer"},
                 {"name": "x", "type": "space", "unit": "micrometer"}],
        "datasets": datasets,
    }]}


def test_ome_zarr_v05(tmp_path):
    img = rgb(300, 260)
    root = tmp_path / "sample.ome.zarr"
    _write_ome_zarr_v05(root, np.moveaxis(img, -1, 0).copy(), 0.5)
    slide = open_image(root)
    assert slide.name == "sample"
    assert slide.mpp == pytest.approx(0.5)
    assert [lv.shape for lv in slide.levels] == [(300, 260, 3), (150, 130, 3)]
    np.testing.assert_array_equal(slide.levels[0].compute(), img)
    np.testing.assert_array_equal(slide.levels[1].compute(), img[::2, ::2])
    assert slide.metadata["format"] == "ome-zarr"
    assert "moved channel axis last" in slide.metadata["conversions"]


def test_ome_zarr_v04_tczyx(tmp_path):
    img = rgb(128, 96)
    root = tmp_path / "five.zarr"
    group = zarr.open_group(root, mode="w", zarr_format=2)
    arr = group.create_array("0", shape=(1, 3, 1, 128, 96), dtype=np.uint8,
                             chunks=(1, 3, 1, 64, 64))
    arr[:] = np.moveaxis(img, -1, 0)[None, :, None]
    group.attrs["multiscales"] = [{
        "version": "0.4",
        "axes": [{"name": n, "type": t, **({"unit": "micrometer"} if t == "space" else {})}
                 for n, t in zip("tczyx", ["time", "channel", "space", "space", "space"])],
        "datasets": [{"path": "0", "coordinateTransformations": [
            {"type": "scale", "scale": [1, 1, 1, 0.25, 0.25]}]}],
    }]
    slide = open_image(root)
    assert slide.shape == (128, 96) and slide.mpp == pytest.approx(0.25)
    np.testing.assert_array_equal(slide.data.compute(), img)


def test_plain_zarr_array_and_group(tmp_path):
    img = rgb(200, 180)
    path = tmp_path / "plain.zarr"
    z = zarr.open_array(path, mode="w", shape=img.shape, dtype=np.uint8, chunks=(64, 64, 3))
    z[:] = img
    slide = open_image(path)
    assert slide.name == "plain" and slide.mpp is None and len(slide.levels) == 1
    np.testing.assert_array_equal(slide.data.compute(), img)

    gpath = tmp_path / "group.zarr"
    group = zarr.open_group(gpath, mode="w")
    group.create_array("0", shape=img.shape, dtype=np.uint8, chunks=(64, 64, 3))[:] = img
    np.testing.assert_array_equal(open_image(gpath).data.compute(), img)


def test_png_and_jpeg(tmp_path):
    img = rgb(100, 120)
    png = tmp_path / "tile.png"
    Image.fromarray(img).save(png)
    slide = open_image(png)
    assert slide.name == "tile" and isinstance(slide.data, da.Array)
    np.testing.assert_array_equal(slide.data.compute(), img)

    smooth = smooth_rgb()
    jpg = tmp_path / "photo.jpg"
    Image.fromarray(smooth).save(jpg, quality=95)
    out = open_image(jpg).data.compute().astype(int)
    assert out.shape == smooth.shape
    assert np.abs(out - smooth).mean() < 3


# ----------------------------------------------------------------------------- conversions


def test_gray_png_and_gray_arrays(tmp_path):
    gray = RNG.integers(0, 256, (50, 60), dtype=np.uint8)
    path = tmp_path / "gray.png"
    Image.fromarray(gray).save(path)
    slide = open_image(path)
    out = slide.data.compute()
    assert out.shape == (50, 60, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], gray)
    assert "grayscale replicated to RGB" in slide.metadata["conversions"]
    np.testing.assert_array_equal(to_rgb_uint8(gray[..., None], "g")[..., 1], gray)


def test_rgba_composited_onto_white(tmp_path):
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:16, :, 3] = 255
    rgba[16:, :, 3] = 0
    path = tmp_path / "rgba.png"
    Image.fromarray(rgba, "RGBA").save(path)
    slide = open_image(path)
    out = slide.data.compute()
    assert tuple(out[0, 0]) == (200, 0, 0)
    assert tuple(out[20, 0]) == (255, 255, 255)
    assert "composited alpha onto white" in slide.metadata["conversions"]

    opaque = rgba.copy()
    opaque[..., 3] = 255
    s2 = slide_from_array(opaque)
    np.testing.assert_array_equal(s2.data.compute(), opaque[..., :3])
    assert "alpha fully opaque: dropped" in s2.metadata["conversions"]

    grey_alpha = np.stack([np.full((20, 20), 100, np.uint8), np.full((20, 20), 255, np.uint8)], -1)
    assert tuple(to_rgb_uint8(grey_alpha, "la")[5, 5]) == (100, 100, 100)


def test_uint16_rescaled_by_max(tmp_path):
    img = np.zeros((64, 64, 3), np.uint16)
    img[0, 0] = 4095
    img[1, 1] = 2048
    path = tmp_path / "deep.tif"
    tifffile.imwrite(path, img, photometric="rgb")
    slide = open_image(path)
    out = slide.data.compute()
    assert out.dtype == np.uint8
    assert tuple(out[0, 0]) == (255, 255, 255) and out[1, 1, 0] == 128
    assert slide.metadata["original_dtype"] == "uint16"
    assert any("rescaled" in c for c in slide.metadata["conversions"])
    small = np.full((20, 20), 200, np.uint16)
    assert to_rgb_uint8(small, "s")[0, 0, 0] == 200  # already in 0..255: plain cast
    assert to_rgb_uint8(np.ones((20, 20), bool), "b")[0, 0, 0] == 255


def test_float_conversions():
    f01 = np.full((20, 20, 3), 0.5, np.float32)
    assert to_rgb_uint8(f01, "f")[0, 0, 0] == 128
    f255 = np.full((20, 20, 3), 100.4, np.float64)
    assert to_rgb_uint8(f255, "f")[0, 0, 0] == 100
    wide = np.linspace(-10, 1000, 400).reshape(20, 20)
    out = to_rgb_uint8(wide, "f")
    assert out[0, 0, 0] == 0 and out[-1, -1, 0] == 255
    lazy = to_rgb_uint8(da.from_array(f01, chunks=10), "f")
    assert isinstance(lazy, da.Array) and lazy.compute()[0, 0, 2] == 128


def test_palette_png_and_tiff(tmp_path):
    idx = (np.arange(40 * 40).reshape(40, 40) % 3).astype(np.uint8)
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    pal = Image.fromarray(idx, "P")
    pal.putpalette([v for c in colours for v in c] + [0] * (256 - 3) * 3)
    path = tmp_path / "pal.png"
    pal.save(path)
    out = open_image(path).data.compute()
    assert tuple(out[0, 0]) == colours[0] and tuple(out[0, 1]) == colours[1]

    cmap = np.zeros((3, 256), np.uint16)
    for i, c in enumerate(colours):
        cmap[:, i] = np.array(c) * 257
    tpath = tmp_path / "pal.tif"
    tifffile.imwrite(tpath, idx, photometric="palette", colormap=cmap)
    slide = open_image(tpath)
    out = slide.data.compute()
    assert tuple(out[0, 2]) == colours[2]
    assert "applied TIFF palette colormap" in slide.metadata["conversions"]


def test_channel_first_array():
    img = rgb(40, 50)
    out = to_rgb_uint8(np.moveaxis(img, -1, 0), "cf")
    np.testing.assert_array_equal(out, img)
    slide = slide_from_array(np.moveaxis(img, -1, 0)[None], name="layer", mpp=0.5)
    assert slide.name == "layer" and slide.mpp == 0.5 and slide.path is None
    np.testing.assert_array_equal(slide.data.compute(), img)
    assert slide.metadata["format"] == "array"


def test_slide_from_dask_pyramid_keeps_levels():
    img = rgb(64, 64)
    levels = [da.from_array(img, chunks=32), da.from_array(img[::2, ::2], chunks=32)]
    slide = slide_from_array(levels)
    assert len(slide.levels) == 2 and slide.levels[0] is levels[0]


# ----------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("array", "words"),
    [
        (np.zeros((64, 64, 7), np.uint8), "has 7 channels"),
        (np.zeros((5, 512, 512, 3), np.uint8), "a stack of 5 images"),
        (np.zeros((64, 64, 3), np.complex64), "complex"),
        (np.zeros((0, 64, 3), np.uint8), "empty"),
        (np.zeros((10, 12, 3), np.uint8), "too small"),
        (np.zeros((512,), np.uint8), "not a 2-D image"),
    ],
)
def test_array_refusals(array, words):
    with pytest.raises(InputError) as info:
        slide_from_array(array, name="layer-x")
    check_error(info, "layer-x", words)


def test_file_refusals(tmp_path):
    seven = tmp_path / "slide.tif"
    tifffile.imwrite(seven, np.zeros((7, 64, 64), np.uint8), metadata={"axes": "CYX"})
    with pytest.raises(InputError) as info:
        open_image(seven)
    check_error(info, "slide.tif", "has 7 channels; expected RGB (3), RGBA (4) or grayscale")

    stack = tmp_path / "stack.tif"
    tifffile.imwrite(stack, np.zeros((5, 64, 64, 3), np.uint8), photometric="rgb")
    with pytest.raises(InputError) as info:
        open_image(stack)
    check_error(info, "stack.tif", "a stack of 5 images; expected one 2-D RGB image")


def test_bad_files(tmp_path):
    cases = []
    missing = tmp_path / "missing.svs"
    cases.append((missing, "file not found"))
    empty = tmp_path / "empty.tif"
    empty.write_bytes(b"")
    cases.append((empty, "empty"))
    text = tmp_path / "notes.tif"
    text.write_text("this is not an image\n")
    cases.append((text, "not a readable TIFF file"))
    unknown = tmp_path / "data.xyz"
    unknown.write_text("hello")
    cases.append((unknown, "unsupported file type"))
    folder = tmp_path / "folder"
    folder.mkdir()
    cases.append((folder, "not a zarr store"))

    full = tmp_path / "full.tif"
    tifffile.imwrite(full, rgb(512, 512), tile=(256, 256), photometric="rgb")
    data = full.read_bytes()
    truncated = tmp_path / "cut.tif"
    truncated.write_bytes(data[: len(data) // 2])
    cases.append((truncated, "file is truncated: expected at least"))

    png = tmp_path / "ok.png"
    Image.fromarray(rgb(64, 64)).save(png)
    raw = png.read_bytes()
    bad_png = tmp_path / "bad.png"
    bad_png.write_bytes(raw[: len(raw) // 2])
    cases.append((bad_png, "not a readable PNG file"))
    garbage_png = tmp_path / "garbage.png"
    garbage_png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)
    cases.append((garbage_png, "not a readable PNG file"))

    jpg = tmp_path / "ok.jpg"
    Image.fromarray(smooth_rgb()).save(jpg)
    bad_jpg = tmp_path / "bad.jpg"
    bad_jpg.write_bytes(jpg.read_bytes()[:300])
    cases.append((bad_jpg, "not a readable JPEG file"))

    for path, words in cases:
        with pytest.raises(InputError) as info:
            open_image(path)
        check_error(info, path.name, words)


def test_truncated_message_sizes(tmp_path):
    full = tmp_path / "whole.tif"
    tifffile.imwrite(full, rgb(512, 512), tile=(256, 256), photometric="rgb")
    data = full.read_bytes()
    cut = tmp_path / "cut2.tif"
    cut.write_bytes(data[:-1000])
    with pytest.raises(InputError) as info:
        open_image(cut)
    assert f"expected at least {len(data)} bytes, found {len(data) - 1000}" in str(info.value)


def test_ome_zarr_missing_dataset(tmp_path):
    root = tmp_path / "broken.ome.zarr"
    _write_ome_zarr_v05(root, np.zeros((3, 64, 64), np.uint8), 1.0)
    group = zarr.open_group(root, mode="a")
    attrs = dict(group.attrs["ome"])
    attrs["multiscales"][0]["datasets"].append({"path": "7", "coordinateTransformations": []})
    group.attrs["ome"] = attrs
    with pytest.raises(InputError) as info:
        open_image(root)
    check_error(info, "broken.ome.zarr", "dataset '7' is missing")
