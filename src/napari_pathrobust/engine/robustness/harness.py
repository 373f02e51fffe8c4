"""Robustness harness: run a model on every corrupted version of images and score it.

Segmentation rows score each corrupted prediction against the ground truth mapped
through the corruption's geometric transform when labels are given, otherwise against
the model's own clean-image prediction (mapped the same way). Models come from
:mod:`.model_loaders`; tables from :mod:`.summary`; files are written by the job
:mod:`..jobs.robustness`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from ..corrupt import BENCHMARK_KINDS, corrupt, get_corruption, map_labels
from ..metrics import aji, evaluate
from ..progress import Reporter
from .model_loaders import Model, as_output


@dataclass
class RobustnessImage:
    """One input: name, RGB uint8, optional instance labels and/or class label."""

    name: str
    rgb: np.ndarray
    labels: Optional[np.ndarray] = None
    label: Optional[int] = None


def parse_severities(text: str) -> list[int]:
    """``"1-5"``, ``"1,3,5"`` or ``"2"`` -> sorted severities (ValueError if out of 1..5)."""
    message = f"severities {text!r}: expected values in 1..5 like 1-5 or 1,3,5"
    out: set[int] = set()
    for part in str(text).split(","):
        a, _, b = part.strip().partition("-")
        try:
            lo, hi = int(a), int(b or a)
        except ValueError:
            raise ValueError(message) from None
        out.update(range(lo, hi + 1))
    if not out or min(out) < 1 or max(out) > 5:
        raise ValueError(message)
    return sorted(out)


def run_robustness(images: Sequence[RobustnessImage], model: Model,
                   kinds: Sequence[str] = BENCHMARK_KINDS,
                   severities: Sequence[int] = (1, 2, 3, 4, 5),
                   seed: int = 0, device: str = "cpu", radius: float = 6.0,
                   reporter: Optional[Reporter] = None) -> list[dict]:
    """One row per (kind, severity, image), plus severity-0 rows for the clean images.

    Segmentation rows hold AJI, object Dice, pixel F1, detection F1 and counts; the
    reference is ``gt`` (labels given) or ``clean`` (the clean prediction).
    Classification rows hold agreement with the clean prediction and correctness.
    ``device`` runs the corruptions; the model's own device was chosen when it was loaded.
    """
    reporter = reporter or Reporter()
    for k in kinds:
        get_corruption(k)
    total = len(images) * (1 + len(kinds) * len(severities))
    done = 0
    rows: list[dict] = []
    for img in images:
        t0 = time.perf_counter()
        task, clean = as_output(model.predict(img.rgb))
        rows.append(_row("clean", 0, img, task, clean, clean, None, radius, t0))
        done += 1
        reporter.report(done, total, f"{img.name}: clean")
        for kind in kinds:
            for sev in severities:
                t0 = time.perf_counter()
                bad = corrupt(img.rgb, kind, sev, seed, device)
                t_out, pred = as_output(model.predict(bad))
                if t_out != task:
                    raise ValueError(f"{model.name}: output type changed under {kind}")
                ref = agree = None
                if task == "segmentation":
                    agree = map_labels(clean, kind, sev, seed)
                    ref = map_labels(img.labels, kind, sev, seed) \
                        if img.labels is not None else agree
                rows.append(_row(kind, sev, img, task, pred, clean, ref, radius, t0, agree))
                done += 1
                reporter.report(done, total, f"{img.name}: {kind} {sev}")
    return rows


def _row(kind, sev, img, task, pred, clean, ref, radius, t0, agree=None) -> dict:
    row: dict[str, Any] = {"kind": kind, "severity": sev, "image": img.name}
    if task == "classification":
        row.update(reference="label" if img.label is not None else "clean",
                   predicted=pred, clean_predicted=clean,
                   label="" if img.label is None else img.label,
                   agreement=float(pred == clean),
                   correct="" if img.label is None else float(pred == img.label))
    else:
        if ref is None:
            ref = img.labels if img.labels is not None else clean
        scores = evaluate(ref, pred, radius)
        row.update(reference="gt" if img.labels is not None else "clean",
                   aji=scores["aji"], object_dice=scores["object_dice"],
                   pixel_f1=scores["pixel_f1"], detection_f1=scores["detection_f1"],
                   nuclei_count=scores["n_pred"], reference_count=scores["n_gt"])
        if agree is None:  # clean row: agreement with itself
            row["agreement_aji"] = 1.0
        elif img.labels is None:
            row["agreement_aji"] = scores["aji"]
        else:
            row["agreement_aji"] = aji(agree, pred)
    row["seconds"] = round(time.perf_counter() - t0, 4)
    return row
