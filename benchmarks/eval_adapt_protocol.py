"""Adaptation as a user runs it, on whole MoNuSeg tiles under shifts nobody tuned on.

    .venv/bin/python benchmarks/eval_adapt_protocol.py --split report [--quick]
        [--methods stain,bn,stain+bn,tent,ocl] [--strengths mild,strong]
        [--rows rows.jsonl] [--table rows.jsonl ...] [--train-stats]

Protocol: every labelled train-13 tile of the split, whole (1000 x 1000), under each
shift family of ``_shift_families.py`` at each strength (and clean). Per tile and
condition: ``none`` = the shipped PSM network segmenting the image (pipeline, one
tile); each method = ``adapt_to_slide`` on the image with default settings, then the
pipeline segments all of it with the adapted network (``AdaptedNetworkMethod``), i.e.
what ``pathrobust adapt`` and the Adapt widget do. ``gated`` = the gate's choice
(the adapted labels when kept, else the source labels, which it then equals exactly).

Split by organ (TCGA site code, _organ_patches.TSS_ORGAN): TUNE = lung, kidney,
prostate (8 tiles; used to choose the default method and the gate thresholds);
REPORT = breast, colon (5 tiles; reported only). Labels are read only to score (AJI
of ../shared/eval/nuclei_metrics.py). One thread. ``--table`` re-tabulates saved
rows (several files: shards), ``--gate`` re-decides them with other thresholds.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
from _harness import DATA, EVALUATOR, segment_whole, train13
from _shift_families import STRENGTHS, conditions, shift

SPLITS = {"tune": ("lung", "kidney", "prostate"), "report": ("breast", "colon")}
METHODS = ("stain", "bn", "ocl")


def _aji():
    spec = importlib.util.spec_from_file_location("nuclei_metrics", EVALUATOR)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return lambda gt, pred: float(mod.aji(gt, pred)["aji"])


def train_stats(data: Path) -> None:
    """Print the tissue colour statistics (stain_norm.TRAINING_LAB) of all images."""
    import tifffile

    from napari_pathrobust.engine.adapt.stain_norm import lab_statistics

    files = sorted((data / "images").glob("*.tif"))
    rng = np.random.default_rng(0)
    px = np.concatenate([tifffile.imread(f)[..., :3].reshape(-1, 3)[
        rng.choice(10**6, 100_000, replace=False)] for f in files])
    print(len(files), tuple((round(m, 4), round(s, 4)) for m, s in
                            lab_statistics(px, max_pixels=len(px))))


def run(args) -> list[dict]:
    import torch

    from napari_pathrobust.engine.adapt.slide import (
        AdaptedNetworkMethod,
        SlideAdaptConfig,
        adapt_to_slide,
    )
    from napari_pathrobust.engine.methods.psm import PSMMethod

    torch.set_num_threads(1)
    aji = _aji()
    tiles = list(train13(args.data, organs=SPLITS[args.split]))
    if args.quick:
        tiles = tiles[:2]
    shard, n_shards = (int(v) for v in args.shard.split("/"))
    strengths = args.strengths.split(",")
    families = args.families.split(",") if args.families else None
    conds = conditions(strengths, families)
    methods = args.methods.split(",")
    rows, out = [], open(args.rows, "a") if args.rows else None
    jobs = [(t, c) for t in tiles for c in conds]
    for k, (tile, (family, strength)) in enumerate(jobs):
        if k % n_shards != shard:
            continue
        img = shift(tile.rgb, family, strength)
        gt = tile.gt.astype(np.int64)
        base = dict(tile=tile.stem, family=family, strength=strength)
        t0 = time.perf_counter()
        source = segment_whole(img, PSMMethod(maps=False, device="cpu"), tile.stem)
        none = aji(gt, source)
        emit = [dict(base, method="none", aji=none, seconds=time.perf_counter() - t0)]
        signals = None
        for m in methods:
            t0 = time.perf_counter()
            psm = PSMMethod(maps=False, device="cpu")
            name, _, extra = m.partition(":")  # e.g. stain+bn:bn_weight=0.5 (tuning only)
            over = {k: int(v) if v.isdigit() else float(v)
                    for k, v in (p.split("=") for p in extra.split(";") if p)}
            a = adapt_to_slide(img, psm, SlideAdaptConfig(method=name, **over),
                               source_signals=signals)
            signals = a.decision.source if a.decision else signals
            if a.decision is None:  # method none, or the gate off: nothing to compare
                continue
            a.kept, kept, reason = True, a.kept, a.reason  # segment the adapted net: scored
            labels = segment_whole(img, AdaptedNetworkMethod(psm, a), tile.stem)
            score = aji(gt, labels)
            emit.append(dict(base, method=m, aji=score, gated=score if kept else none,
                             kept=kept, reason=reason, seconds=time.perf_counter() - t0,
                             adapt_seconds=a.seconds, signals=a.decision.adapted,
                             source_signals=a.decision.source))
        for row in emit:
            row["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(json.dumps(row), file=out or sys.stderr, flush=True)
        rows += emit
    return rows


def regate(rows: list[dict], thresholds: dict) -> None:
    from napari_pathrobust.engine.adapt.gate import GateThresholds, decide

    none = {(r["tile"], r["family"], r["strength"]): r["aji"] for r in rows
            if r["method"] == "none"}
    for r in rows:
        if r["method"] != "none":
            d = decide(r["source_signals"], r["signals"], GateThresholds(**thresholds))
            r["kept"], r["reason"] = d.keep, d.reason
            r["gated"] = r["aji"] if d.keep else none[(r["tile"], r["family"], r["strength"])]


GATE_GRID = {"min_gain": (0.0, 0.005, 0.01, 0.02), "max_drop": (0.002, 0.005, 0.01, 0.02, 1.0),
             "max_ratio": (1.3, 1.6, 2.0, 3.0)}


def choose_gate(rows: list[dict], default: str) -> dict:
    """Thresholds (GATE_GRID) maximising the default's mean gated AJI change over all
    rows, subject to clean tiles losing at most 0.005 on average; ties: fewer keeps."""
    import itertools

    best = None
    for values in itertools.product(*GATE_GRID.values()):
        thr = dict(zip(GATE_GRID, values))
        regate(rows, thr)
        sel = [r for r in rows if r["method"] == default]
        none = {(r["tile"], r["family"], r["strength"]): r["aji"] for r in rows
                if r["method"] == "none"}
        d = np.array([r["gated"] - none[(r["tile"], r["family"], r["strength"])] for r in sel])
        clean = np.array([x for x, r in zip(d, sel) if r["family"] == "clean"])
        if clean.size and clean.mean() < -0.005:
            continue
        key = (round(float(d.mean()), 4), -sum(r["kept"] for r in sel))
        if best is None or key > best[0]:
            best = (key, thr)
    print(f"chosen gate {json.dumps(best[1])}: mean gated change {best[0][0]:+.4f}, "
          f"{-best[0][1]} kept")
    return best[1]


def table(rows: list[dict], default: str) -> None:
    none = {(r["tile"], r["family"], r["strength"]): r["aji"] for r in rows
            if r["method"] == "none"}
    conds = list(dict.fromkeys((r["family"], r["strength"]) for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    print("| shift | method | AJI | delta vs none | min / max delta | kept | s / tile |")
    print("|---|---|---|---|---|---|---|")
    for fam, st in conds:
        for m in methods + [f"{default} + gate (default)"]:
            gated = m.endswith("(default)")
            sel = [r for r in rows if (r["family"], r["strength"]) == (fam, st)
                   and r["method"] == (default if gated else m)]
            if not sel:
                continue
            key = "gated" if gated else "aji"
            a = np.array([r[key] for r in sel])
            d = a - np.array([none[(r["tile"], fam, st)] for r in sel])
            kept = f"{sum(r['kept'] for r in sel)}/{len(sel)}" if m != "none" else ""
            print(f"| {fam} {st} | {m} | {a.mean():.3f} | {d.mean():+.3f} | "
                  f"{d.min():+.3f} / {d.max():+.3f} | {kept} | "
                  f"{np.mean([r['seconds'] for r in sel]):.1f} |")
    print(f"\npeak RSS {max(r['peak_rss_mb'] for r in rows):.0f} MB; "
          f"{len(none)} tile-conditions")


def plot(rows: list[dict], default: str, path: Path) -> None:
    """Bar chart: mean AJI change against none per condition, per method and gated."""
    from matplotlib.figure import Figure

    none = {(r["tile"], r["family"], r["strength"]): r["aji"] for r in rows
            if r["method"] == "none"}
    conds = list(dict.fromkeys((r["family"], r["strength"]) for r in rows))
    methods = [m for m in dict.fromkeys(r["method"] for r in rows) if m != "none"]
    series = [(m, "aji", m) for m in methods] + [(default, "gated", f"{default} + gate")]
    fig = Figure(figsize=(10, 3.6), dpi=100)
    ax = fig.subplots()
    width = 0.8 / len(series)
    for i, (m, key, label) in enumerate(series):
        means = []
        for fam, st in conds:
            sel = [r for r in rows if (r["family"], r["strength"], r["method"]) == (fam, st, m)]
            means.append(np.mean([r[key] - none[(r["tile"], fam, st)] for r in sel]))
        ax.bar(np.arange(len(conds)) + i * width, means, width, label=label)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(np.arange(len(conds)) + 0.4 - width / 2)
    ax.set_xticklabels([f"{f}\n{s}" for f, s in conds], fontsize=7)
    ax.set_ylabel("AJI change vs none")
    ax.legend(fontsize=7, ncol=len(series))
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--split", choices=tuple(SPLITS), default="report")
    ap.add_argument("--quick", action="store_true", help="2 tiles, strong shifts only")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--strengths", default=",".join(STRENGTHS))
    ap.add_argument("--families", default="", help="comma list (default: all)")
    ap.add_argument("--default", default="stain", help="the method gated as the default")
    ap.add_argument("--shard", default="0/1", help="i/n: every n-th tile-condition from i")
    ap.add_argument("--rows", default="", help="append JSON rows to this file")
    ap.add_argument("--table", nargs="*", default=None, help="tabulate saved rows instead")
    ap.add_argument("--gate", default="", help="JSON GateThresholds to re-decide rows with")
    ap.add_argument("--choose-gate", action="store_true",
                    help="choose gate thresholds on the rows (tune split only) and apply")
    ap.add_argument("--plot", type=Path, default=None, help="also save a bar chart (PNG)")
    ap.add_argument("--train-stats", action="store_true", help="print training L*a*b* stats")
    args = ap.parse_args()
    if args.train_stats:
        train_stats(args.data)
        return
    if args.quick:
        args.strengths = "strong"
    if args.table is not None:
        rows = [json.loads(line) for f in args.table for line in open(f) if line.strip()]
    else:
        rows = run(args)
    if args.choose_gate:
        regate(rows, choose_gate(rows, args.default))
    elif args.gate:
        regate(rows, json.loads(args.gate))
    table(rows, args.default)
    if args.plot:
        plot(rows, args.default, args.plot)


if __name__ == "__main__":
    main()
