"""Nucleus segmentation and detection metrics (own implementation of published definitions).

Inputs are 2-D integer label images (0 = background, ids need not be
consecutive).  All overlap statistics come from one sparse contingency table of
(gt, pred) pixel pairs.  Empty conventions: both images empty -> 1.0, exactly
one empty -> 0.0.

- :func:`aji`: Aggregated Jaccard Index (Kumar et al., IEEE TMI 2017): each GT
  nucleus takes the prediction of highest IoU (ties: smallest id); unused
  predictions are added to the union.
- :func:`object_dice`: GlaS object Dice (Sirinukunwattana et al., MedIA 2017),
  partner = largest intersection (ties: smallest id).
- :func:`pixel_scores`: foreground F1 / IoU / precision / recall.
- :func:`detection_scores`: one-to-one Hungarian centroid matching within a radius.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree


class _Table:
    """Areas and sparse intersections of two label images (compact ids 0..n-1)."""

    def __init__(self, gt: np.ndarray, pred: np.ndarray):
        gt, pred = np.asarray(gt), np.asarray(pred)
        if gt.shape != pred.shape:
            raise ValueError(f"shape mismatch: gt {gt.shape} vs pred {pred.shape}")
        self.gt_ids, g = _compact(gt.ravel())
        self.pred_ids, p = _compact(pred.ravel())
        self.ng, self.np_ = len(self.gt_ids), len(self.pred_ids)
        self.gt_area = np.bincount(g[g >= 0], minlength=self.ng).astype(np.int64)
        self.pred_area = np.bincount(p[p >= 0], minlength=self.np_).astype(np.int64)
        both = (g >= 0) & (p >= 0)
        key = g[both].astype(np.int64) * max(self.np_, 1) + p[both]
        n_keys = self.ng * max(self.np_, 1)
        if n_keys <= 4 * key.size + 4096:
            counts = np.bincount(key, minlength=n_keys)
            keys = np.flatnonzero(counts)
            inter = counts[keys]
        else:
            keys, inter = np.unique(key, return_counts=True)
        self.gi = (keys // max(self.np_, 1)).astype(np.int64)
        self.pj = (keys % max(self.np_, 1)).astype(np.int64)
        self.inter = inter.astype(np.int64)
        self.union = self.gt_area[self.gi] + self.pred_area[self.pj] - self.inter


def _compact(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted positive ids and a per-pixel index into them (-1 for background)."""
    if flat.size and flat.min() < 0:
        raise ValueError("labels must be >= 0")
    top = int(flat.max()) if flat.size else 0
    if top <= 4 * flat.size + 1024:  # O(N) look-up table instead of a sort
        present = np.bincount(flat.astype(np.intp, copy=False), minlength=top + 1) > 0
        present[0] = False
        ids = np.flatnonzero(present)
        lut = np.full(top + 1, -1, np.int64)
        lut[ids] = np.arange(ids.size)
        return ids, lut[flat]
    ids, inv = np.unique(flat, return_inverse=True)
    inv = inv.astype(np.int64) - (1 if ids[0] == 0 else 0)
    return ids[ids > 0], np.where(flat > 0, inv, -1)


def _best(owner: np.ndarray, other: np.ndarray, score: np.ndarray, n_owner: int) -> np.ndarray:
    """Per owner index, the pair index with max score (ties: smallest other); -1 if none."""
    best = np.full(n_owner, -1, np.int64)
    if owner.size:
        order = np.lexsort((other, -score, owner))
        first = np.ones(order.size, bool)
        first[1:] = owner[order][1:] != owner[order][:-1]
        best[owner[order][first]] = order[first]
    return best


def _empty_score(t: _Table) -> float | None:
    if t.ng == 0 and t.np_ == 0:
        return 1.0
    if t.ng == 0 or t.np_ == 0:
        return 0.0
    return None


def aji(gt: np.ndarray, pred: np.ndarray, _t: _Table | None = None) -> float:
    """Aggregated Jaccard Index (Kumar et al. 2017)."""
    t = _t or _Table(gt, pred)
    e = _empty_score(t)
    if e is not None:
        return e
    iou = t.inter / t.union
    best = _best(t.gi, t.pj, iou, t.ng)
    hit = best >= 0
    c = t.inter[best[hit]].sum()
    u = t.union[best[hit]].sum() + t.gt_area[~hit].sum()
    used = np.zeros(t.np_, bool)
    used[t.pj[best[hit]]] = True
    u += t.pred_area[~used].sum()
    return float(c / u) if u else 1.0


def object_dice(gt: np.ndarray, pred: np.ndarray, _t: _Table | None = None) -> float:
    """GlaS object-level Dice (Sirinukunwattana et al. 2017)."""
    t = _t or _Table(gt, pred)
    e = _empty_score(t)
    if e is not None:
        return e
    dice = 2.0 * t.inter / (t.gt_area[t.gi] + t.pred_area[t.pj])
    inter_f = t.inter.astype(np.float64)

    def half(owner, other, area, n):
        best = _best(owner, other, inter_f, n)
        d = np.zeros(n)
        d[best >= 0] = dice[best[best >= 0]]
        return float((area * d).sum() / area.sum())

    return 0.5 * (half(t.gi, t.pj, t.gt_area, t.ng) + half(t.pj, t.gi, t.pred_area, t.np_))


def pixel_scores(gt: np.ndarray, pred: np.ndarray) -> dict:
    """Foreground (label > 0) F1 (= pixel Dice), IoU, precision and recall."""
    g, p = np.asarray(gt) > 0, np.asarray(pred) > 0
    tp = int(np.count_nonzero(g & p))
    fp = int(np.count_nonzero(p)) - tp
    fn = int(np.count_nonzero(g)) - tp
    return _prf(tp, fp, fn, iou=True)


def _prf(tp: int, fp: int, fn: int, iou: bool = False) -> dict:
    if tp + fp + fn == 0:
        out = dict(precision=1.0, recall=1.0, f1=1.0)
    else:
        out = dict(
            precision=tp / (tp + fp) if tp + fp else 0.0,
            recall=tp / (tp + fn) if tp + fn else 0.0,
            f1=2 * tp / (2 * tp + fp + fn),
        )
    if iou:
        out["iou"] = tp / (tp + fp + fn) if tp + fp + fn else 1.0
    out.update(tp=tp, fp=fp, fn=fn)
    return out


def centroids(labels: np.ndarray) -> np.ndarray:
    """(N, 2) float (row, col) centroids of the positive labels, in increasing id order."""
    lab = np.asarray(labels)
    ids, idx = _compact(lab.ravel())
    if ids.size == 0:
        return np.zeros((0, 2))
    sel = idx >= 0
    rows, cols = np.divmod(np.flatnonzero(sel), lab.shape[1])
    w = np.bincount(idx[sel], minlength=ids.size).astype(np.float64)
    r = np.bincount(idx[sel], weights=rows, minlength=ids.size) / w
    c = np.bincount(idx[sel], weights=cols, minlength=ids.size) / w
    return np.stack([r, c], axis=1)


def detection_scores(gt_points, pred_points, radius: float = 6.0) -> dict:
    """Hungarian one-to-one matching of points within ``radius``: precision, recall, f1.

    The assignment maximises the number of pairs, then minimises their summed
    distance; it is solved independently on each connected group of candidate pairs.
    """
    gp = np.asarray(gt_points, dtype=np.float64).reshape(-1, 2)
    pp = np.asarray(pred_points, dtype=np.float64).reshape(-1, 2)
    ng, npr = len(gp), len(pp)
    tp = 0
    if ng and npr:
        pairs = cKDTree(gp).sparse_distance_matrix(cKDTree(pp), radius, output_type="coo_matrix")
        keep = pairs.data <= radius
        gi, pj, d = pairs.row[keep], pairs.col[keep], pairs.data[keep]
        if gi.size:
            graph = coo_matrix((np.ones(gi.size), (gi, ng + pj)), shape=(ng + npr,) * 2)
            _, comp = connected_components(graph, directed=False)
            big = radius * (min(ng, npr) + 1) + 1.0  # forbids non-pairs lexicographically
            order = np.argsort(comp[gi], kind="stable")
            gi, pj, d = gi[order], pj[order], d[order]
            starts = np.flatnonzero(np.r_[True, np.diff(comp[gi]) != 0])
            for s, e in zip(starts, np.r_[starts[1:], gi.size]):
                ug, g_loc = np.unique(gi[s:e], return_inverse=True)
                up, p_loc = np.unique(pj[s:e], return_inverse=True)
                if ug.size == 1 or up.size == 1:
                    tp += 1
                    continue
                cost = np.full((ug.size, up.size), big)
                cost[g_loc, p_loc] = d[s:e]
                r, c = linear_sum_assignment(cost)
                tp += int(np.count_nonzero(cost[r, c] < big))
    return _prf(tp, npr - tp, ng - tp)


def evaluate(gt: np.ndarray, pred: np.ndarray, radius: float = 6.0) -> dict:
    """All scores for one image: aji, object_dice, pixel_* and detection_* (flat dict)."""
    t = _Table(gt, pred)
    out = {"aji": aji(gt, pred, t), "object_dice": object_dice(gt, pred, t),
           "n_gt": t.ng, "n_pred": t.np_}
    for k, v in pixel_scores(gt, pred).items():
        out[f"pixel_{k}"] = v
    det = detection_scores(centroids(gt), centroids(pred), radius)
    for k, v in det.items():
        out[f"detection_{k}"] = v
    return out
