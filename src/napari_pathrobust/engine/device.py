"""Device selection: ``auto | cpu | cuda[:N] | mps``; CPU always works.

:func:`check_device_name` is the one check of a device name (the settings schema, the
CLI and the widgets use it); :func:`resolve_device` also checks the device exists."""

from __future__ import annotations

import re

_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def resolve_device(name: str = "auto") -> "torch.device":  # noqa: F821
    """Turn a user device string into a torch.device, refusing unavailable ones clearly."""
    import torch

    name = check_device_name(name)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r}: CUDA is not available on this machine")
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise ValueError(f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s)")
    if name == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError("device 'mps': Apple MPS is not available on this machine")
    return torch.device(name)


def check_device_name(name: str) -> str:
    """Validate a device string without importing torch (for argument parsing)."""
    name = (name or "auto").strip().lower()
    if not _DEVICE_RE.match(name):
        raise ValueError(f"device {name!r}: expected auto, cpu, cuda, cuda:N or mps")
    return name


def cuda_device_count() -> int:
    """How many CUDA devices torch sees (0 without torch or CUDA)."""
    try:
        import torch

        return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0
    except Exception:  # noqa: BLE001 - no torch, a broken driver: no CUDA device to offer
        return 0
