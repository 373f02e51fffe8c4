"""Model loaders: how a built-in method or a user's own model is run on an RGB image.

A *model* is anything :func:`load_model` accepts: a project method name (``classical``,
``psm``; see :mod:`..methods`), a Python callable ``package.module:function`` taking an
RGB uint8 (H, W, 3) array, a TorchScript file (``.pt``/``.ts``/``.torchscript``) or an
ONNX file (needs ``onnxruntime``). :func:`as_output` reads what a model returns: 2-D
arrays are segmentations (instance labels, or a binary/probability mask split into
connected components); vectors or scalars are classifications (class scores or an index).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import InputError

TORCHSCRIPT_SUFFIXES = (".pt", ".pth", ".ts", ".torchscript")


@dataclass
class Model:
    """A callable ``rgb uint8 (H, W, 3) -> output`` with a name and a description."""

    name: str
    predict: Callable[[np.ndarray], Any]
    info: dict = field(default_factory=dict)


def method_model(name: str, device: str = "auto") -> Model:
    """A project method as a model: built once on ``device`` (its networks loaded once),
    then fitted on every image it sees, as a deployment fits once per slide."""
    from ..registry import get_method

    method = get_method(name, device=device)

    def predict(rgb: np.ndarray) -> np.ndarray:
        method.fit(rgb)
        out = method.segment_tile(rgb)
        return np.asarray(getattr(out, "labels", out))

    return Model(name, predict, {"type": "method", "method": name, "device": device})


def _torch_predict(module, device: str) -> Callable[[np.ndarray], Any]:
    import torch

    from ..device import resolve_device

    dev = resolve_device(device)
    module = module.to(dev).eval()

    def predict(rgb: np.ndarray):
        x = torch.as_tensor(np.ascontiguousarray(rgb[..., :3]), device=dev)
        x = x.permute(2, 0, 1)[None].float() / 255.0
        with torch.no_grad():
            y = module(x)
        return y[0].detach().cpu().numpy()

    return predict


def _torchscript_model(spec: str, path: Path, device: str) -> Model:
    import torch

    try:
        module = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - one clear line
        raise InputError(spec, f"not a TorchScript model ({type(exc).__name__})") from None
    # a user's script may hold CPU-only constants: "auto" keeps it on the CPU
    dev = "cpu" if device == "auto" else device
    return Model(path.stem, _torch_predict(module, dev),
                 {"type": "torchscript", "path": str(path), "device": dev})


def _onnx_model(spec: str, path: Path) -> Model:
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


def _callable_model(spec: str) -> Model:
    mod_name, _, fn_name = spec.partition(":")
    try:
        fn = getattr(importlib.import_module(mod_name), fn_name)
    except (ImportError, AttributeError) as exc:
        raise InputError(spec, f"cannot import the callable ({exc})") from None
    if not callable(fn):
        raise InputError(spec, "not callable")
    return Model(fn_name, fn, {"type": "callable", "spec": spec})


def load_model(spec: str, device: str = "auto") -> Model:
    """Resolve ``spec`` (method name, ``module:function``, TorchScript or ONNX file).

    ``device`` reaches project methods and TorchScript models; ONNX runs on the CPU."""
    from ..registry import available_methods

    if spec in available_methods():
        return method_model(spec, device)
    path = Path(spec)
    suffix = path.suffix.lower()
    if suffix in (*TORCHSCRIPT_SUFFIXES, ".onnx") and not path.is_file():
        raise InputError(spec, "model file not found")
    if suffix in TORCHSCRIPT_SUFFIXES:
        return _torchscript_model(spec, path, device)
    if suffix == ".onnx":
        return _onnx_model(spec, path)
    if ":" in spec:
        return _callable_model(spec)
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
