"""DAR vs ERM / focal / GCE / class reweighting under injected label noise + long tail.

Datasets (both install offline): ``digits`` (scikit-learn's bundled 8x8 digits, 10
classes) and ``organ`` (MoNuSeg images/ cut into 80 px patches, organ of origin from
the TCGA site code, 4 organs, whole slides held out for testing; see _organ_patches).
Per seed: a balanced clean test split, a training split made long-tailed (factor I)
then symmetrically noisy (rate N), an MLP (encoder 2x hidden + linear head) trained
from the same initialisation by every method. Prints balanced test accuracy (mean +- std
over seeds) as a markdown table, plus DAR's time per epoch and peak memory vs ERM.

    .venv/bin/python benchmarks/bench_dar_classification.py            # full grid
    .venv/bin/python benchmarks/bench_dar_classification.py --quick    # 1 seed, 1 cell
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import DATA  # noqa: E402
from _organ_patches import build_patches, slide_split  # noqa: E402

from napari_pathrobust.engine.training import get_strategy, predict, train_model  # noqa: E402
from napari_pathrobust.engine.training.loop import TensorBatches  # noqa: E402
from napari_pathrobust.engine.training.noise import (  # noqa: E402
    balanced_accuracy,
    long_tail_indices,
    symmetric_noise,
)

METHODS = ("erm", "focal", "gce", "reweight", "dar")


class MLP(nn.Module):
    """Encoder (two hidden layers) + linear classifier head."""

    def __init__(self, d_in: int, n_classes: int, hidden: int = 128):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(),
                                     nn.Linear(hidden, hidden // 2), nn.ReLU())
        self.head = nn.Linear(hidden // 2, n_classes)

    def forward(self, x):
        return self.head(self.encoder(x))


def load(name: str, seed: int, cache: Path):
    """(X_train, y_train, X_test, y_test, n_classes) with a balanced clean test split."""
    rng = np.random.default_rng(seed)
    if name == "digits":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        test = np.concatenate([rng.choice(np.flatnonzero(y == c), 50, replace=False)
                               for c in range(10)])
        train = np.setdiff1d(np.arange(len(y)), test)
        n_classes = 10
    elif name == "organ":
        X, y, slide = build_patches(DATA / "images", cache)
        train, test = slide_split(y, slide, n_test_slides=2, rng=rng)
        n_classes = int(y.max()) + 1
    else:
        raise SystemExit(f"unknown dataset {name}")
    X = X.astype(np.float32)
    return X[train], y[train], X[test], y[test], n_classes


def corrupt(y: np.ndarray, noise: float, imbalance: float, n_classes: int, seed: int):
    """Long-tail subset (class order shuffled per seed) then symmetric label noise."""
    rng = np.random.default_rng(seed + 1000)
    perm = rng.permutation(n_classes)          # which class is the head varies by seed
    keep = long_tail_indices(perm[y], imbalance, rng, n_classes)
    noisy = symmetric_noise(y[keep], noise, n_classes, rng)
    return keep, noisy


def run_one(method, Xtr, ytr, Xte, yte, n_classes, seed, epochs, trace=False, dar=None):
    mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
    xtr = torch.from_numpy((Xtr - mu) / sd)
    xte = torch.from_numpy((Xte - mu) / sd)
    torch.manual_seed(seed)
    model = MLP(xtr.shape[1], n_classes)
    data = TensorBatches(xtr, torch.from_numpy(ytr), batch_size=64)
    kwargs = (dar or {}) if method == "dar" else {}
    res = train_model(model, data, get_strategy(method, **kwargs), n_classes=n_classes,
                      epochs=epochs, lr=0.05, seed=seed, trace_memory=trace)
    acc = balanced_accuracy(yte, predict(model, xte).numpy(), n_classes)
    return acc, res


def print_paired(rows: list[dict], datasets, noises, imbalances) -> None:
    """Per cell: paired DAR - ERM (same split and initialisation) against ERM's std."""
    print("\n| dataset | N | I | DAR - ERM (mean +- std) | ERM std | within ERM std | per seed |")
    print("|---|---|---|---|---|---|---|")
    for ds in datasets:
        for noise in noises:
            for imb in imbalances:
                acc = {m: {r["seed"]: 100 * r["bacc"] for r in rows if r["dataset"] == ds
                           and r["N"] == noise and r["I"] == imb and r["method"] == m}
                       for m in ("erm", "dar")}
                seeds = sorted(acc["erm"])
                d = np.array([acc["dar"][s] - acc["erm"][s] for s in seeds])
                erm_std = np.std([acc["erm"][s] for s in seeds])
                ok = "yes" if d.mean() >= -erm_std else "**no**"
                per = " / ".join(f"{x:+.1f}" for x in d)
                print(f"| {ds} | {noise} | {imb} | {d.mean():+.1f} +- {d.std():.1f} | "
                      f"{erm_std:.1f} | {ok} | {per} |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["digits", "organ"])
    ap.add_argument("--methods", nargs="+", default=list(METHODS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--noise", nargs="+", type=float, default=[0.2, 0.4])
    ap.add_argument("--imbalance", nargs="+", type=float, default=[0.1, 0.02])
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache/pathrobust-bench")
    ap.add_argument("--json", type=Path, default=None, help="also write all results here")
    ap.add_argument("--quick", action="store_true", help="1 seed, N=0.4, I=0.02 only")
    ap.add_argument("--dar", type=json.loads, default={},
                    help='JSON overrides of the DAR settings, e.g. \'{"warmup_epochs": 5}\'')
    a = ap.parse_args(argv)
    if a.quick:
        a.seeds, a.noise, a.imbalance = a.seeds[:1], [0.4], [0.02]
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    rows, cost = [], {}
    for ds in a.datasets:
        for seed in a.seeds:
            Xtr, ytr, Xte, yte, C = load(ds, seed, a.cache)
            for noise in a.noise:
                for imb in a.imbalance:
                    keep, noisy = corrupt(ytr, noise, imb, C, seed)
                    for m in a.methods:
                        trace = seed == a.seeds[0] and m in ("erm", "dar")
                        acc, res = run_one(m, Xtr[keep], noisy, Xte, yte, C, seed,
                                           a.epochs, trace, a.dar)
                        rows.append({"dataset": ds, "N": noise, "I": imb, "seed": seed,
                                     "method": m, "bacc": acc, "n_train": len(keep),
                                     "s_per_epoch": res.seconds_per_epoch})
                        if trace:
                            cost.setdefault((ds, m), []).append(
                                (res.seconds_per_epoch, res.params["peak_traced_bytes"]))
    print(f"# {len(rows)} runs in {time.perf_counter() - t0:.0f} s, seeds {a.seeds}, "
          f"{a.epochs} epochs; balanced test accuracy %, mean +- std over seeds\n")
    for ds in a.datasets:
        print(f"\n{ds}\n")
        print("| N | I | n_train | " + " | ".join(a.methods) + " | DAR - ERM |")
        print("|---" * (len(a.methods) + 4) + "|")
        for noise in a.noise:
            for imb in a.imbalance:
                sel = [r for r in rows if r["dataset"] == ds and r["N"] == noise
                       and r["I"] == imb]
                cells, by = [], {}
                for m in a.methods:
                    v = 100 * np.array([r["bacc"] for r in sel if r["method"] == m])
                    by[m] = v
                    cells.append(f"{v.mean():.1f} +- {v.std():.1f}")
                diff = (f"{(by['dar'] - by['erm']).mean():+.1f}"
                        if "dar" in by and "erm" in by else "")
                n_tr = int(np.mean([r["n_train"] for r in sel]))
                print(f"| {noise} | {imb} | {n_tr} | " + " | ".join(cells) + f" | {diff} |")
    if "dar" in a.methods and "erm" in a.methods:
        print_paired(rows, a.datasets, a.noise, a.imbalance)
    print("\n| dataset | method | s / epoch | peak traced MiB |\n|---|---|---|---|")
    for (ds, m), v in sorted(cost.items()):
        s, b = np.mean([x[0] for x in v]), np.max([x[1] for x in v])
        print(f"| {ds} | {m} | {s:.3f} | {b / 2**20:.2f} |")
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
