"""``pathrobust adapt``: test-time adaptation of the PSM network to the input images."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._common import add_mpp_argument, device_arg, inputs_or_error, positive_int, run_guarded


def _probability(value: str) -> float:
    try:
        p = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {value!r}") from None
    if not 0.0 <= p <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {value!r}")
    return p


def register(sub) -> None:
    """Add the ``adapt`` subcommand."""
    from ..engine.adapt import METHODS, VIEWS

    p = sub.add_parser("adapt", help="adapt the PSM network to the images while segmenting "
                                     "them (OCL / TENT test-time training)")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or globs")
    p.add_argument("-o", "--outdir", type=Path, required=True, help="output folder")
    p.add_argument("--method", choices=METHODS, default="ocl",
                   help="ocl (default), tent, or none (the source network)")
    p.add_argument("--steps", type=positive_int, default=1, help="steps per tile (default 1)")
    p.add_argument("--lr", type=float, default=None,
                   help="SGD learning rate (default: 1e-4 for ocl, 1e-3 for tent)")
    p.add_argument("--restore-p", type=_probability, default=0.01,
                   help="stochastic restoration probability per weight (default 0.01; 0 = off)")
    p.add_argument("--bn-prior", type=_probability, default=None,
                   help="weight of source BatchNorm statistics (default: source only)")
    p.add_argument("--views", default="identity,hflip",
                   help=f"comma-separated views from {', '.join(VIEWS)} (default identity,hflip)")
    p.add_argument("--predict", choices=("pre", "post"), default="pre",
                   help="predict from the pre-update pass (default) or after the steps")
    p.add_argument("--no-guard", action="store_true", help="disable the collapse guard")
    p.add_argument("--reset-each", action="store_true",
                   help="start every input from the source weights (default: continual)")
    p.add_argument("--tile", type=positive_int, default=None,
                   help="tile side of the stream in pixels (default 512)")
    p.add_argument("--device", default="auto", type=device_arg, help="auto | cpu | cuda[:N] | mps")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--model", type=Path, default=None,
                   help="downstream network weights (default: bundled)")
    p.add_argument("--labels-format", choices=("auto", "tif", "zarr"), default="auto")
    add_mpp_argument(p)
    p.set_defaults(func=cmd_adapt)


def cmd_adapt(args: argparse.Namespace) -> int:
    from ..engine.adapt import AdaptConfig
    from ..engine.adapt.method import AdaptedPSM
    from ..engine.io import open_image
    from ..engine.jobs import JobOptions
    from ..engine.jobs.adapt import adapt_to_files
    from ..engine.progress import Reporter
    from .segment import pixel_note

    inputs = inputs_or_error(args.inputs)
    if inputs is None:
        return 1
    try:
        config = AdaptConfig(method=args.method, steps=args.steps, lr=args.lr,
                             restore_p=args.restore_p, bn_prior=args.bn_prior,
                             views=[v.strip() for v in args.views.split(",") if v.strip()],
                             predict=args.predict, guard=not args.no_guard, seed=args.seed)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    params = {"seg_weights": str(args.model)} if args.model else {}
    options = JobOptions(method="psm", method_params=params, device=args.device,
                         tile=args.tile, seed=args.seed, labels_format=args.labels_format,
                         mpp=args.mpp)
    state: dict = {}

    def job(path: Path, bar):
        if "method" not in state or args.reset_each:
            state["method"] = AdaptedPSM(config, device=args.device, seed=args.seed, **params)
        return adapt_to_files(open_image(path, mpp=args.mpp), args.outdir, config, options,
                              Reporter(progress=bar), method=state["method"])

    failed = 0
    for path in inputs:
        result = run_guarded(path, lambda bar, path=path: job(path, bar), args)
        if result is None:
            failed += 1
            continue
        info = result.info["parameters"]["adaptation"]
        print(f"{result.name}: {result.n_nuclei} nuclei in {result.seconds:.2f} s "
              f"({args.method}, {info['steps']} steps, {info['rollbacks']} rollbacks) "
              f"-> {result.outputs['labels'].parent}/{result.name}_*{pixel_note(result)}")
    return 1 if failed else 0
