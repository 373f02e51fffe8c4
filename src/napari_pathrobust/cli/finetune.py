"""``pathrobust finetune``: fine-tune the PSM network on reviewed cells and keep it as
``psm@NAME`` (checked on held-back reviewed cells: nothing is kept when it is worse)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._common import add_mpp_argument, device_arg, positive_int, run_guarded


def register(sub) -> None:
    """Add the ``finetune`` subcommand."""
    p = sub.add_parser("finetune", help="improve the PSM network from reviewed cells "
                                        "(accepted, rejected, painted) and keep it as "
                                        "psm@NAME")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="the reviewed images")
    p.add_argument("--reviewed", nargs="+", required=True, metavar="RESULT",
                   help="Export's results, one per image in the same order: label TIFF "
                        "(with its _cells.csv) or OME-Zarr labels, cells with status")
    p.add_argument("-o", "--name", required=True, metavar="NAME",
                   help="name of the kept network (method psm@NAME)")
    p.add_argument("--method", choices=("erm", "dar"), default=None,
                   help="training: erm or dar (default: the engine's, see docs)")
    p.add_argument("--steps", type=positive_int, default=None,
                   help="optimisation steps (default: the engine's)")
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate (default: the engine's)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--model", type=Path, default=None,
                   help="network weights to start from (default: the shipped network)")
    p.add_argument("--models-dir", type=Path, default=None,
                   help="where the network is kept (default: the user models folder)")
    p.add_argument("--device", default="auto", type=device_arg, help="auto | cpu | cuda[:N] | mps")
    add_mpp_argument(p)
    p.set_defaults(func=cmd_finetune)


def cmd_finetune(args: argparse.Namespace) -> int:
    from ..engine.api import FinetuneConfig, default_models_dir, finetune_to_model

    defaults = FinetuneConfig()
    config = FinetuneConfig(method=args.method or defaults.method,
                            steps=args.steps or defaults.steps, seed=args.seed,
                            lr=defaults.lr if args.lr is None else args.lr)
    out = run_guarded(args.name, lambda bar: finetune_to_model(
        args.images, args.reviewed, args.name, config, models_dir=args.models_dir,
        source=str(args.model) if args.model else None, device=args.device,
        mpp=args.mpp, reporter=_reporter(bar)), args)
    if out is None:
        return 1
    print(out.message)
    if out.path is not None:
        folder = args.models_dir or default_models_dir()
        if Path(folder) != default_models_dir():
            print("  (segment and Recognise list the default models folder only)",
                  file=sys.stderr)
        print(f"  network -> {out.path}")
    return 0


def _reporter(bar):
    from ..engine.api import Reporter

    return Reporter(progress=bar)
