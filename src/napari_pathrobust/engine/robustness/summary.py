"""Tables from the harness's rows: the CSV layout, mean metric per kind and severity,
and the kinds ranked by how much they hurt."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

import numpy as np

from ..writers import atomic_path

SEG_COLUMNS = ["kind", "severity", "image", "reference", "aji", "object_dice", "pixel_f1",
               "detection_f1", "nuclei_count", "reference_count", "agreement_aji", "seconds"]
CLS_COLUMNS = ["kind", "severity", "image", "reference", "predicted", "clean_predicted",
               "label", "agreement", "correct", "seconds"]


def main_metric(rows: Sequence[dict]) -> str:
    """``aji`` for segmentation rows, ``agreement`` for classification rows."""
    return "aji" if rows and "aji" in rows[0] else "agreement"


def write_rows_csv(rows: Sequence[dict], path: Path) -> Path:
    """robustness.csv (atomic): segmentation or classification columns."""
    cols = CLS_COLUMNS if rows and "agreement" in rows[0] else SEG_COLUMNS
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as handle:
            w = csv.DictWriter(handle, fieldnames=cols, extrasaction="ignore")
            w.writeheader()
            for r in rows:
                w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    return Path(path)


def summarise(rows: Sequence[dict], metric: str) -> dict[str, dict[int, float]]:
    """Mean ``metric`` per kind and severity (severity 0 = clean, shared by all kinds)."""
    out: dict[str, dict[int, list]] = {}
    clean = [float(r[metric]) for r in rows if r["severity"] == 0 and r.get(metric, "") != ""]
    for r in rows:
        if r["severity"] == 0 or r.get(metric, "") == "":
            continue
        out.setdefault(r["kind"], {}).setdefault(int(r["severity"]), []).append(float(r[metric]))
    res = {k: {s: float(np.mean(v)) for s, v in sorted(d.items())} for k, d in out.items()}
    if clean:
        for d in res.values():
            d[0] = float(np.mean(clean))
    return res


def sensitivity_ranking(rows: Sequence[dict], metric: str) -> list[tuple[str, float]]:
    """Kinds sorted by mean drop of ``metric`` from clean over all severities (worst first)."""
    table = summarise(rows, metric)
    drops = []
    for kind, d in table.items():
        base = d.get(0, 1.0)
        drops.append((kind, float(np.mean([base - v for s, v in d.items() if s > 0]))))
    return sorted(drops, key=lambda kv: -kv[1])
