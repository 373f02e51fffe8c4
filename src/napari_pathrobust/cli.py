"""The ``pathrobust`` command line: the same engine calls the widgets use.

Exit codes: 0 ok, 1 an input failed (bad file or failed job), 2 usage error.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

from . import __version__

IMAGE_SUFFIXES = (".tif", ".tiff", ".svs", ".png", ".jpg", ".jpeg", ".zarr")


def expand_inputs(items: Sequence[str]) -> list[Path]:
    """Expand folders (their image files) and globs; keep explicit paths as given."""
    found: list[Path] = []
    for item in items:
        if any(ch in item for ch in "*?["):
            matches = sorted(glob.glob(item))
            found.extend(Path(m) for m in matches) if matches else found.append(Path(item))
            continue
        path = Path(item)
        if path.is_dir() and path.suffix.lower() != ".zarr":
            found.extend(sorted(p for p in path.iterdir()
                                if p.name.lower().endswith(IMAGE_SUFFIXES)
                                and not p.name.startswith(".")))
        else:
            found.append(path)
    return found


def _add_job_arguments(parser: argparse.ArgumentParser) -> None:
    from .engine.methods import available_methods

    parser.add_argument("-o", "--outdir", type=Path, required=True, help="output folder")
    parser.add_argument("--method", default="classical", choices=available_methods(),
                        help="recognition method (default: classical)")
    parser.add_argument("--device", default="auto", type=_device_arg,
                        help="auto | cpu | cuda[:N] | mps (default: auto)")
    parser.add_argument("--tile", type=_positive_int, default=None,
                        help="tile side in pixels (default: from the memory budget)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--workers", type=_positive_int, default=None,
                        help="worker threads (default: all CPUs)")
    parser.add_argument("--memory-mb", type=float, default=1024,
                        help="working-memory budget for tiles in MB (default: 1024)")
    parser.add_argument("--labels-format", choices=("auto", "tif", "zarr"), default="auto",
                        help="labels as TIFF or OME-Zarr (auto: zarr above 64 MP)")


def _device_arg(value: str) -> str:
    from .engine.device import check_device_name

    try:
        return check_device_name(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return number


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with all subcommands."""
    parser = argparse.ArgumentParser(
        prog="pathrobust", description="Label-free nucleus recognition for H&E/IHC slides.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on failure")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    seg = sub.add_parser("segment", help="find nuclei in images and write labels, points, "
                                         "GeoJSON and an overlay")
    seg.add_argument("inputs", nargs="+", metavar="INPUT",
                     help="image files (.tif .svs .ome.tif .zarr .png .jpg), folders or globs")
    _add_job_arguments(seg)
    seg.set_defaults(func=_cmd_segment)

    demo = sub.add_parser("demo", help="run the main job on the bundled H&E sample")
    demo.add_argument("-o", "--outdir", type=Path, default=Path("pathrobust-demo"),
                      help="output folder (default: ./pathrobust-demo)")
    demo.add_argument("--no-viewer", action="store_true",
                      help="do not open napari even when a display is available")
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``pathrobust`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 1


def _options_from(args: argparse.Namespace):
    from .engine.jobs import JobOptions

    return JobOptions(method=args.method, device=args.device, tile=args.tile, seed=args.seed,
                      workers=args.workers, memory_budget_mb=args.memory_mb,
                      labels_format=args.labels_format)


def _cmd_segment(args: argparse.Namespace) -> int:
    inputs = expand_inputs(args.inputs)
    if not inputs:
        print("error: no input images found", file=sys.stderr)
        return 1
    options = _options_from(args)
    failed = 0
    for path in inputs:
        if _run_one(path, args.outdir, options, args) is None:
            failed += 1
    return 1 if failed else 0


def _run_one(path: Path, outdir: Path, options, args):
    """Segment one input; print its summary line or one error line. None on failure."""
    from .engine.errors import Cancelled, InputError
    from .engine.jobs import segment_file
    from .engine.progress import Reporter

    bar = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=1, desc=path.name, unit="tile", leave=False, file=sys.stderr)

    def progress(done: int, total: int, message: str) -> None:
        if bar is not None:
            bar.total = total
            bar.n = done
            bar.refresh()

    try:
        result = segment_file(path, outdir, options, Reporter(progress=progress))
    except (InputError, Cancelled) as exc:
        _close(bar)
        print(f"error: {exc}", file=sys.stderr)
        return None
    except Exception as exc:  # noqa: BLE001 - one clear line per failed input
        _close(bar)
        if args.debug:
            raise
        print(f"error: {path}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None
    _close(bar)
    labels = result.outputs["labels"]
    print(f"{result.name}: {result.n_nuclei} nuclei in {result.seconds:.2f} s "
          f"-> {labels.parent}/{result.name}_*")
    return result


def _close(bar) -> None:
    if bar is not None:
        bar.close()


def _cmd_demo(args: argparse.Namespace) -> int:
    from ._resources import DEMO_IMAGE, resource_path
    from .engine.jobs import JobOptions

    image = resource_path(DEMO_IMAGE)
    result = _run_one(image, args.outdir, JobOptions(), args)
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

    from .engine.io import open_image
    from .engine.writers import read_labels_tiff

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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
