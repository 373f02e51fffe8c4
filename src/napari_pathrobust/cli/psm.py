"""``pathrobust train-ssl``, ``pathrobust pseudo-masks`` and ``pathrobust train`` (PSM)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..engine.api import SEG_STRATEGIES, TARGET_VARIANTS
from ._common import (
    add_mpp_argument,
    device_arg,
    inputs_or_error,
    non_negative_int,
    open_unit_float,
    positive_int,
    run_guarded,
)


def register(sub) -> None:
    """Add the PSM subcommands."""
    ssl = sub.add_parser("train-ssl", help="train the self-supervised activation network "
                                           "on unlabelled images")
    ssl.add_argument("inputs", nargs="+", metavar="INPUT", help="images, folders or globs")
    ssl.add_argument("-o", "--output", type=Path, required=True, help="weights file (.pt)")
    ssl.add_argument("--pretext", choices=("rotation", "rotation-similarity"),
                     default="rotation")
    ssl.add_argument("--steps", type=positive_int, default=1500)
    ssl.add_argument("--batch", type=positive_int, default=16)
    ssl.add_argument("--crop", type=positive_int, default=128)
    _common_training(ssl)
    ssl.set_defaults(func=cmd_train_ssl)

    pm = sub.add_parser("pseudo-masks", help="write activation maps and SCM pseudo-masks "
                                             "(plus the usual outputs)")
    pm.add_argument("inputs", nargs="+", metavar="INPUT", help="images, folders or globs")
    pm.add_argument("-o", "--outdir", type=Path, required=True)
    pm.add_argument("--ssl", type=Path, default=None, help="activation network weights")
    pm.add_argument("--device", default="auto", type=device_arg)
    pm.add_argument("--seed", type=int, default=0)
    add_mpp_argument(pm)
    pm.set_defaults(func=cmd_pseudo_masks)

    tr = sub.add_parser("train", help="train the downstream nucleus network on pseudo-masks")
    tr.add_argument("inputs", nargs="+", metavar="INPUT", help="images, folders or globs")
    tr.add_argument("-o", "--output", type=Path, required=True, help="weights file (.pt)")
    tr.add_argument("--ssl", type=Path, default=None, help="activation network weights")
    tr.add_argument("--steps", type=positive_int, default=2000)
    tr.add_argument("--batch", type=positive_int, default=8)
    tr.add_argument("--crop", type=positive_int, default=256)
    tr.add_argument("--width", type=positive_int, default=16)
    tr.add_argument("--no-voronoi", action="store_true",
                    help="no Voronoi-edge background supervision")
    tr.add_argument("--targets", choices=TARGET_VARIANTS, default="classical-agree",
                    help="pseudo-label source: classical nuclei that an SCM nucleus confirms "
                         "(default, shipped), SCM nuclei that a classical one confirms, "
                         "SCM alone, or the union of both masks")
    tr.add_argument("--strategy", choices=SEG_STRATEGIES, default="erm",
                    help="training strategy under noisy, imbalanced pseudo-labels: plain "
                         "cross-entropy (erm), focal, GCE, class reweighting or DAR "
                         "(docs/dar.md)")
    tr.add_argument("--min-solidity", type=float, default=0.85,
                    help="pseudo-label instances less convex than this are ignored")
    tr.add_argument("--self-training-rounds", type=non_negative_int, default=0, metavar="N",
                    help="after the first network, N rounds of confidence-filtered "
                         "self-training, each a fresh network on targets grown from the "
                         "previous one's confident nuclei (the shipped network used 5)")
    tr.add_argument("--confident", type=open_unit_float(0.5), default=0.8,
                    help="self-training: mean nucleus probability a new nucleus needs, "
                         "and 1 - this is the most a background pixel may have")
    tr.add_argument("--stain", choices=("he", "ihc"), default="he",
                    help="ihc: train the network of `segment --stain ihc` on IHC images "
                         "(rendered as that method sees them; pixel size estimated from "
                         "the nuclei when unknown)")
    tr.add_argument("--init", type=Path, default=None, metavar="WEIGHTS",
                    help="start every network from these weights (e.g. the bundled H&E "
                         "network) instead of from scratch")
    tr.add_argument("--keep-rounds", action="store_true",
                    help="self-training: also save each earlier round as "
                         "OUTPUT_round<k>.pt")
    _common_training(tr)
    tr.set_defaults(func=cmd_train)


def _common_training(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lr", type=float, default=None, help="learning rate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", type=device_arg)
    add_mpp_argument(parser)


def _inputs(args: argparse.Namespace):
    paths = inputs_or_error(args.inputs)
    if paths is None:
        raise SystemExit(1)
    return paths


def cmd_train_ssl(args: argparse.Namespace) -> int:
    from ..engine.api import PretextConfig, Reporter
    from ..engine.jobs.train_psm import train_activation_network

    paths = _inputs(args)
    config = PretextConfig(pretext=args.pretext, steps=args.steps, batch=args.batch,
                           crop=args.crop, seed=args.seed,
                           **({"lr": args.lr} if args.lr else {}))
    out = run_guarded(args.output, lambda bar: train_activation_network(
        paths, args.output, config, args.device, Reporter(progress=bar), mpp=args.mpp), args)
    if out is None:
        return 1
    sha, log = out
    print(f"{args.output}: pretext loss {log['final_loss']:.3f} in {log['seconds']:.0f} s, "
          f"sha256 {sha[:16]}")
    return 0


def cmd_pseudo_masks(args: argparse.Namespace) -> int:
    from ..engine.jobs import JobOptions
    from .segment import segment_one

    params = {"seg_weights": ""}
    if args.ssl:
        params["ssl_weights"] = str(args.ssl)
    options = JobOptions(method="psm", method_params=params, device=args.device,
                         seed=args.seed, write_maps=True, labels_format="tif", mpp=args.mpp)
    inputs = inputs_or_error(args.inputs)
    if inputs is None:
        return 1
    failed = sum(segment_one(p, args.outdir, options, args) is None for p in inputs)
    return 1 if failed else 0


def cmd_train(args: argparse.Namespace) -> int:
    from ..engine.api import Reporter
    from ..engine.jobs.train_psm import train_downstream

    paths = _inputs(args)

    def job(bar):
        return train_downstream(
            paths, None, args.output, ssl_weights=args.ssl, steps=args.steps,
            batch=args.batch, crop=args.crop, width=args.width, lr=args.lr, seed=args.seed,
            device=args.device, voronoi=not args.no_voronoi, min_solidity=args.min_solidity,
            variant=args.targets, strategy=args.strategy,
            self_training_rounds=args.self_training_rounds, confident=args.confident,
            keep_rounds=args.keep_rounds, reporter=Reporter(progress=bar), mpp=args.mpp,
            stain=args.stain, init_weights=args.init)

    out = run_guarded(args.output, job, args)
    if out is None:
        return 1
    grown = "".join(f", round {r['round']} +{r['nuclei_added']} nuclei"
                    for r in out["self_training"])
    print(f"{args.output}: {args.strategy}, loss {out['final_loss']:.4f} in "
          f"{out['total_seconds']:.0f} s of training on "
          f"{out['n_reliable']} reliable pseudo-label nuclei{grown}, "
          f"sha256 {out['sha256'][:16]}")
    return 0
