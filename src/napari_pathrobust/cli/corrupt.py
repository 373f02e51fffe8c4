"""``pathrobust corrupt`` (apply one corruption) and ``pathrobust robustness`` (report)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..engine.api import DEFAULT_METHOD
from ._common import add_mpp_argument, device_arg, inputs_or_error, run_guarded


def _severity(value: str) -> int:
    try:
        s = int(value)
    except ValueError:
        s = 0
    if not 1 <= s <= 5:
        raise argparse.ArgumentTypeError(f"expected a severity 1..5, got {value!r}")
    return s


def register(sub) -> None:
    """Add the ``corrupt`` and ``robustness`` subcommands."""
    cor = sub.add_parser("corrupt", help="apply a clinical image corruption (or --list them)")
    cor.add_argument("input", nargs="?", metavar="INPUT", help="RGB image file")
    cor.add_argument("--list", action="store_true", help="list the corruption kinds")
    cor.add_argument("--kind", help="corruption kind (see --list)")
    cor.add_argument("--severity", type=_severity, default=3, help="1..5 (default: 3)")
    cor.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    cor.add_argument("--device", default="auto", type=device_arg,
                     help="auto | cpu | cuda[:N] | mps (default: auto)")
    cor.add_argument("--tile", type=int, default=2048,
                     help="process images larger than this tile by tile (default: 2048)")
    cor.add_argument("-o", "--output", type=Path, help="output image (.png/.tif)")
    cor.add_argument("--labels", type=Path,
                     help="instance labels to carry through the same transform")
    cor.add_argument("--labels-output", type=Path, help="where to write the mapped labels")
    cor.set_defaults(func=cmd_corrupt)

    rob = sub.add_parser("robustness", help="run recognition on every corrupted version and "
                                            "write robustness.csv, plots and an HTML report")
    rob.add_argument("inputs", nargs="+", metavar="INPUT", help="images, folders or globs")
    rob.add_argument("--gt", type=Path, help="folder of GT instance labels (<stem>*.tif)")
    rob.add_argument("--method", "--model", dest="model", default=DEFAULT_METHOD,
                     help="project method, module:function, TorchScript .pt or ONNX file "
                          f"(default: {DEFAULT_METHOD}, as Recognise and segment)")
    rob.add_argument("--kinds", nargs="+", default=None,
                     help="corruption kinds (default: the 11 benchmark kinds)")
    rob.add_argument("--severities", default="1-5", help="e.g. 1-5 or 1,3,5 (default: 1-5)")
    rob.add_argument("--seed", type=int, default=0)
    rob.add_argument("--crop", type=int, default=0,
                     help="use a centred crop of this side (0 = whole image)")
    rob.add_argument("--device", default="auto", type=device_arg,
                     help="runs the corruptions and the model (default: auto)")
    rob.add_argument("-o", "--outdir", type=Path, required=True)
    add_mpp_argument(rob)
    rob.set_defaults(func=cmd_robustness)


def cmd_corrupt(args: argparse.Namespace) -> int:
    from ..engine.api import CORRUPTIONS

    if args.list:
        for c in CORRUPTIONS.values():
            extra = "" if c.benchmark else " [extra]"
            print(f"{c.name}\t{c.family}: {c.description}{extra}")
        return 0
    if not args.input or not args.kind or not args.output:
        print("error: corrupt needs INPUT, --kind and -o OUTPUT (or --list)", file=sys.stderr)
        return 2
    if args.kind not in CORRUPTIONS:
        print(f"error: unknown kind {args.kind!r}; see pathrobust corrupt --list",
              file=sys.stderr)
        return 2

    def job(bar):
        import numpy as np

        from ..engine.api import Reporter, atomic_path, corrupt_tiled, map_labels, open_image

        slide = open_image(args.input)
        rgb = np.asarray(slide.data.compute(scheduler="synchronous"))
        out = corrupt_tiled(rgb, args.kind, args.severity, args.seed, tile=args.tile,
                            device=args.device, reporter=Reporter(progress=bar))
        _write_image(out, args.output, atomic_path)
        if args.labels is not None:
            import tifffile

            lab = tifffile.imread(args.labels)
            mapped = map_labels(lab, args.kind, args.severity, args.seed)
            dest = args.labels_output or args.output.with_name(args.output.stem + "_labels.tif")
            with atomic_path(dest) as tmp:
                tifffile.imwrite(tmp, mapped)
        return out

    result = run_guarded(args.input, job, args)
    if result is None:
        return 1
    print(f"{args.input}: {args.kind} severity {args.severity} seed {args.seed} -> {args.output}")
    return 0


def _write_image(rgb, path: Path, atomic_path) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    with atomic_path(path) as tmp:
        if suffix in (".tif", ".tiff"):
            import tifffile

            tifffile.imwrite(tmp, rgb, photometric="rgb")
        else:
            fmt = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}.get(suffix, "PNG")
            Image.fromarray(rgb).save(tmp, format=fmt)


def cmd_robustness(args: argparse.Namespace) -> int:
    from ..engine.api import BENCHMARK_KINDS, CORRUPTIONS, parse_severities

    kinds = args.kinds or list(BENCHMARK_KINDS)
    bad = [k for k in kinds if k not in CORRUPTIONS]
    if bad:
        print(f"error: unknown kind(s) {', '.join(bad)}; see pathrobust corrupt --list",
              file=sys.stderr)
        return 2
    try:
        severities = parse_severities(args.severities)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    inputs = inputs_or_error(args.inputs)
    if inputs is None:
        return 1

    def job(bar):
        from ..engine.api import Reporter
        from ..engine.jobs.robustness import robustness_files

        return robustness_files(inputs, args.outdir, args.model, kinds, severities,
                                gt_dir=args.gt, seed=args.seed, crop=args.crop,
                                device=args.device, reporter=Reporter(progress=bar),
                                mpp=args.mpp)

    result = run_guarded("robustness", job, args)
    if result is None:
        return 1
    for kind, drop in result["ranking"][:5]:
        print(f"{kind}: mean drop {drop:.3f}")
    print(f"{len(result['rows'])} rows -> {result['csv']} and {result['html']}")
    return 0
