"""Report rendering: kind x severity heatmaps, per-kind curves, example grids of the
corruptions and a one-page HTML report.

Matplotlib with the Agg backend only (no display, no Qt): safe in the engine and on servers.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..corrupt import corrupt
from ..writers import atomic_path
from .summary import sensitivity_ranking, summarise

METRIC_TITLES = {"aji": "AJI", "object_dice": "object Dice", "pixel_f1": "pixel F1",
                 "detection_f1": "detection F1", "agreement": "agreement with clean",
                 "correct": "accuracy", "agreement_aji": "AJI vs clean prediction"}


def _figure(**kw):
    from matplotlib.figure import Figure

    return Figure(**kw)  # an Agg canvas is attached on savefig; pyplot never imported


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip("."), dpi=110, bbox_inches="tight")
    return path


#: what a segmentation score is measured against, by the rows' ``reference``
REFERENCE_WORDS = {"clean": "vs the clean image's result (1 = unchanged)",
                   "gt": "vs the ground truth (1 = perfect)"}


def reference_words(rows: Sequence[dict], metric: str) -> str:
    """What segmentation score ``metric`` compares with, in words ('' if mixed or not
    a segmentation score)."""
    refs = {str(r.get("reference", "")) for r in rows if r.get("severity")}
    if metric in ("aji", "object_dice", "pixel_f1", "detection_f1") and len(refs) == 1:
        return REFERENCE_WORDS.get(refs.pop(), "")
    return ""


def metric_label(rows: Sequence[dict], metric: str) -> str:
    """``metric``'s name and what it compares with, e.g. "AJI vs the clean image's
    result (1 = unchanged)" when no ground truth was given."""
    return f"{METRIC_TITLES.get(metric, metric)} {reference_words(rows, metric)}".strip()


def plot_heatmap(rows: Sequence[dict], metric: str, out: Path, fmts=("png", "svg")) -> list[Path]:
    """Kind x severity heatmap of the mean ``metric`` (clean column first), titled with
    what the metric compares (:func:`metric_label`)."""
    table = summarise(rows, metric)
    kinds = list(table)
    sevs = sorted({s for d in table.values() for s in d})
    data = np.array([[table[k].get(s, np.nan) for s in sevs] for k in kinds])
    fig = _figure(figsize=(1.0 + 0.8 * len(sevs), 0.8 + 0.38 * len(kinds)))
    ax = fig.add_subplot(111)
    im = ax.imshow(data, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(sevs)), ["clean" if s == 0 else str(s) for s in sevs])
    ax.set_yticks(range(len(kinds)), kinds)
    ax.set_xlabel("severity")
    for i in range(len(kinds)):
        for j in range(len(sevs)):
            if np.isfinite(data[i, j]):
                ax.text(j, i, f"{data[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if data[i, j] < 0.6 else "black")
    words = reference_words(rows, metric)
    fig.colorbar(im, ax=ax, label=metric_label(rows, metric))
    ax.set_title(f"{METRIC_TITLES.get(metric, metric)} under corruption"
                 + (f"\n{words}" if words else ""), fontsize=9)
    return [_save(fig, out.with_suffix(f".{f}")) for f in fmts]


def plot_curves(rows: Sequence[dict], metric: str, out: Path, fmts=("png", "svg")) -> list[Path]:
    """One line per kind: mean ``metric`` against severity (0 = clean)."""
    table = summarise(rows, metric)
    fig = _figure(figsize=(6.5, 4.2))
    ax = fig.add_subplot(111)
    for kind, d in table.items():
        s = sorted(d)
        ax.plot(s, [d[v] for v in s], marker="o", ms=3, label=kind)
    ax.set_xlabel("severity (0 = clean)")
    ax.set_ylabel(METRIC_TITLES.get(metric, metric))
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="lower left")
    return [_save(fig, out.with_suffix(f".{f}")) for f in fmts]


def _centre_crop(rgb: np.ndarray, side: int = 512) -> np.ndarray:
    """The centred square of at most ``side`` pixels (RGB channels only)."""
    side = min(rgb.shape[0], rgb.shape[1], side)
    y0, x0 = (rgb.shape[0] - side) // 2, (rgb.shape[1] - side) // 2
    return np.ascontiguousarray(rgb[y0:y0 + side, x0:x0 + side, :3])


def contact_sheet(rgb: np.ndarray, kinds: Sequence[str], severities: Sequence[int],
                  seed: int = 0, thumb: int = 160, device: str = "cpu") -> np.ndarray:
    """A grid image: one row per kind, one column per severity (first column clean)."""
    from skimage.transform import resize

    crop = _centre_crop(rgb)

    def small(a):
        return (resize(a, (thumb, thumb), anti_aliasing=True) * 255).round().astype(np.uint8)

    rows = []
    for kind in kinds:
        cells = [small(crop)] + [small(corrupt(crop, kind, s, seed, device)) for s in severities]
        rows.append(np.concatenate([np.pad(c, ((2, 2), (2, 2), (0, 0)), constant_values=255)
                                    for c in cells], axis=1))
    return np.concatenate(rows, axis=0)


def kinds_grid(rgb: np.ndarray, kinds: Sequence[str], severity: int, seed: int = 0,
               thumb: int = 256, ncols: int = 4, device: str = "cpu", reporter=None
               ) -> np.ndarray:
    """All ``kinds`` at one severity as a grid image (first cell: clean), from a centred
    crop of at most 512 px; cells in ``kinds`` order, row-major."""
    from skimage.transform import resize

    crop = _centre_crop(rgb)
    cells = [crop]
    for i, k in enumerate(kinds):
        if reporter is not None:
            reporter.report(i, len(kinds), k)
        cells.append(corrupt(crop, k, severity, seed, device))
    cells = [(resize(c, (thumb, thumb), anti_aliasing=True) * 255).round().astype(np.uint8)
             if crop.shape[0] != thumb else c for c in cells]
    cells += [np.full_like(cells[0], 255)] * (-len(cells) % ncols)
    cells = [np.pad(c, ((3, 3), (3, 3), (0, 0)), constant_values=255) for c in cells]
    rows = [np.concatenate(cells[i:i + ncols], axis=1) for i in range(0, len(cells), ncols)]
    return np.concatenate(rows, axis=0)


def write_report(rows: Sequence[dict], outdir: Path, example: Optional[np.ndarray] = None,
                 kinds: Sequence[str] = (), severities: Sequence[int] = (1, 3, 5),
                 seed: int = 0, title: str = "Robustness report", info: Optional[dict] = None
                 ) -> dict[str, Path]:
    """Heatmaps, curves, example contact sheet and ``report.html`` into ``outdir``."""
    from PIL import Image

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    seg = bool(rows) and "aji" in rows[0]
    metrics = ["aji", "object_dice", "pixel_f1", "detection_f1"] if seg else ["agreement"]
    if not seg and any(r.get("correct", "") != "" for r in rows):
        metrics.append("correct")
    files: dict[str, Path] = {}
    for m in metrics:
        files[f"heatmap_{m}"] = plot_heatmap(rows, m, outdir / f"heatmap_{m}")[0]
        files[f"curves_{m}"] = plot_curves(rows, m, outdir / f"curves_{m}")[0]
    main = metrics[0]
    files["heatmap"] = files[f"heatmap_{main}"]
    if example is not None and kinds:
        sheet = contact_sheet(example, kinds, severities, seed)
        with atomic_path(outdir / "examples.png") as tmp:
            Image.fromarray(sheet).save(tmp, format="PNG")
        files["examples"] = outdir / "examples.png"
    ranking = sensitivity_ranking(rows, main)
    parts = [f"<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
             "td,th{padding:2px 8px;text-align:right}img{max-width:100%}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>"]
    if info:
        parts.append("<p>" + "; ".join(f"<b>{html.escape(str(k))}</b>: {html.escape(str(v))}"
                                       for k, v in info.items()) + "</p>")
    parts.append(f"<h2>Sensitivity ranking (mean drop of {METRIC_TITLES.get(main, main)} "
                 "from clean, all severities)</h2><table><tr><th>kind</th><th>drop</th></tr>")
    parts += [f"<tr><td>{html.escape(k)}</td><td>{d:.3f}</td></tr>" for k, d in ranking]
    parts.append("</table><div style='display:flex;flex-wrap:wrap'>")
    for m in metrics:
        parts.append(f"<img src='{files[f'heatmap_{m}'].name}' style='width:48%'>"
                     f"<img src='{files[f'curves_{m}'].name}' style='width:48%'>")
    parts.append("</div>")
    if "examples" in files:
        parts.append("<h2>Examples (rows: kinds; columns: clean, then severities "
                     f"{', '.join(map(str, severities))})</h2><img src='examples.png'>")
    parts.append("<p>Data: robustness.csv.</p></body></html>")
    with atomic_path(outdir / "report.html") as tmp:
        Path(tmp).write_text("\n".join(parts), encoding="utf-8")
    files["html"] = outdir / "report.html"
    return files
