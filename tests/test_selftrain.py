"""Instance split rules and confidence-filtered self-training targets."""

import numpy as np
import pytest
import torch

from napari_pathrobust.engine.metrics import aji
from napari_pathrobust.engine.models.unet import CompactUNet
from napari_pathrobust.engine.psm.instances import InstanceParams, instances_from_outputs
from napari_pathrobust.engine.psm.pseudolabels import IGNORE, Targets, normalised_distance
from napari_pathrobust.engine.psm.selftrain import (
    SelfTrainingRule,
    predict_maps,
    self_training_targets,
)


def _discs(shape, centres, radius):
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    labels = np.zeros(shape, np.int32)
    for i, (r, c) in enumerate(centres, start=1):
        labels[(yy - r) ** 2 + (xx - c) ** 2 <= radius ** 2] = i
    return labels


@pytest.mark.parametrize("split", ["distance", "cores"])
def test_touching_pair_is_split_by_both_rules(split):
    truth = _discs((64, 96), [(32, 34), (32, 58)], 13)  # overlapping discs: one blob
    prob = (truth > 0).astype(np.float32)
    labels = instances_from_outputs(prob, normalised_distance(truth), InstanceParams(split=split))
    assert labels.max() == 2 and aji(truth, labels) > 0.85


def test_distance_split_uses_the_mask_when_centreness_is_flat():
    truth = _discs((64, 96), [(32, 34), (32, 58)], 13)
    flat = np.zeros(truth.shape, np.float32)  # a network with no centre-ness at all
    labels = instances_from_outputs((truth > 0).astype(np.float32), flat)
    assert labels.max() == 2


def test_unknown_split_rule_is_refused():
    with pytest.raises(ValueError, match="split rule"):
        InstanceParams(split="voronoi")


def _previous(shape):
    fg = np.zeros(shape, np.uint8)
    fg[:, 60:] = IGNORE
    known = _discs(shape, [(20, 20)], 8)
    fg[known > 0] = 1
    return Targets(fg, normalised_distance(known), np.zeros((0, 2)), 1, 1), known


def test_self_training_adds_confident_nuclei_and_drops_unsure_background():
    shape = (64, 96)
    previous, known = _previous(shape)
    new = _discs(shape, [(40, 45)], 9)          # confident, unknown so far
    faint = _discs(shape, [(15, 80)], 9)        # predicted but not confident
    crumb = _discs(shape, [(8, 45)], 5)         # confident, but too small for a nucleus
    prob = np.zeros(shape, np.float32)
    prob[known > 0] = 0.95
    prob[new > 0] = 0.9
    prob[faint > 0] = 0.6
    prob[crumb > 0] = 0.95
    prob[50:, :10] = 0.3                        # unsure background
    dist = normalised_distance(known + 2 * new + 3 * faint + 4 * crumb)
    targets, added = self_training_targets(prob, dist, previous, SelfTrainingRule(0.8))
    assert added == 1 and targets.n_reliable == 2
    assert (targets.fg[new > 0] == 1).all() and (targets.fg[known > 0] == 1).all()
    assert (targets.fg[faint > 0] == IGNORE).all()   # was ignored before, stays so
    assert (targets.fg[50:, :10] == IGNORE).all()
    assert (targets.fg[crumb > 0] == IGNORE).all()   # not added, not taught as background
    assert (targets.fg[:40, 5] == 0).all()           # confident background stays
    assert targets.dist[new > 0].max() == pytest.approx(1.0)


def test_self_training_keeps_the_background_rim_of_every_nucleus():
    shape = (64, 96)
    previous, known = _previous(shape)
    halo = _discs(shape, [(20, 20)], 10) > 0        # the soft rim a network predicts
    prob = np.where(halo, 0.4, 0.0).astype(np.float32)
    prob[known > 0] = 0.95
    rim = halo & (known == 0)
    targets, _ = self_training_targets(prob, normalised_distance(known), previous)
    assert (targets.fg[rim] == 0).all()             # the outline stays supervised
    loose, _ = self_training_targets(prob, normalised_distance(known), previous,
                                     SelfTrainingRule(ring=0))
    assert (loose.fg[rim] == IGNORE).all()


@pytest.mark.parametrize("bad", [dict(confident=0.4), dict(ring=-1), dict(min_area=-5)])
def test_self_training_refuses_a_meaningless_rule(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        SelfTrainingRule(**bad)


def test_predict_maps_covers_odd_sized_images_and_keeps_training_mode():
    torch.manual_seed(0)
    net = CompactUNet(width=4).train()
    rgb = np.random.default_rng(0).integers(0, 255, (37, 50, 3), dtype=np.uint8)
    prob, dist = predict_maps(net, rgb, torch.device("cpu"))
    assert prob.shape == dist.shape == (37, 50)
    assert 0 <= prob.min() and prob.max() <= 1 and net.training


def test_self_training_progress_runs_once_to_the_end(demo_image, tmp_path):
    from napari_pathrobust.engine.jobs.train_psm import train_downstream
    from napari_pathrobust.engine.jobs.training_images import load_training_images
    from napari_pathrobust.engine.progress import Reporter

    calls = []
    out = train_downstream([demo_image], load_training_images([demo_image]),
                           tmp_path / "seg.pt", steps=2, batch=2, crop=128, width=4,
                           device="cpu", self_training_rounds=2,
                           reporter=Reporter(progress=lambda d, n, m="": calls.append((d, n))))
    done = [d for d, _ in calls]
    assert done == sorted(done) and calls[-1][0] == calls[-1][1] == 10 + 30 * 3
    assert [r["round"] for r in out["self_training"]] == [1, 2]
    assert out["total_seconds"] >= out["seconds"]

