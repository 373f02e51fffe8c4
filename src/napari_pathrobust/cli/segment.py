"""``pathrobust segment`` and ``pathrobust demo``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ._common import add_mpp_argument, device_arg, inputs_or_error, positive_int, run_guarded
from .classify import classify_result, load_or_fail


def add_job_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by every command that runs recognition and writes outputs."""
    from ..engine.api import DEFAULT_METHOD, available_methods

    parser.add_argument("-o", "--outdir", type=Path, required=True, help="output folder")
    parser.add_argument("--method", default=DEFAULT_METHOD, choices=available_methods(),
                        help=f"recognition method (default: {DEFAULT_METHOD})")
    parser.add_argument("--device", default="auto", type=device_arg,
                        help="auto | cpu | cuda[:N] | mps (default: auto)")
    parser.add_argument("--tile", type=positive_int, default=None,
                        help="tile side in pixels (default: from the memory budget)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--workers", type=positive_int, default=None,
                        help="worker threads (default: all CPUs)")
    parser.add_argument("--memory-mb", type=float, default=1024,
                        help="working-memory budget for tiles in MB (default: 1024)")
    parser.add_argument("--labels-format", choices=("auto", "tif", "zarr"), default="auto",
                        help="labels as TIFF or OME-Zarr (auto: zarr above 64 MP)")
    parser.add_argument("--all-tiles", action="store_true",
                        help="process every tile (default: skip tiles on background glass)")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="run the tiles on this dask.distributed scheduler "
                             "(e.g. tcp://host:8786); outputs are still written here")
    parser.add_argument("--checkpoint", action=argparse.BooleanOptionalAction, default=None,
                        help="keep per-tile checkpoints so an interrupted run can resume "
                             "(default: on for zarr labels)")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted run from its checkpoint in --outdir")
    parser.add_argument("--model", type=Path, default=None,
                        help="downstream network weights for --method psm (default: bundled)")
    parser.add_argument("--ssl-model", type=Path, default=None,
                        help="activation network weights for --method psm (default: bundled)")
    parser.add_argument("--stain", choices=("he", "ihc"), default="he",
                        help="ihc: hematoxylin-DAB detection, cells classified and scored "
                             "(labelling index, H-score; <stem>_summary.csv); thresholds "
                             "with --param positive_threshold=0.2 (= the 1+ threshold), "
                             "bins=0.2,0.4,0.6, ihc_mode=positive|bins, ihc_auto=true")
    parser.add_argument("--marker", default=None, metavar="NAME",
                        help="--stain ihc: the marker the index is named after, e.g. ER, "
                             "PR, p53 (default: Ki-67; same as --param marker=NAME)")
    parser.add_argument("--precision", choices=("auto", "fp32", "fp16", "bf16"), default="auto",
                        help="network arithmetic for --method psm; auto: fp16 on a GPU, "
                             "fp32 on the CPU (tolerance: docs/benchmarks.md)")
    parser.add_argument("--no-normalise", dest="normalise", action="store_false",
                        help="psm on H&E: recognise the colours as scanned (default: "
                             "normalised to the training slides' where a check on the "
                             "slide finds it helps; the decision is in _run.json)")
    add_mpp_argument(parser)
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="set a parameter of the method, e.g. threshold=0.4, "
                             "h_um=0.5 (classical, sizes in microns) or split=cores (psm), "
                             "or an IHC threshold (--stain ihc: positive_threshold, bins, "
                             "ihc_mode, ihc_auto, ihc_measurement, marker); repeat")


def job_options(args: argparse.Namespace):
    """JobOptions from parsed arguments (see :func:`add_job_arguments`)."""
    from ..engine.api import parse_method_params
    from ..engine.jobs import JobOptions

    params = {}
    if args.method == "psm":
        params = {"maps": False, "stain": args.stain, "precision": args.precision}
        if args.model:
            params["seg_weights"] = str(args.model)
        if args.ssl_model:
            params["ssl_weights"] = str(args.ssl_model)
    elif args.model or args.ssl_model or args.precision != "auto":
        fail(f"--model, --ssl-model and --precision need a learned method, "
             f"not {args.method!r}")
    elif args.stain != "he":
        if not method_has_param(args.method, "stain"):
            fail(f"--stain {args.stain} is not available for --method {args.method}")
        params["stain"] = args.stain
    ihc_pairs, method_pairs = split_ihc_params(getattr(args, "param", []))
    try:
        params.update(parse_method_params(args.method, method_pairs))
        ihc = ihc_thresholds(ihc_pairs, args.stain, getattr(args, "marker", None))
    except ValueError as exc:
        fail(str(exc))
    return JobOptions(method=args.method, method_params=params, device=args.device, ihc=ihc,
                      tile=args.tile, seed=args.seed, workers=args.workers,
                      memory_budget_mb=args.memory_mb, labels_format=args.labels_format,
                      tissue=not getattr(args, "all_tiles", False),
                      scheduler=getattr(args, "scheduler", None),
                      checkpoint=getattr(args, "checkpoint", None),
                      resume=getattr(args, "resume", False), mpp=getattr(args, "mpp", None),
                      normalise=getattr(args, "normalise", True))


def fail(message: str) -> None:
    """One ``error:`` line on stderr and exit code 2 (a usage error)."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def method_has_param(method: str, name: str) -> bool:
    """Whether ``method``'s parameters include ``name`` (e.g. ``stain``)."""
    from dataclasses import fields

    from ..engine.api import method_params_type

    if method not in ("classical", "psm"):
        return False
    return name in {f.name for f in fields(method_params_type(method))}


def split_ihc_params(pairs):
    """``--param`` pairs into (IHC threshold keys, the method's pairs)."""
    from ..engine.api import split_params

    return split_params(list(pairs))


def ihc_thresholds(pairs: dict, stain: str, marker=None):
    """IhcThresholds from the IHC ``--param`` keys and ``--marker`` (None for H&E runs);
    ValueError when they are bad or given without ``--stain ihc``."""
    from ..engine.api import IhcThresholds

    if marker is not None:
        if pairs.get("marker", marker) != marker:
            raise ValueError(f"--marker {marker} and --param marker={pairs['marker']} "
                             "differ: give the marker once")
        pairs = {**pairs, "marker": marker}
    if stain != "ihc":
        if pairs:
            names = ["--marker" if k == "marker" and marker is not None else f"--param {k}"
                     for k in pairs]
            raise ValueError(f"{', '.join(names)}: IHC settings need --stain ihc")
        return None
    return IhcThresholds.from_params(pairs)


def register(sub) -> None:
    """Add the ``segment`` and ``demo`` subcommands."""
    seg = sub.add_parser("segment", help="find nuclei in images and write labels, points, "
                                         "GeoJSON and an overlay")
    seg.add_argument("inputs", nargs="+", metavar="INPUT",
                     help="slides and images (.svs .ndpi .vms .mrxs .scn .bif .svslide .czi "
                          ".dcm or a DICOM folder, .tif .ome.tif .zarr .png .jpg), folders "
                          "or globs")
    add_job_arguments(seg)
    seg.add_argument("--classifier", type=Path, default=None, metavar="FILE",
                     help="classify the cells with this cell classifier file "
                          "(pathrobust train-classifier, or Save in the Cell classifier dock)")
    seg.set_defaults(func=cmd_segment)

    demo = sub.add_parser("demo", help="run the main job on the bundled H&E sample")
    demo.add_argument("-o", "--outdir", type=Path, default=Path("pathrobust-demo"),
                      help="output folder (default: ./pathrobust-demo)")
    demo.add_argument("--no-viewer", action="store_true",
                      help="do not open napari even when a display is available")
    demo.set_defaults(func=cmd_demo)


def cmd_segment(args: argparse.Namespace) -> int:
    inputs = inputs_or_error(args.inputs)
    if inputs is None:
        return 1
    options = job_options(args)
    args.classifier_model = load_or_fail(getattr(args, "classifier", None))
    failed = sum(segment_one(path, args.outdir, options, args) is None for path in inputs)
    return 1 if failed else 0


def segment_one(path: Path, outdir: Path, options, args):
    """Segment one input; print its summary line or one error line. None on failure."""
    from ..engine.api import Reporter, summary_line
    from ..engine.jobs import segment_file

    result = run_guarded(path, lambda bar: segment_file(path, outdir, options,
                                                        Reporter(progress=bar)), args)
    if result is not None:
        print(f"{result.name}: {result.n_nuclei} nuclei in {result.seconds:.2f} s "
              f"-> {result.outputs['labels'].parent}/{result.name}_*{pixel_note(result)}"
              f"{colour_note(result)}")
        if result.info.get("ihc_summary"):
            print(f"{result.name}: {summary_line(result.info['ihc_summary'])}")
        model = getattr(args, "classifier_model", None)
        if model is not None and not classify_result(result, path, model, args.classifier, args):
            return None
    return result


def colour_note(result) -> str:
    """`` (stain normalised: ...)`` or `` (colours as scanned: ...)`` for the image's
    summary line, '' where normalisation does not apply (classical, IHC)."""
    from ..engine.api import normalisation_note

    note = normalisation_note(result.info)
    return f" ({note})" if note else ""


def pixel_note(result) -> str:
    """`` (pixel size unknown: assumed ...)`` for the image's summary line, or ''."""
    note = result.info.get("pixel_size", {}).get("note")
    return f" ({note})" if note else ""


def cmd_demo(args: argparse.Namespace) -> int:
    from .._resources import DEMO_IMAGE, DEMO_MPP, resource_path
    from ..engine.jobs import JobOptions

    image = resource_path(DEMO_IMAGE)  # a PNG crop of a 40x tile: no pixel size in the file
    result = segment_one(image, args.outdir, JobOptions(mpp=DEMO_MPP), args)
    if result is None:
        return 1
    if not args.no_viewer and _has_display():
        _show_in_napari(image, result)
    return 0


def _has_display() -> bool:
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _show_in_napari(image: Path, result) -> None:
    """Open napari with the demo image and its results (skipped if napari is missing)."""
    try:
        import napari
    except ImportError:
        print("napari is not installed: results are in the output folder", file=sys.stderr)
        return
    import csv

    from ..engine.api import open_image, read_labels_tiff

    slide = open_image(image)
    labels, meta = read_labels_tiff(result.outputs["labels"])
    with open(result.outputs["points"], newline="") as handle:
        rows = list(csv.DictReader(handle))
    viewer = napari.Viewer()
    viewer.add_image(slide.data.compute(), name=slide.name, rgb=True)
    viewer.add_labels(labels, name=f"{slide.name}_nuclei", metadata=meta)
    viewer.add_points([[float(r["y"]), float(r["x"])] for r in rows],
                      name=f"{slide.name}_centroids", size=6, face_color="yellow")
    napari.run()
