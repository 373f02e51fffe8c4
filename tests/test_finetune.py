"""Improve network from review (issue #25.3): targets from reviewed cells, fine-tuning
(ERM / DAR), cancel, refusal without reviewed cells, the never-worse check and the kept
network's card."""

import json

import numpy as np
import pytest
import torch

from napari_pathrobust.engine.errors import Cancelled, InputError
from napari_pathrobust.engine.progress import Reporter
from napari_pathrobust.engine.psm.finetune import (
    FinetuneConfig,
    finetune_network,
    review_targets,
    reviewed_image,
)
from napari_pathrobust.engine.psm.pseudolabels import IGNORE


def _squares():
    labels = np.zeros((64, 64), np.int32)
    for i, (y, x) in enumerate([(4, 4), (4, 40), (40, 4), (40, 40)], start=1):
        labels[y:y + 14, x:x + 14] = i
    rgb = np.full((64, 64, 3), 230, np.uint8)
    rgb[labels > 0] = (90, 60, 150)
    table = {"label": [1, 2, 3, 4, 9],
             "status": ["accepted", "rejected", "accepted", "unreviewed", "accepted"],
             "painted": [False, False, True, False, False]}
    return rgb, labels, table


@pytest.fixture(scope="module")
def shipped():
    from napari_pathrobust.engine.methods.psm import BUILDERS, SEG_WEIGHTS, _bundled
    from napari_pathrobust.engine.models.weights import load_model_cached

    return load_model_cached(_bundled(SEG_WEIGHTS), BUILDERS)[0]


@pytest.fixture(scope="module")
def synthetic():
    from napari_pathrobust.engine.synthetic import synthetic_he_tile

    rgb, gt = synthetic_he_tile((128, 128), seed=3)
    ids = [int(i) for i in np.unique(gt) if i]
    status = ["accepted"] * 6 + ["rejected"] * 2 + ["unreviewed"] * (len(ids) - 8)
    return rgb, gt, {"label": ids, "status": status}


def test_statuses_and_painted_cells_are_read():
    rgb, labels, table = _squares()
    image = reviewed_image("sq", rgb, labels, table)
    assert image.accepted == {1} and image.rejected == {2} and image.painted == {3}
    assert image.counts() == {"accepted": 1, "rejected": 1, "painted": 1, "unreviewed": 1}
    table["status"][3] = "painted"   # a status says so too
    assert reviewed_image("sq", rgb, labels, table).painted == {3, 4}


def test_targets_from_a_small_review():
    rgb, labels, table = _squares()
    config = FinetuneConfig(pseudo_weight=0.2, ring=3)
    targets, weight = review_targets(reviewed_image("sq", rgb, labels, table), set(), config)
    fg, dist = targets.fg, targets.dist
    for cell, want_fg, want_w in ((1, 1, 1.0), (2, 0, 1.0), (3, 1, 1.0), (4, 1, 0.2)):
        inside = labels == cell
        assert (fg[inside] == want_fg).all() and np.allclose(weight[inside], want_w), cell
    assert dist[labels == 1].max() == pytest.approx(1.0) and dist[labels == 2].max() == 0
    assert weight[2, 10] == 1.0                     # the ring around an accepted cell
    assert weight[30, 30] == pytest.approx(0.2)     # far background: down-weighted
    held, weight = review_targets(reviewed_image("sq", rgb, labels, table), {1}, config)
    assert (held.fg[labels == 1] == IGNORE).all() and (weight[labels == 1] == 0).all()


def test_no_reviewed_cells_is_refused_in_one_line(shipped):
    rgb, labels, table = _squares()
    table["status"] = ["unreviewed"] * 5
    image = reviewed_image("slide.tif", rgb, labels, table)
    with pytest.raises(InputError, match="slide.tif: no reviewed cells") as err:
        finetune_network(shipped, [image], FinetuneConfig(steps=1))
    assert "\n" not in str(err.value)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["erm", "dar"])
def test_finetuning_is_seeded_and_reports(shipped, synthetic, method):
    image = reviewed_image("syn", *synthetic)
    seen = []
    config = FinetuneConfig(method=method, steps=2, crop=64, seed=1)
    first = finetune_network(shipped, [image], config, reporter=Reporter(
        progress=lambda d, t, m: seen.append((d, t))))
    again = finetune_network(shipped, [image], config)
    assert seen and seen[-1] == (2, 2)
    assert first.counts["held_back"] == 2 and first.check["held_back_cells"] == 2
    assert first.kept == again.kept and first.log["strategy"]["strategy"] == method
    for a, b in zip(first.net.state_dict().values(), again.net.state_dict().values()):
        assert torch.equal(a, b)
    before = shipped.state_dict()
    if first.kept:   # the source itself is never trained in place
        assert any(not torch.equal(before[k], v) for k, v in first.net.state_dict().items())


@pytest.mark.parametrize("layers", ["decoder", "all"])
def test_the_decoder_alone_is_trained_by_default(shipped, synthetic, layers):
    image = reviewed_image("syn", *synthetic)
    config = FinetuneConfig(steps=2, crop=64, seed=1, lr=1e-2, layers=layers)
    trained = finetune_network(shipped, [image], config).trained
    moved_encoder = any(not torch.equal(a, b) for a, b in zip(
        shipped.encoder_parameters(), trained.encoder_parameters()))
    moved_head = any(not torch.equal(a, b) for a, b in zip(
        shipped.head_parameters(), trained.head_parameters()))
    assert moved_head and moved_encoder == (layers == "all")
    assert FinetuneConfig().layers == "decoder"
    with pytest.raises(ValueError, match="layers 'encoder'"):
        FinetuneConfig(layers="encoder")


def test_cancel_stops_fine_tuning(shipped, synthetic):
    image = reviewed_image("syn", *synthetic)
    with pytest.raises(Cancelled):
        finetune_network(shipped, [image], FinetuneConfig(steps=2, crop=64),
                         reporter=Reporter(cancel=lambda: True))


def test_never_worse_keeps_the_source_when_fine_tuning_hurts(shipped, synthetic):
    rgb, gt, table = synthetic
    table = dict(table, status=["accepted"] * len(table["label"]))
    image = reviewed_image("syn", rgb, gt, table)
    # a wild step size wrecks the network: the held-back cells get worse
    result = finetune_network(shipped, [image], FinetuneConfig(steps=2, crop=64, lr=5.0))
    assert not result.kept and result.decision == "kept the source network"
    assert result.check["score_after"] < result.check["score_before"]
    assert "worse" in result.reason
    for k, v in shipped.state_dict().items():
        assert torch.equal(result.net.state_dict()[k], v)


def _export(tmp_path, synthetic, statuses=None):
    import tifffile

    from napari_pathrobust.engine.jobs.export import export_labels_tiff

    rgb, gt, table = synthetic
    tifffile.imwrite(tmp_path / "tile.tif", rgb)
    ids = np.asarray(table["label"])
    features = {"label": ids, "x": np.zeros(len(ids)), "y": np.zeros(len(ids)),
                "area": np.ones(len(ids)), "classification": ["Nucleus"] * len(ids),
                "status": statuses or table["status"]}
    for i, cell in enumerate(ids):   # centroids (the job reads around reviewed cells)
        ys, xs = np.nonzero(gt == cell)
        features["y"][i], features["x"][i] = ys.mean(), xs.mean()
    export_labels_tiff(tmp_path / "tile_labels.tif", gt, {"name": "tile"}, features)
    return tmp_path / "tile.tif", tmp_path / "tile_labels.tif"


def test_job_keeps_the_network_with_its_card(tmp_path, synthetic):
    from napari_pathrobust.engine.adapt.saved import default_models_dir, list_adapted
    from napari_pathrobust.engine.jobs.finetune import finetune_to_model
    from napari_pathrobust.engine.registry import available_methods, get_method

    image, result = _export(tmp_path, synthetic)
    config = FinetuneConfig(steps=1, crop=64, lr=0.0, seed=4)  # lr 0: never worse
    out = finetune_to_model([image], [result], "my net", config, device="cpu")
    assert out.result.kept and out.path == default_models_dir() / "my-net.pt"
    card = json.loads(out.path.with_suffix(".json").read_text())
    assert card["finetuned"] and card["adapted"] and card["method"] == "erm"
    assert card["seed"] == 4 and len(card["source_model_hash"]) == 64
    assert card["reviewed"][0]["image"] == str(image)
    assert card["reviewed"][0]["accepted"] == 6 and card["counts"]["rejected"] == 2
    assert card["never_worse"]["decision"] == "fine-tuned network kept"
    assert card["never_worse"]["held_back_cells"] == 2 and card["date"]
    assert card["mpp"] == 0.25
    assert "my-net" in list_adapted() and "psm@my-net" in available_methods()
    assert get_method("psm@my-net", device="cpu").name == "psm@my-net"
    assert "kept as psm@my-net" in out.message


def test_job_refuses_results_without_reviews(tmp_path, synthetic):
    from napari_pathrobust.engine.jobs.finetune import finetune_to_model

    image, result = _export(tmp_path, synthetic,
                            statuses=["unreviewed"] * len(synthetic[2]["label"]))
    with pytest.raises(InputError, match="tile_labels.tif: no reviewed cells"):
        finetune_to_model([image], [result], "x", FinetuneConfig(steps=1), device="cpu")
    with pytest.raises(InputError, match="2 results for 1 images"):
        finetune_to_model([image], [result, result], "x", device="cpu")
