"""The corruption catalogue: one :class:`Corruption` spec per kind with its severity table.

The 11 kinds of the PathCLIP benchmark (Zheng et al., JIIM 2025) come first, then the
extras. The benchmark's generation code and per-level parameters are not published; the
values below are OUR choices for 40x H&E (about 0.25 um/px), set so that severity 1 is
barely visible and 5 is severe. Where the same lab's MICCAI 2022 benchmark (Zhang et al.,
arXiv 2206.14973) has a corresponding parameter it is named in ``source``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

from . import artefacts, geometric, photometric


@dataclass(frozen=True)
class Corruption:
    """One corruption kind.

    ``apply(x, params, ctx)`` maps a (B, 3, h, w) float window in [0, 1] to the same
    shape (local kinds, which need ``halo(params)`` context pixels); geometric kinds give
    ``coords(params, ctx, item, origin, shape)`` instead (inverse map, global coordinates)
    and ``fill`` for source positions outside the image (None: clamp to the border).
    """

    name: str
    description: str
    family: str  # photometric | geometric | artefact
    severities: tuple[dict, ...]
    apply: Optional[Callable] = None
    coords: Optional[Callable] = None
    halo: Callable[[dict], int] = field(default=lambda p: 0)
    fill: Optional[float] = None
    benchmark: bool = True  # one of the 11 kinds of the PathCLIP benchmark
    extent: str = "local"  # local | mapped (source window from the inverse map)
    align: int = 1  # windows start on multiples of this (JPEG's 16 px MCU grid)
    source: str = "ours"

    @property
    def geometric(self) -> bool:
        """True when pixels move (labels must be mapped through :attr:`coords`)."""
        return self.coords is not None

    def params(self, severity: int) -> dict:
        """Parameters of ``severity`` (1..5)."""
        if not 1 <= int(severity) <= len(self.severities):
            raise ValueError(f"severity {severity!r}: expected 1..{len(self.severities)}")
        return dict(self.severities[int(severity) - 1])


def _sev(key: str, values) -> tuple[dict, ...]:
    return tuple({key: v} for v in values)


_SPECS = [
    Corruption("brightness", "over-exposed scan: HSV value + c", "photometric",
               _sev("c", (0.04, 0.08, 0.14, 0.22, 0.32)), apply=photometric.brightness,
               source="MICCAI'22: HSV V + c, c = 0.05..0.25; ours extended"),
    Corruption("contrast", "faded stain / flat scan: (x - 0.5) * c + 0.5", "photometric",
               _sev("c", (0.85, 0.7, 0.55, 0.4, 0.25)), apply=photometric.contrast,
               source="ours (not in MICCAI'22)"),
    Corruption("saturation", "over-saturated colour: HSV saturation + c", "photometric",
               _sev("c", (0.05, 0.1, 0.18, 0.28, 0.4)), apply=photometric.saturation,
               source="MICCAI'22: HSV S + c, c = 0.05..0.25; ours extended"),
    Corruption("hue", "colour cast: HSV hue + c (fraction of a turn)", "photometric",
               _sev("c", (0.02, 0.04, 0.07, 0.10, 0.14)), apply=photometric.hue,
               source="MICCAI'22: HSV H + c, c = 0.02..0.10; ours extended"),
    Corruption("defocus", "out-of-focus scan: anti-aliased disk blur (radius px)", "artefact",
               tuple({"radius": r, "alias": a} for r, a in
                     ((1.5, 0.3), (2.5, 0.5), (3.5, 0.5), (5.0, 0.5), (7.0, 0.5))),
               apply=artefacts.defocus, halo=artefacts.defocus_halo,
               source="MICCAI'22 disk blur (3..10 px at 224 px patches); ours for 40x"),
    Corruption("resolution", "low scan resolution: down-sample by factor, up-sample back",
               "geometric", _sev("factor", (0.75, 0.5, 0.35, 0.25, 0.15)),
               apply=geometric.resolution, halo=geometric.resolution_halo,
               source="MICCAI'22 pixelate c = 0.6..0.25 (box); ours anti-aliased + bilinear"),
    Corruption("markup", "marker-pen strokes and circles: semi-transparent ink", "artefact",
               tuple({"density": d, "width": w, "alpha": a} for d, w, a in
                     ((1, 40, 0.3), (1.5, 70, 0.4), (2, 100, 0.5), (3, 140, 0.55),
                      (4, 200, 0.6))),
               apply=artefacts.markup,
               source="ours (MICCAI'22 pastes stored blot masks)"),
    Corruption("deformation", "smooth elastic warp (max displacement amp px)", "geometric",
               tuple({"amp": a, "length": L} for a, L in
                     ((2, 64), (4, 64), (7, 80), (11, 96), (16, 112))),
               coords=geometric.deformation_coords, extent="mapped"),
    Corruption("incompleteness", "missing tissue: smooth regions (area fraction) become glass",
               "artefact", _sev("frac", (0.03, 0.08, 0.15, 0.25, 0.40)),
               apply=artefacts.incompleteness),
    Corruption("rotation", "rotation about the image centre (deg), white corners", "geometric",
               _sev("angle", (3, 8, 15, 30, 45)), coords=geometric.rotation_coords, fill=0.96,
               extent="mapped"),
    Corruption("flipping", "mirror: horizontal, vertical, both, transpose, anti-transpose",
               "geometric", _sev("mode", ("horizontal", "vertical", "both", "transpose",
                                          "anti-transpose")),
               coords=geometric.flip_coords, fill=0.96, extent="mapped",
               source="ours; severities are variants, not strengths"),
    # ---- extras
    Corruption("stain_shift", "H&E stain variation in HED optical-density space (sigma)",
               "photometric", _sev("sigma", (0.05, 0.1, 0.2, 0.3, 0.45)),
               apply=photometric.stain_shift, benchmark=False),
    Corruption("jpeg", "JPEG re-compression (quality)", "artefact",
               _sev("quality", (30, 20, 12, 8, 5)), apply=artefacts.jpeg, benchmark=False,
               halo=lambda p: 16, align=16, source="MICCAI'22: q = 25, 18, 15, 10, 7"),
    Corruption("motion_blur", "stage vibration: line blur (length px), seeded angle",
               "artefact", _sev("length", (3, 6, 10, 16, 24)), apply=artefacts.motion_blur,
               halo=artefacts.motion_halo, benchmark=False),
    Corruption("air_bubbles", "air under the coverslip: hazy discs with dark rims", "artefact",
               tuple({"density": d, "radius": r} for d, r in
                     ((1, 40), (2, 60), (3, 90), (4, 120), (6, 160))),
               apply=artefacts.air_bubbles, benchmark=False),
    Corruption("sensor_noise", "camera shot + read noise (fractions of full scale)", "artefact",
               tuple({"read": r, "shot": s} for r, s in
                     ((0.01, 0.01), (0.02, 0.02), (0.035, 0.035), (0.05, 0.05), (0.08, 0.08))),
               apply=artefacts.sensor_noise, benchmark=False),
    Corruption("uneven_illumination", "smooth multiplicative light gain 1 + s * tanh(field)",
               "artefact", _sev("strength", (0.08, 0.15, 0.25, 0.35, 0.5)),
               apply=artefacts.uneven_illumination, benchmark=False),
    Corruption("tissue_fold", "folded section: bands (width px) with doubled optical density",
               "artefact", tuple({"density": d, "width": w} for d, w in
                                 ((1, 30), (1, 60), (1.5, 90), (2, 130), (3, 180))),
               apply=artefacts.tissue_fold, benchmark=False),
]

CORRUPTIONS: dict[str, Corruption] = {c.name: c for c in _SPECS}
BENCHMARK_KINDS: tuple[str, ...] = tuple(c.name for c in _SPECS if c.benchmark)


def get_corruption(name: str) -> Corruption:
    """The spec called ``name`` (ValueError naming the valid kinds otherwise)."""
    try:
        return CORRUPTIONS[name]
    except KeyError:
        raise ValueError(f"unknown corruption {name!r}; available: "
                         f"{', '.join(CORRUPTIONS)}") from None


def available_corruptions(benchmark_only: bool = False) -> list[str]:
    """Kind names, the 11 benchmark kinds first."""
    return [c.name for c in _SPECS if c.benchmark or not benchmark_only]


def severity_table_markdown() -> str:
    """All kinds and their 5 severity parameter sets as one Markdown table."""
    rows = ["| kind | family | extent | 1 | 2 | 3 | 4 | 5 | parameters from |",
            "|---|---|---|---|---|---|---|---|---|"]
    for c in _SPECS:
        cells = [", ".join(f"{k}={v}" for k, v in s.items()) for s in c.severities]
        name = c.name if c.benchmark else f"{c.name} (extra)"
        rows.append(f"| {name} | {c.family} | {c.extent} | " + " | ".join(cells)
                    + f" | {c.source} |")
    return "\n".join(rows)
