"""PSM: each stage on synthetic tiles, determinism, tiled == untiled, weights and hashes."""

import json
import shutil

import numpy as np
import pytest
import torch

from napari_pathrobust.engine.errors import InputError
from napari_pathrobust.engine.io import slide_from_array
from napari_pathrobust.engine.methods.psm import PSMMethod, PSMParams
from napari_pathrobust.engine.metrics import aji
from napari_pathrobust.engine.psm.clustering import SemanticClustering, kmeans
from napari_pathrobust.engine.psm.instances import instances_from_outputs
from napari_pathrobust.engine.psm.pseudolabels import (
    IGNORE,
    build_targets,
    normalised_distance,
    voronoi_edges,
)
from napari_pathrobust.engine.registry import get_method
from napari_pathrobust.engine.synthetic import synthetic_he_tile
from napari_pathrobust.engine.tiled.pipeline import segment_slide
from napari_pathrobust.engine.tiled.tiling import canonical_relabel


@pytest.fixture(scope="module")
def tile():
    return synthetic_he_tile(shape=(384, 384), seed=0, radius_range=(8, 14))


def test_kmeans_is_seeded_and_finds_blobs():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0, 0], [5, 5, 5], [0, 9, 0]], np.float32)
    x = torch.from_numpy(np.concatenate([c + rng.normal(0, 0.3, (200, 3)) for c in centres])
                         .astype(np.float32))
    a, b = kmeans(x, 3, seed=4), kmeans(x, 3, seed=4)
    assert torch.equal(a, b)
    found = sorted(a.numpy().round().tolist())
    assert found == sorted(centres.tolist())


def test_bundled_weights_match_their_cards(tmp_path):
    from napari_pathrobust._resources import resource_path
    from napari_pathrobust.engine.methods.psm import BUILDERS
    from napari_pathrobust.engine.models.weights import file_sha256, load_model

    for name in ("psm_ssl", "psm_unet"):
        path = resource_path(f"models/{name}.pt")
        card = json.loads(path.with_suffix(".json").read_text())
        assert card["sha256"] == file_sha256(path)
        assert card.get("labels_used", False) is False
        _, loaded_card = load_model(path, BUILDERS)
        assert loaded_card["sha256"] == card["sha256"]
    bad = tmp_path / "psm_unet.pt"
    shutil.copy(resource_path("models/psm_unet.pt"), bad)
    shutil.copy(resource_path("models/psm_unet.json"), tmp_path / "psm_unet.json")
    with open(bad, "ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(InputError, match="hash"):
        load_model(bad, BUILDERS)


def test_voronoi_edges_separate_points():
    edges = voronoi_edges(np.array([[10.0, 10.0], [10.0, 30.0]]), (20, 40))
    cols = np.unique(np.nonzero(edges)[1])
    assert set(cols) <= {19, 20, 21} and edges[:, 20].any() | edges[:, 19].any()


def test_targets_from_a_pseudo_mask(tile):
    _, truth = tile
    targets = build_targets(truth > 0)
    assert set(np.unique(targets.fg)) <= {0, 1, IGNORE}
    assert targets.n_reliable >= 0.7 * targets.n_instances > 10
    inside = targets.dist[targets.fg == 1]
    assert inside.min() >= 0 and inside.max() == pytest.approx(1.0)
    assert (targets.dist[truth == 0] == 0).all()
    # cross-checking with an independent cue can only remove reliable nuclei
    half = np.where(truth % 2 == 1, truth, 0)
    checked = build_targets(truth > 0, agree_with=half)
    assert checked.n_reliable < targets.n_reliable


def test_instances_from_ideal_outputs_recover_truth(tile):
    _, truth = tile
    prob = (truth > 0).astype(np.float32)
    labels = instances_from_outputs(prob, normalised_distance(truth))
    assert aji(truth, labels) > 0.9


def test_clustering_finds_nuclei_from_colour(tile):
    rgb, truth = tile
    scm = SemanticClustering(seed=0).fit(rgb, np.zeros(truth.shape, np.float32))
    mask = scm.pseudo_mask(rgb, np.zeros(truth.shape, np.float32))
    overlap = (mask & (truth > 0)).sum() / max(1, (mask | (truth > 0)).sum())
    assert overlap > 0.6


def test_full_psm_finds_nuclei_and_is_deterministic(tile):
    rgb, truth = tile
    a = segment_slide(slide_from_array(rgb), get_method("psm", device="cpu", seed=1), tile=384)
    b = segment_slide(slide_from_array(rgb), get_method("psm", device="cpu", seed=1), tile=384)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert aji(truth, a.labels.astype(np.int64)) > 0.6  # measured 0.72 (seed 0 tile)
    assert set(a.maps) == {"activation", "pseudomask"}
    assert 0 <= a.maps["activation"].min() and a.maps["activation"].max() <= 1
    assert a.info["parameters"]["model_hash"]["seg"]


@pytest.mark.slow
def test_full_psm_tiled_equals_untiled(tile):
    rgb, _ = tile
    whole = segment_slide(slide_from_array(rgb), get_method("psm", device="cpu"), tile=384,
                          workers=1)
    tiled = segment_slide(slide_from_array(rgb), get_method("psm", device="cpu"), tile=128,
                          workers=2)
    assert tiled.info["n_tiles"] == 9
    np.testing.assert_array_equal(canonical_relabel(whole.labels),
                                  canonical_relabel(tiled.labels))
    np.testing.assert_array_equal(whole.maps["activation"], tiled.maps["activation"])
    np.testing.assert_array_equal(whole.maps["pseudomask"], tiled.maps["pseudomask"])


def test_unknown_parameter_is_refused():
    with pytest.raises(ValueError, match="unknown PSM parameter"):
        get_method("psm", device="cpu", colour="blue")


def _blobs(radii_and_centres, shape=(200, 200)):
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    labels = np.zeros(shape, np.int32)
    for i, (r, (cy, cx)) in enumerate(radii_and_centres, start=1):
        labels[(yy - cy) ** 2 + (xx - cx) ** 2 <= r ** 2] = i
    return labels


@pytest.mark.parametrize("small_nuclei_only", [False, True])
def test_slide_fitted_floor_drops_specks_but_keeps_small_nucleus_tissue(small_nuclei_only):
    grid = [(30 + 45 * i, 30 + 45 * j) for i in range(4) for j in range(4)]
    if small_nuclei_only:
        truth = _blobs([(6, c) for c in grid])                      # ~113 px nuclei
    else:
        specks = [(5, c) for c in grid[12:]]                          # 81 px each
        truth = _blobs([(12, c) for c in grid[:12]] + specks)
    prob = (truth > 0).astype(np.float32)
    method = PSMMethod(maps=False, device="cpu")
    passes = []
    method.network_outputs = lambda rgb: passes.append(1) or (prob, normalised_distance(truth))
    rgb = np.zeros(truth.shape + (3,), np.uint8)
    labels = method.fit(rgb).segment_tile(rgb)
    assert len(passes) == 1        # an image that is its own fit sample: one network pass
    fitted = method.describe()["fitted"]["min_area"]
    # the tile reused the fit's instances; computing them afresh gives the same labels
    assert np.array_equal(labels, method.segment_tile(rgb)) and len(passes) == 2
    if small_nuclei_only:
        assert labels.max() == 16 and fitted == 30        # a quarter of 113 px < 30 px
    else:
        assert labels.max() == 12 and fitted > 100         # the 4 specks are gone


def test_slide_fitted_floor_refuses_a_meaningless_fraction():
    with pytest.raises(ValueError, match="min_area_fraction"):
        PSMParams(min_area_fraction=1.5)
