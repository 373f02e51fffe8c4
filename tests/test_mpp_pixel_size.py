"""Pixel size of every input (issue 15): SVS MPP, OME PhysicalSizeX/Y, TIFF resolution
tags, PNG dpi, OME-Zarr scale; screen dpi, missing and implausible values are unknown;
a user's value wins."""

import numpy as np
import pytest
import tifffile

from napari_pathrobust.engine.errors import InputError
from napari_pathrobust.engine.io import open_image, slide_from_array, with_pixel_size

RGB = np.full((64, 64, 3), 180, np.uint8)


def _tiff(path, **kwargs):
    tifffile.imwrite(path, RGB, photometric="rgb", **kwargs)
    return path


def test_tiff_resolution_in_cm_and_inch(tmp_path):
    cm = open_image(_tiff(tmp_path / "cm.tif", resolution=(20000, 20000),
                          resolutionunit="CENTIMETER"))
    assert cm.mpp == pytest.approx(0.5) and "TIFF" in cm.mpp_source
    inch = open_image(_tiff(tmp_path / "in.tif", resolution=(25400 / 0.25, 25400 / 0.25),
                            resolutionunit="INCH"))
    assert inch.mpp == pytest.approx(0.25) and "inch" in inch.mpp_source


def test_tiff_x_and_y_resolution_are_averaged(tmp_path):
    slide = open_image(_tiff(tmp_path / "xy.tif", resolution=(20000, 10000),
                             resolutionunit="CENTIMETER"))
    assert slide.mpp == pytest.approx(0.75)


@pytest.mark.parametrize("dpi", [72, 96])
def test_screen_dpi_is_unknown(tmp_path, dpi):
    slide = open_image(_tiff(tmp_path / "screen.tif", resolution=(dpi, dpi),
                             resolutionunit="INCH"))
    assert slide.mpp is None and slide.mpp_source is None
    assert "screen" in slide.metadata["mpp_note"]
    cm = open_image(_tiff(tmp_path / "screen_cm.tif", resolution=(dpi / 2.54, dpi / 2.54),
                          resolutionunit="CENTIMETER"))
    assert cm.mpp is None


def test_missing_and_implausible_sizes_are_unknown(tmp_path):
    assert open_image(_tiff(tmp_path / "plain.tif")).mpp is None
    # 100 px per cm = 100 um/px; 1e6 px/cm = 0.01 um/px: both outside 0.05-5 um/px
    for i, res in enumerate((100, 1e6)):
        slide = open_image(_tiff(tmp_path / f"odd{i}.tif", resolution=(res, res),
                                 resolutionunit="CENTIMETER"))
        assert slide.mpp is None and "implausible" in slide.metadata["mpp_note"]
    none_unit = open_image(_tiff(tmp_path / "nounit.tif", resolution=(4e4, 4e4),
                                 resolutionunit="NONE"))
    assert none_unit.mpp is None


def test_svs_mpp(tmp_path):
    desc = "Aperio Image Library v12.0.15\r\n64x64 [0,0 64x64] (256x256) JPEG/RGB Q=70|" \
           "AppMag = 20|MPP = 0.4990"
    slide = open_image(_tiff(tmp_path / "slide.svs", description=desc))
    assert slide.mpp == pytest.approx(0.499) and slide.mpp_source == "Aperio MPP"


def test_ome_physical_size_x_y_with_units(tmp_path):
    path = tmp_path / "a.ome.tif"
    tifffile.imwrite(path, RGB, photometric="rgb", metadata={
        "axes": "YXS", "PhysicalSizeX": 500, "PhysicalSizeXUnit": "nm",
        "PhysicalSizeY": 0.5, "PhysicalSizeYUnit": "µm"})
    slide = open_image(path)
    assert slide.mpp == pytest.approx(0.5) and slide.mpp_source == "OME PhysicalSizeX/Y"


def test_ome_zarr_scale(tmp_path):
    import zarr

    root = zarr.open_group(str(tmp_path / "s.ome.zarr"), mode="w", zarr_format=3)
    root.create_array("0", data=RGB, chunks=(64, 64, 3))
    root.attrs["ome"] = {"version": "0.5", "multiscales": [{
        "axes": [{"name": "y", "type": "space", "unit": "micrometer"},
                 {"name": "x", "type": "space", "unit": "micrometer"},
                 {"name": "c", "type": "channel"}],
        "datasets": [{"path": "0", "coordinateTransformations": [
            {"type": "scale", "scale": [0.5, 0.5, 1.0]}]}]}]}
    slide = open_image(tmp_path / "s.ome.zarr")
    assert slide.mpp == pytest.approx(0.5) and slide.mpp_source == "OME-Zarr scale"


def test_png_dpi(tmp_path):
    from PIL import Image

    Image.fromarray(RGB).save(tmp_path / "micro.png", dpi=(25400 / 0.5, 25400 / 0.5))
    Image.fromarray(RGB).save(tmp_path / "screen.png", dpi=(72, 72))
    assert open_image(tmp_path / "micro.png").mpp == pytest.approx(0.5, rel=1e-3)
    assert open_image(tmp_path / "screen.png").mpp is None


def test_user_value_wins_over_the_file(tmp_path):
    path = _tiff(tmp_path / "cm.tif", resolution=(20000, 20000), resolutionunit="CENTIMETER")
    slide = open_image(path, mpp=0.25)
    assert slide.mpp == 0.25 and slide.mpp_source == "user"
    assert slide.metadata["mpp_in_file"] == pytest.approx(0.5)
    assert with_pixel_size(open_image(path), None).mpp == pytest.approx(0.5)
    assert slide_from_array(RGB, mpp=0.3).mpp_source == "given"


@pytest.mark.parametrize("bad", [0, -0.5, "abc", float("nan"), float("inf")])
def test_user_value_must_be_positive(tmp_path, bad):
    path = _tiff(tmp_path / "x.tif")
    with pytest.raises(InputError, match="positive number of microns"):
        open_image(path, mpp=bad)
