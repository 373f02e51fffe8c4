"""Slide-level adaptation: BatchNorm re-estimation, Reinhard normalisation, the
never-worse gate, and the outcome segmenting like the source when it rolls back."""

import numpy as np
import pytest
import torch

from napari_pathrobust.engine.adapt.bn_stats import reestimate_bn
from napari_pathrobust.engine.adapt.gate import GateThresholds, decide
from napari_pathrobust.engine.adapt.slide import SlideAdaptConfig, sample_boxes
from napari_pathrobust.engine.adapt.stain_norm import (
    TRAINING_LAB,
    ReinhardNormaliser,
    lab_statistics,
    lab_to_rgb,
    rgb_to_lab,
)
from napari_pathrobust.engine.models.unet import CompactUNet


def _net(seed=0):
    torch.manual_seed(seed)
    return CompactUNet(width=4, depth=2, outputs=2).eval()


def _batches(seed=1, n=3):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(1, 3, 32, 32, generator=g) * 2 + 1 for _ in range(n)]


def test_bn_reestimation_changes_only_bn_buffers_and_is_deterministic():
    net = _net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    assert reestimate_bn(net, _batches()) == 3
    after = net.state_dict()
    changed = {k for k in after if not torch.equal(after[k], before[k])}
    assert changed and all(k.endswith(("running_mean", "running_var")) for k in changed)
    assert not net.training
    twin = _net()
    reestimate_bn(twin, _batches())
    for k, v in twin.state_dict().items():
        assert torch.equal(v, after[k]), k
    half = _net()
    reestimate_bn(half, _batches(), weight=0.5)
    key = next(k for k in changed if k.endswith("running_mean"))
    assert torch.allclose(half.state_dict()[key], 0.5 * (before[key] + after[key]), atol=1e-6)
    none = _net()
    reestimate_bn(none, [], weight=1.0)  # no tile: source statistics kept
    for k, v in none.state_dict().items():
        assert torch.equal(v, before[k]), k


def _tissue(seed=0, shape=(96, 96)):
    from napari_pathrobust.engine.synthetic import synthetic_he_tile

    return synthetic_he_tile(shape, seed=seed)[0]


def test_lab_round_trip_and_training_statistics_image_maps_to_itself():
    rgb = _tissue()
    assert np.abs(lab_to_rgb(rgb_to_lab(rgb)).astype(int) - rgb).max() <= 1
    normalised = ReinhardNormaliser().fit(rgb)(rgb)
    stats = lab_statistics(normalised)
    for (m, s), (m0, s0) in zip(stats, TRAINING_LAB):
        assert abs(m - m0) < 0.1 * s0 + 0.01 and abs(s - s0) < 0.15 * s0
    again = ReinhardNormaliser().fit(normalised)(normalised)  # already at the statistics
    assert np.abs(again.astype(int) - normalised).mean() < 4.0
    assert np.array_equal(ReinhardNormaliser()(rgb), lab_to_rgb(rgb_to_lab(rgb)))


SIGNALS = {"flip_agreement": 0.9, "confidence": 0.8, "fraction": 0.2, "count_per_mpx": 500.0,
           "median_area": 300.0}


@pytest.mark.parametrize("change, keep, why", [
    ({}, False, "no clear gain"),
    ({"confidence": 0.9}, True, "more consistent"),
    ({"flip_agreement": 0.92, "confidence": 0.797}, True, "more consistent"),
    ({"flip_agreement": 0.95, "confidence": 0.7}, False, "less consistent"),
    ({"confidence": 0.95, "fraction": 0.5}, False, "nucleus fraction"),
    ({"confidence": 0.95, "median_area": 100.0}, False, "nucleus size"),
])
def test_gate_decisions(change, keep, why):
    strict = GateThresholds(min_gain=0.01, max_drop=0.005, max_ratio=1.6)
    d = decide(SIGNALS, {**SIGNALS, **change}, strict)
    assert d.keep is keep and why in d.reason, d.reason


def test_default_gate_needs_a_gain_and_plausible_nuclei():
    assert not decide(SIGNALS, dict(SIGNALS)).keep  # nothing changed: source
    assert decide(SIGNALS, {**SIGNALS, "confidence": 0.82}).keep
    assert not decide(SIGNALS, {**SIGNALS, "confidence": 0.9, "fraction": 0.7}).keep


def test_sample_boxes_cover_small_images_and_are_seeded():
    boxes = sample_boxes((1000, 1000), 256, 100)
    covered = np.zeros((1000, 1000), bool)
    for y0, x0, y1, x1 in boxes:
        assert (y1 - y0, x1 - x0) == (256, 256)
        covered[y0:y1, x0:x1] = True
    assert covered.all()
    assert sample_boxes((5000, 4000), 256, 8, seed=3) == sample_boxes((5000, 4000), 256, 8, 3)
    assert len(sample_boxes((5000, 4000), 256, 8)) == 8
    small = sample_boxes((100, 60), 256, 8)
    assert {(y1 - y0, x1 - x0) for y0, x0, y1, x1 in small} == {(96, 56)}
    assert max(b[2] for b in small) == 100 and max(b[3] for b in small) == 60
    with pytest.raises(ValueError):
        SlideAdaptConfig(method="bogus")


@pytest.mark.slow
def test_clean_image_keeps_source_and_equals_source_labels():
    """On the bundled clean demo crop the gate rolls back: labels equal plain PSM's."""
    from napari_pathrobust._sample_data import demo_crop
    from napari_pathrobust.engine.adapt.slide import AdaptedNetworkMethod, adapt_to_slide
    from napari_pathrobust.engine.io import slide_from_array
    from napari_pathrobust.engine.methods.psm import PSMMethod
    from napari_pathrobust.engine.tiled.pipeline import segment_slide

    (rgb, _kwargs, _), = demo_crop()
    rgb = np.ascontiguousarray(rgb[..., :3])

    def labels(method):
        return np.asarray(segment_slide(slide_from_array(rgb), method, tile=1024,
                                        workers=1).labels)

    psm = PSMMethod(maps=False, device="cpu")
    adaptation = adapt_to_slide(rgb, psm, SlideAdaptConfig())
    assert not adaptation.kept, adaptation.summary()
    assert adaptation.summary().startswith("kept source (stain): ")
    assert np.array_equal(labels(AdaptedNetworkMethod(psm, adaptation)),
                          labels(PSMMethod(maps=False, device="cpu")))


def test_adaptation_reads_tissue_at_the_working_resolution(demo_image):
    """Adaptation samples what the network segments: the working grid (a 20x image is
    read at 40x) and tissue, not the glass around it."""
    from PIL import Image

    from napari_pathrobust.engine.io import slide_from_array
    from napari_pathrobust.engine.jobs.adapt import adaptation_sample
    from napari_pathrobust.engine.methods.psm import PSMMethod
    from napari_pathrobust.engine.tiled.sampling import tissue_fraction

    psm = PSMMethod(device="cpu")
    rgb = np.asarray(Image.open(demo_image).convert("RGB"))
    same = adaptation_sample(slide_from_array(rgb, mpp=0.25), psm)
    assert same.shape[:2] == rgb.shape[:2]
    half = rgb[::2, ::2]
    at_20x = adaptation_sample(slide_from_array(half, mpp=0.5), psm)
    assert abs(at_20x.shape[0] - rgb.shape[0]) <= 2  # resampled to the working grid
    glass = np.full((2600, 2600, 3), 242, np.uint8)
    glass[1000:1000 + rgb.shape[0], 1000:1000 + rgb.shape[1]] = rgb
    sample = adaptation_sample(slide_from_array(glass, mpp=0.25), psm)
    boxes = sample_boxes(sample.shape, 256, 8, keep=lambda b: tissue_fraction(
        sample[b[0]:b[2], b[1]:b[3]]) > 0.5)  # as adapt_to_slide chooses its tiles
    assert len(boxes) >= 1 and all(tissue_fraction(sample[y0:y1, x0:x1]) > 0.5
                                   for y0, x0, y1, x1 in boxes)
    assert tissue_fraction(glass) < 0.1  # the slide itself is mostly glass
