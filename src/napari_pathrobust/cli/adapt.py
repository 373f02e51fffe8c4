"""``pathrobust adapt``: adapt the PSM network to each input image, check the adapted
network (keep it or roll back to the source), then segment the image with it."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import add_mpp_argument, device_arg, inputs_or_error, positive_int, run_guarded


def _fraction(value: str) -> float:
    try:
        p = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {value!r}") from None
    if not 0.0 <= p <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {value!r}")
    return p


def register(sub) -> None:
    """Add the ``adapt`` subcommand."""
    from ..engine.api import DEFAULT_SLIDE_METHOD, SLIDE_METHODS

    p = sub.add_parser("adapt", help="adapt the PSM network to each image (checked: the "
                                     "source network is kept when adapting does not help), "
                                     "then segment it")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or globs")
    p.add_argument("-o", "--outdir", type=Path, required=True, help="output folder")
    p.add_argument("--method", choices=SLIDE_METHODS, default=DEFAULT_SLIDE_METHOD,
                   help=f"default {DEFAULT_SLIDE_METHOD}: Reinhard colour normalisation to "
                        "the training slides; bn (BatchNorm statistics re-estimated on the "
                        "image), stain+bn, tent, ocl, none")
    p.add_argument("--bn-weight", type=_fraction, default=1.0,
                   help="share of the image's BatchNorm statistics (default 1)")
    p.add_argument("--epochs", type=positive_int, default=1,
                   help="passes over the sample tiles for tent / ocl (default 1)")
    p.add_argument("--lr", type=float, default=None,
                   help="tent / ocl learning rate (default 1e-3 / 1e-4)")
    p.add_argument("--no-gate", action="store_true",
                   help="always keep the adapted network (skip the never-worse check)")
    p.add_argument("--keep", metavar="NAME", default=None,
                   help="save a kept adapted network as NAME in the models folder "
                        "(then usable as method psm@NAME)")
    p.add_argument("--models-dir", type=Path, default=None,
                   help="where --keep saves (default: the user models folder)")
    p.add_argument("--tile", type=positive_int, default=None,
                   help="segmentation tile side in pixels (default: from memory)")
    p.add_argument("--device", default="auto", type=device_arg, help="auto | cpu | cuda[:N] | mps")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--model", type=Path, default=None,
                   help="downstream network weights (default: bundled)")
    p.add_argument("--labels-format", choices=("auto", "tif", "zarr"), default="auto")
    add_mpp_argument(p)
    p.set_defaults(func=cmd_adapt)


def cmd_adapt(args: argparse.Namespace) -> int:
    from ..engine.api import (
        Reporter,
        SlideAdaptConfig,
        default_models_dir,
        open_image,
        save_adapted,
    )
    from ..engine.jobs import JobOptions
    from ..engine.jobs.adapt import adapt_slide_to_files
    from .segment import pixel_note

    inputs = inputs_or_error(args.inputs)
    if inputs is None:
        return 1
    config = SlideAdaptConfig(method=args.method, bn_weight=args.bn_weight, epochs=args.epochs,
                              lr=args.lr, gate=not args.no_gate, seed=args.seed)
    params = {"seg_weights": str(args.model)} if args.model else {}
    options = JobOptions(method="psm", method_params=params, device=args.device,
                         tile=args.tile, seed=args.seed, labels_format=args.labels_format,
                         mpp=args.mpp)
    failed = 0
    for path in inputs:
        out = run_guarded(path, lambda bar, path=path: adapt_slide_to_files(
            open_image(path, mpp=args.mpp), args.outdir, config, options,
            Reporter(progress=bar)), args)
        if out is None:
            failed += 1
            continue
        result, adaptation = out
        print(f"{result.name}: {adaptation.message} [{adaptation.summary()}]; "
              f"{result.n_nuclei} nuclei in {result.seconds:.2f} s -> "
              f"{result.outputs['labels'].parent}/{result.name}_*"
              f"{pixel_note(result)}")
        if args.keep and adaptation.kept:
            folder = args.models_dir or default_models_dir()
            name = args.keep if len(inputs) == 1 else f"{args.keep}-{result.name}"
            saved = save_adapted(adaptation, folder, name, image=str(path))
            usable = (f" (method psm@{saved.stem})" if folder == default_models_dir()
                      else " (segment and Recognise list the default models folder only)")
            print(f"  kept adapted network -> {saved}{usable}")
        elif args.keep:
            print("  nothing saved: the source network was kept")
    return 1 if failed else 0
