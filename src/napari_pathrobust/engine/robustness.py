"""Robustness harness: run a model on every corrupted version of images and score it.

A *model* is anything :func:`load_model` accepts: a project method name (``classical``,
see :mod:`.methods`), a Python callable ``package.module:function`` taking an RGB uint8
(H, W, 3) array, a TorchScript file (``.pt``/``.ts``/``.torchscript``) or an ONNX file
(needs ``onnxruntime``). Outputs that are 2-D arrays are treated as segmentations
(instance labels, or a binary/probability mask split into connected components);
vectors or scalars as classifications (class scores or a class index).

Segmentation rows score each corrupted prediction against the ground truth mapped
through the corruption's geometric transform when labels are given, otherwise against
the model's own clean-image prediction (mapped the same way).
"""

from __future__ import annotations

import csv
import importlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from .corrupt import BENCHMARK_KINDS, corrupt, get_corruption, map_labels
from .errors import InputError
from .metrics import evaluate
from .progress import Reporter
from .writers import atomic_path

SEG_COLUMNS = ["kind", "severity", "image", "reference", "aji", "object_dice", "pixel_f1",
               "detection_f1", "nuclei_count", "reference_count", "agreement_aji", "seconds"]
CLS_COLUMNS = ["kind", "severity", "image", "reference", "predicted", "clean_predicted",
               "label", "agreement", "correct", "seconds"]


@dataclass
class Model:
    """A callable ``rgb uint8 (H, W, 3) -> output`` with a name and a description."""

    name: str
    predict: Callable[[np.ndarray], Any]
    info: dict = field(default_factory=dict)


def _method_model(name: str) -> Model:
    from .methods import get_method

    def predict(rgb: np.ndarray) -> np.ndarray:
        method = get_method(name)
        method.fit(rgb)  # global parameters are fitted per image, as in deployment
        out = method.segment_tile(rgb)
        return np.asarray(getattr(out, "labels", out))

    return Model(name, predict, {"type": "method", "method": name})


def _torch_predict(module, device: str) -> Callable[[np.ndarray], Any]:
    import torch

    from .device import resolve_device

    dev = resolve_device(device)
    module = module.to(dev).eval()

    def predict(rgb: np.ndarray):
        x = torch.as_tensor(np.ascontiguousarray(rgb[..., :3]), device=dev)
        x = x.permute(2, 0, 1)[None].float() / 255.0
        with torch.no_grad():
            y = module(x)
        return y[0].detach().cpu().numpy()

    return predict


def load_model(spec: str, device: str = "cpu") -> Model:
    """Resolve ``spec`` (method name, ``module:function``, TorchScript or ONNX file)."""
    from .methods import available_methods

    if spec in available_methods():
        return _method_model(spec)
    path = Path(spec)
    suffix = path.suffix.lower()
    if suffix in (".pt", ".pth", ".ts", ".torchscript", ".onnx"):
        if not path.is_file():
            raise InputError(spec, "model file not found")
    if suffix in (".pt", ".pth", ".ts", ".torchscript"):
        import torch

        try:
            module = torch.jit.load(str(path), map_location="cpu")
        except Exception as exc:  # noqa: BLE001 - one clear line
            raise InputError(spec, f"not a TorchScript model ({type(exc).__name__})") from None
        return Model(path.stem, _torch_predict(module, device),
                     {"type": "torchscript", "path": str(path)})
    if suffix == ".onnx":
        try:
            import onnxruntime as ort
        except ImportError:
            raise InputError(spec, "ONNX models need onnxruntime (pip install onnxruntime)") \
                from None
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name

        def predict(rgb: np.ndarray):
            x = (rgb[..., :3].astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
            return sess.run(None, {name: x})[0][0]

        return Model(path.stem, predict, {"type": "onnx", "path": str(path)})
    if ":" in spec:
        mod_name, _, fn_name = spec.partition(":")
        try:
            fn = getattr(importlib.import_module(mod_name), fn_name)
        except (ImportError, AttributeError) as exc:
            raise InputError(spec, f"cannot import the callable ({exc})") from None
        if not callable(fn):
            raise InputError(spec, "not callable")
        return Model(fn_name, fn, {"type": "callable", "spec": spec})
    raise InputError(spec, f"unknown model: expected a method ({', '.join(available_methods())}"
                           "), module:function, a TorchScript .pt/.ts or an ONNX .onnx file")


def as_output(out: Any) -> tuple[str, Any]:
    """Normalise a model output: ('segmentation', int labels) or ('classification', id)."""
    from scipy import ndimage

    arr = np.asarray(out)
    if arr.ndim == 3 and arr.shape[0] <= 8:  # (K, H, W) scores -> foreground mask
        arr = arr[0] > 0.5 if arr.shape[0] == 1 else arr.argmax(0) > 0
    if arr.ndim == 2:
        if arr.dtype == bool or np.issubdtype(arr.dtype, np.floating) or arr.max(initial=0) <= 1:
            arr = ndimage.label(arr > 0.5 if np.issubdtype(arr.dtype, np.floating) else arr)[0]
        return "segmentation", arr.astype(np.int32, copy=False)
    if arr.ndim <= 1:
        return "classification", int(arr.argmax()) if arr.ndim == 1 and arr.size > 1 \
            else int(arr.reshape(-1)[0])
    raise ValueError(f"model output of shape {arr.shape} is neither labels nor class scores")


@dataclass
class RobustnessImage:
    """One input: name, RGB uint8, optional instance labels and/or class label."""

    name: str
    rgb: np.ndarray
    labels: Optional[np.ndarray] = None
    label: Optional[int] = None


def parse_severities(text: str) -> list[int]:
    """``"1-5"``, ``"1,3,5"`` or ``"2"`` -> sorted severities (ValueError if out of 1..5)."""
    out: set[int] = set()
    for part in str(text).split(","):
        a, _, b = part.strip().partition("-")
        lo, hi = int(a), int(b or a)
        out.update(range(lo, hi + 1))
    if not out or min(out) < 1 or max(out) > 5:
        raise ValueError(f"severities {text!r}: expected values in 1..5 like 1-5 or 1,3,5")
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
            from .metrics import aji

            row["agreement_aji"] = aji(agree, pred)
    row["seconds"] = round(time.perf_counter() - t0, 4)
    return row


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


def _load_inputs(paths, gt_dir, crop: int) -> list[RobustnessImage]:
    import tifffile

    from .io import open_image

    images = []
    for p in paths:
        slide = open_image(p)
        rgb = np.asarray(slide.data.compute(scheduler="synchronous"))[..., :3]
        labels = None
        if gt_dir is not None:
            cands = [c for c in sorted(Path(gt_dir).glob(f"{slide.name}*"))
                     if c.suffix.lower() in (".tif", ".tiff")]
            if not cands:
                raise InputError(p, f"no ground-truth labels {slide.name}*.tif in {gt_dir}")
            labels = np.asarray(tifffile.imread(cands[0])).astype(np.int32)
            if labels.shape != rgb.shape[:2]:
                raise InputError(cands[0], f"labels {labels.shape} do not match the image "
                                           f"{rgb.shape[:2]}")
        if crop and min(rgb.shape[:2]) > crop:
            y0, x0 = (rgb.shape[0] - crop) // 2, (rgb.shape[1] - crop) // 2
            rgb = np.ascontiguousarray(rgb[y0:y0 + crop, x0:x0 + crop])
            if labels is not None:
                labels = np.ascontiguousarray(labels[y0:y0 + crop, x0:x0 + crop])
        images.append(RobustnessImage(slide.name, rgb, labels))
    return images


def robustness_report(images: Sequence[RobustnessImage], outdir, model: str | Model,
                      kinds, severities, seed: int = 0, device: str = "cpu",
                      reporter: Optional[Reporter] = None, extra_info: Optional[dict] = None
                      ) -> dict:
    """Rows for in-memory images, then robustness.csv, plots, report.html and
    robustness_run.json in ``outdir``. Returns rows, ranking and the written paths."""
    from .report import write_report
    from .writers import write_run_json

    mdl = model if isinstance(model, Model) else load_model(
        model, device if device != "auto" else "cpu")
    rows = run_robustness(images, mdl, kinds, severities, seed, device, reporter=reporter)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    csv_path = write_rows_csv(rows, outdir / "robustness.csv")
    metric = "aji" if "aji" in rows[0] else "agreement"
    has_gt = any(i.labels is not None or i.label is not None for i in images)
    info = {"model": mdl.name, "images": len(images), "kinds": ", ".join(kinds),
            "severities": ", ".join(map(str, severities)), "seed": seed,
            "reference": "ground truth" if has_gt else "clean-image prediction",
            **(extra_info or {})}
    files = write_report(rows, outdir, images[0].rgb, kinds, severities, seed,
                         title=f"Robustness of {mdl.name}", info=info)
    write_run_json(outdir / "robustness_run.json", {**info, "model_info": mdl.info,
                                                    "device": device})
    return {"rows": rows, "csv": csv_path, "html": files["html"], "files": files,
            "ranking": sensitivity_ranking(rows, metric)}


def robustness_files(inputs, outdir, model: str, kinds, severities, gt_dir=None,
                     seed: int = 0, crop: int = 0, device: str = "cpu",
                     reporter: Optional[Reporter] = None) -> dict:
    """The whole ``pathrobust robustness`` job on image files (optional GT folder,
    optional centred crop); see :func:`robustness_report`."""
    images = _load_inputs(inputs, gt_dir, crop)
    return robustness_report(images, outdir, model, kinds, severities, seed, device,
                             reporter, {"crop": crop})
