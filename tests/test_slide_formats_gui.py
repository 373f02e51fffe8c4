"""napari's File > Open on vendor slides goes through this plugin's reader: a multiscale
RGB image layer at the slide's pixel size, or one clear error for a bad file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _wsi_writers import write_dicom_wsi, write_philips_tiff

pytestmark = pytest.mark.gui

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "data" / "wsi-fixtures"


def test_viewer_opens_vendor_slides_as_multiscale_images(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    img = np.random.default_rng(0).integers(0, 256, (1200, 1000, 3), dtype=np.uint8)
    cases = [(write_philips_tiff(tmp_path / "ph.tiff", img, mpp=0.25), 0.25, 3, (1200, 1000)),
             (write_dicom_wsi(tmp_path / "dicom", img, mpp=0.5, n_levels=2)[1], 0.5, 2,
              (1200, 1000))]
    if FIXTURES.is_dir():
        cases.append((FIXTURES / "boxes.tiff", 1.0, 4, (250, 300)))  # no pixel size: pixels
        cases.append((FIXTURES / "boxes_0.dcm", 0.499, 1, (16, 16)))
    for path, mpp, n_levels, shape in cases:
        layer, = viewer.open(str(path), plugin="napari-pathrobust")
        assert layer.rgb and layer.multiscale == (n_levels > 1), path
        levels = list(layer.data) if layer.multiscale else [layer.data]
        assert len(levels) == n_levels and tuple(levels[0].shape) == shape + (3,), path
        assert tuple(layer.scale) == pytest.approx((mpp, mpp)), path

def test_viewer_refuses_a_bad_slide_with_one_line(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    lost = tmp_path / "lost.mrxs"
    lost.write_text("[GENERAL]\n")
    with pytest.raises(Exception) as info:  # napari wraps the reader's InputError
        viewer.open(str(lost), plugin="napari-pathrobust")
    assert "lost.mrxs: MIRAX data folder 'lost/' is missing" in str(info.value)
    assert len(viewer.layers) == 0
