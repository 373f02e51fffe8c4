"""Method names -> methods: the built-in ``classical`` and ``psm``, and every adapted
network saved as ``psm@<name>``.

The registry sits above :mod:`.methods` (the contract and the built-in methods) and
:mod:`.adapt` (adapted networks), so neither imports the other through it.
"""

from __future__ import annotations

from typing import Any

from .methods.base import Method
from .values import parse_bool

DEFAULT_METHOD = "psm"  # beats classical on MoNuSeg train-13 (docs/benchmarks.md, PSM)


def available_methods() -> list[str]:
    """Names accepted by :func:`get_method`: the built-in methods, then every adapted
    network saved in the models folder as ``psm@<name>`` (engine.adapt.saved)."""
    from .adapt.saved import PREFIX, list_adapted

    return ["classical", "psm"] + [PREFIX + n for n in list_adapted()]


def method_params_type(name: str) -> type:
    """The parameter dataclass of method ``name`` (``psm@<name>`` has PSM's)."""
    if name == "classical":
        from .methods.classical import ClassicalParams

        return ClassicalParams
    if name == "psm" or name.startswith("psm@"):
        from .methods.psm import PSMParams

        return PSMParams
    raise ValueError(f"unknown method {name!r}; available: {', '.join(available_methods())}")


def parse_method_params(name: str, pairs: list[str]) -> dict[str, Any]:
    """``["key=value", ...]`` into typed parameters of method ``name``.

    Each value is converted to the type of the parameter's default (bool accepts
    true/false/1/0); unknown names, unreadable and refused values raise ``ValueError``.
    ``device`` and ``seed`` are not parameters here: jobs set them for every method.
    """
    from dataclasses import MISSING, fields

    params_type = method_params_type(name)
    defaults = {f.name: f.default for f in fields(params_type)
                if f.default is not MISSING and f.name not in ("device", "seed")}
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in defaults:
            raise ValueError(f"--param {pair!r}: expected KEY=VALUE with KEY one of "
                             f"{', '.join(sorted(defaults))} ({name})")
        out[key] = _typed(text.strip(), defaults[key], pair)
    params_type(**out)  # the parameters' own checks (e.g. a split rule's name), no model loaded
    return out


def _typed(text: str, default: Any, pair: str) -> Any:
    try:
        if isinstance(default, bool):
            return parse_bool(text)
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float) or (default is None and _is_number(text)):
            return float(text)
    except ValueError:
        kind = "true or false" if isinstance(default, bool) else type(default).__name__
        raise ValueError(f"--param {pair!r}: expected a value of type {kind}") from None
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def get_method(name: str, device: str | None = None, seed: int | None = None,
               normalise: bool = True, **params: Any) -> Method:
    """Build a method by name with parameter overrides; ``device`` and ``seed`` reach
    the methods that use them (learned ones) and are ignored by the others.

    ``normalise``: ``psm`` on H&E recognises each slide's colours stain-normalised where
    a never-worse check finds it helps (engine.adapt.normalise, fitted once per slide);
    False, and every other method or stain, recognise the colours as scanned."""
    if name == "classical":
        from .methods.classical import ClassicalMethod

        return ClassicalMethod(**params)
    if name == "psm":
        from .methods.psm import PSMMethod

        extra = {k: v for k, v in (("device", device), ("seed", seed)) if v is not None}
        psm = PSMMethod(**extra, **params)
        if not normalise or psm.params.stain != "he" or psm.seg_net is None:
            return psm
        from .adapt.normalise import NormalisedPSM

        return NormalisedPSM(psm)
    if name.startswith("psm@"):
        from .adapt.saved import build_adapted

        return build_adapted(name[4:], device=device, seed=seed, **params)
    raise ValueError(f"unknown method {name!r}; available: {', '.join(available_methods())}")


__all__ = ["DEFAULT_METHOD", "available_methods", "method_params_type",
           "parse_method_params", "get_method"]
