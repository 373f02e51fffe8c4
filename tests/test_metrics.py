import importlib.util
from pathlib import Path

import numpy as np
import pytest

from napari_pathrobust.engine import metrics as M
from napari_pathrobust.engine.synthetic import synthetic_he_tile

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval" / "nuclei_metrics.py"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "monuseg-train"


def test_identical_and_empty():
    _, lab = synthetic_he_tile((64, 64), seed=1)
    e = M.evaluate(lab, lab)
    assert e["aji"] == e["object_dice"] == e["pixel_f1"] == e["detection_f1"] == 1.0
    z = np.zeros_like(lab)
    assert M.aji(z, z) == M.object_dice(z, z) == M.pixel_scores(z, z)["f1"] == 1.0
    assert M.aji(lab, z) == M.aji(z, lab) == M.object_dice(lab, z) == 0.0
    assert M.pixel_scores(lab, z)["f1"] == 0.0


def test_aji_hand_example():
    gt = np.zeros((6, 6), int)
    gt[0:2, 0:2] = 1  # 4 px
    pred = np.zeros_like(gt)
    pred[0:2, 1:3] = 5  # overlaps 2 px: IoU 2/6
    pred[4:5, 0:3] = 9  # unused prediction, 3 px
    assert M.aji(gt, pred) == pytest.approx(2 / 9)
    # one prediction chosen by two GT nuclei is counted in the union twice
    gt2 = np.zeros((4, 4), int)
    gt2[0, 0:2], gt2[1, 0:2] = 1, 2
    pred2 = np.zeros_like(gt2)
    pred2[0:2, 0:2] = 3
    assert M.aji(gt2, pred2) == pytest.approx(4 / 8)


def test_object_dice_hand_example():
    gt = np.zeros((6, 6), int)
    gt[0:2, 0:2] = 1
    pred = np.zeros_like(gt)
    pred[0:2, 1:3] = 2
    assert M.object_dice(gt, pred) == pytest.approx(0.5)
    pred[5, 5] = 3  # extra 1-px prediction without partner: weight 1/5 of the pred half
    assert M.object_dice(gt, pred) == pytest.approx(0.5 * (0.5 + 0.5 * 4 / 5))


def test_pixel_scores():
    gt = np.array([[1, 1, 0, 0]])
    pred = np.array([[0, 2, 2, 0]])
    s = M.pixel_scores(gt, pred)
    assert s["precision"] == s["recall"] == s["f1"] == 0.5
    assert s["iou"] == pytest.approx(1 / 3)


def test_detection_hungarian_beats_greedy():
    gt = [(0, 0), (0, 5)]
    pred = [(0, 4), (0, 9)]
    s = M.detection_scores(gt, pred, radius=5)
    assert s["tp"] == 2 and s["f1"] == 1.0
    s = M.detection_scores(gt, [(20, 20)], radius=5)
    assert s["tp"] == 0 and s["precision"] == 0.0
    assert M.detection_scores([], [], 6)["f1"] == 1.0


def test_centroids():
    lab = np.zeros((5, 5), int)
    lab[0:2, 0:2] = 7
    lab[4, 2:5] = 3
    np.testing.assert_allclose(M.centroids(lab), [[4, 3], [0.5, 0.5]])


@pytest.mark.skipif(not (EVAL.exists() and (DATA / "labels").is_dir()),
                    reason="shared evaluator or data not available")
def test_agrees_with_shared_evaluator():
    import tifffile

    from napari_pathrobust.engine.methods.classical import ClassicalMethod

    spec = importlib.util.spec_from_file_location("shared_nuclei_metrics", EVAL)
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    for stem in sorted(p.stem for p in (DATA / "labels").glob("*.tif"))[:2]:
        gt = tifffile.imread(DATA / "labels" / f"{stem}.tif")
        rgb = tifffile.imread(DATA / "images" / f"{stem}.tif")[..., :3]
        pred = ClassicalMethod().segment_tile(rgb)
        ours, theirs = M.evaluate(gt, pred), ref.evaluate_pair(gt, pred)
        for a, b in [("aji", "aji"), ("object_dice", "dice_obj"), ("pixel_f1", "pix_f1"),
                     ("pixel_iou", "pix_iou"), ("detection_f1", "det_f1"),
                     ("detection_precision", "det_precision")]:
            assert abs(ours[a] - theirs[b]) < 1e-6, (stem, a)
