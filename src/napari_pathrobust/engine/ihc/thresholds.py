"""IHC scoring settings: marker name, measurement, mode, the one set of DAB thresholds.

One set of thresholds drives every number: the **positive threshold is the 1+ lower
bound** (``positive == bins[0]``), so the labelling index, the H-score and the
0/1+/2+/3+ counts always agree (positive cells = 1+ + 2+ + 3+). Give ``positive`` alone
to move the 1+ bound (2+/3+ kept), ``bins`` alone to set all three, or both when equal.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Optional, Sequence

from ..values import parse_bool
from .measurements import IHC_COLUMNS

MODES = ("positive", "bins")
DEFAULT_BINS = (0.2, 0.4, 0.6)  # QuPath's 1+, 2+, 3+ defaults
DEFAULT_MARKER = "Ki-67"
MAX_MARKER_CHARS = 40
#: ``--param`` keys routed to :class:`IhcThresholds` (not to the method)
PARAM_KEYS = ("positive_threshold", "bins", "ihc_mode", "ihc_auto", "ihc_measurement",
              "ihc_min_separation", "marker")


@dataclass(frozen=True)
class IhcThresholds:
    """How cells are classified and named; see the module docstring. Invalid values
    raise ``ValueError`` with one line."""

    measurement: str = "dab_nucleus_mean"
    positive: Optional[float] = None  # the positive cut = the 1+ bound (None: bins[0])
    bins: Optional[Sequence[float]] = None  # 1+, 2+, 3+ bounds (None: DEFAULT_BINS)
    mode: str = "positive"  # "positive": Positive/Negative | "bins": Negative/1+/2+/3+
    auto: bool = False  # per-slide 2-means cut instead of the set positive / 1+ threshold
    min_separation: float = 0.05  # auto: smallest gap (OD) between the two group means
    marker: str = DEFAULT_MARKER  # names the index: "<marker> index"
    fitted_cut: Optional[float] = field(default=None, compare=False)  # set by auto

    def __post_init__(self) -> None:
        try:
            bins = tuple(float(b) for b in (DEFAULT_BINS if self.bins is None else self.bins))
            positive = None if self.positive is None else float(self.positive)
        except (TypeError, ValueError):
            raise ValueError(f"IHC thresholds: expected numbers, got positive="
                             f"{self.positive!r}, bins={self.bins!r}") from None
        if len(bins) != 3:
            raise ValueError(f"IHC thresholds: expected 3 bin thresholds (1+, 2+, 3+), "
                             f"got {len(bins)}")
        positive = bins[0] if positive is None else positive
        if not (math.isfinite(positive) and positive >= 0):
            raise ValueError(f"IHC thresholds: positive threshold {positive:g} must be a "
                             "number >= 0")
        if self.bins is None:  # the positive threshold alone moves the 1+ bound
            bins = (positive, *bins[1:])
            if not positive < bins[1]:
                raise ValueError(f"IHC thresholds: positive threshold {positive:g} is the 1+ "
                                 f"threshold and must be below the 2+ threshold {bins[1]:g} "
                                 "(or set bins)")
        elif abs(positive - bins[0]) > 1e-12:
            raise ValueError(f"IHC thresholds: positive threshold {positive:g} differs from "
                             f"the 1+ threshold {bins[0]:g}; they are the same cut, set one")
        object.__setattr__(self, "bins", bins)
        object.__setattr__(self, "positive", bins[0])
        if not all(math.isfinite(b) and b >= 0 for b in bins):
            raise ValueError(f"IHC thresholds: bin thresholds {_fmt(bins)} must be "
                             "numbers >= 0")
        if not bins[0] < bins[1] < bins[2]:
            raise ValueError(f"IHC thresholds: bin thresholds {_fmt(bins)} must be "
                             "strictly increasing (1+ < 2+ < 3+)")
        if self.mode not in MODES:
            raise ValueError(f"IHC thresholds: mode {self.mode!r}: expected 'positive' "
                             "or 'bins'")
        if self.measurement not in IHC_COLUMNS:  # refused before any slide is segmented
            raise ValueError(f"IHC thresholds: measurement {self.measurement!r}: expected "
                             f"one of {', '.join(IHC_COLUMNS)}")
        if not self.min_separation >= 0:
            raise ValueError(f"IHC thresholds: min_separation {self.min_separation!r} "
                             "must be >= 0")
        object.__setattr__(self, "marker", marker_name(self.marker))

    @property
    def positive_cut(self) -> float:
        """The threshold that makes a cell positive (the 1+ bound, in both modes)."""
        return self.positive

    def describe(self) -> dict[str, Any]:
        """JSON-ready record of the thresholds (as used)."""
        out = asdict(self)
        out["bins"] = list(self.bins)
        return out

    @classmethod
    def from_params(cls, params: Mapping[str, Any], base: Optional["IhcThresholds"] = None
                    ) -> "IhcThresholds":
        """From ``--param`` style keys (:data:`PARAM_KEYS`; values may be text); a
        ``positive_threshold`` alone moves the 1+ bound of ``base``."""
        values = asdict(base or cls())
        values.pop("fitted_cut")
        for key, value in params.items():
            if key not in PARAM_KEYS:
                raise ValueError(f"IHC thresholds: unknown key {key!r}; expected one of "
                                 f"{', '.join(PARAM_KEYS)}")
            if key == "bins":
                values["bins"] = _numbers(value)
            elif key == "positive_threshold":
                values["positive"] = _number(value, key)
            elif key == "ihc_auto":
                values["auto"] = _flag(value)
            elif key == "ihc_min_separation":
                values["min_separation"] = _number(value, key)
            elif key == "marker":
                values["marker"] = str(value)
            else:
                values[key[len("ihc_"):]] = str(value)
        if "bins" in params and "positive_threshold" not in params:
            values["positive"] = None
        elif "positive_threshold" in params and "bins" not in params:
            values["bins"] = (values["positive"], *tuple(values["bins"])[1:])
        return cls(**values)


def marker_name(value: Any) -> str:
    """``value`` as a marker name (whitespace collapsed); ValueError when empty or long."""
    name = " ".join(str(value if value is not None else "").split())
    if not name:
        raise ValueError("IHC marker: expected a name, e.g. Ki-67, ER, PR or p53")
    if len(name) > MAX_MARKER_CHARS:
        raise ValueError(f"IHC marker {name[:20]!r}...: at most {MAX_MARKER_CHARS} characters")
    return name


def _fmt(values: Sequence[float]) -> str:
    return ", ".join(f"{v:g}" for v in values)


def _number(value: Any, key: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"IHC thresholds: {key}={value!r}: expected a number") from None


def _numbers(value: Any) -> tuple[float, ...]:
    parts = value.split(",") if isinstance(value, str) else list(value)
    try:
        return tuple(float(p) for p in parts)
    except (TypeError, ValueError):
        raise ValueError(f"IHC thresholds: bins={value!r}: expected three numbers, "
                         "e.g. bins=0.2,0.4,0.6") from None


def _flag(value: Any) -> bool:
    try:
        return parse_bool(value)
    except ValueError:
        raise ValueError(f"IHC thresholds: ihc_auto={value!r}: expected true or false") from None


def split_params(pairs: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """``KEY=VALUE`` strings into (IHC keys, the other pairs, untouched)."""
    ihc: dict[str, str] = {}
    rest: list[str] = []
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip().replace("-", "_")
        if sep and key in PARAM_KEYS:
            ihc[key] = text.strip()
        else:
            rest.append(pair)
    return ihc, rest
