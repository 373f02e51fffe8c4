"""``pathrobust train-classifier``: a cell classifier from the cells named in results.

``pathrobust segment --classifier F`` (in :mod:`.segment`) applies such a file; the
helpers it uses are here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._common import add_mpp_argument, run_guarded


def register(sub) -> None:
    """Add the ``train-classifier`` subcommand."""
    p = sub.add_parser("train-classifier",
                       help="train a cell classifier on the cells named in result files "
                            "(Export's label TIFF / OME-Zarr / GeoJSON / cells CSV)")
    p.add_argument("results", nargs="+", type=Path, metavar="RESULT",
                   help="result files with named cells (base classes set in Review)")
    p.add_argument("-o", "--output", type=Path, required=True,
                   help="the classifier file to write (e.g. cells.classifier.zip)")
    p.add_argument("--image", type=Path, action="append", default=None,
                   help="the source image of the results (default: the one recorded in "
                        "them); once for all, or once per RESULT in order")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    add_mpp_argument(p)
    p.set_defaults(func=cmd_train_classifier)


def cmd_train_classifier(args: argparse.Namespace) -> int:
    from ..engine.api import Reporter, train_from_results

    def job(bar):
        model = train_from_results(args.results, args.image, seed=args.seed,
                                   reporter=Reporter(progress=bar), mpp=args.mpp)
        model.card["trained_with"] = "pathrobust train-classifier"
        return model, model.save(args.output)

    done = run_guarded(args.output, job, args)
    if done is None:
        return 1
    model, path = done
    print(f"{path}: {model.describe()}")
    return 0


def load_or_fail(path):
    """The classifier in ``path`` (None: no classifier), or one ``error:`` line and
    exit code 2."""
    if path is None:
        return None
    from ..engine.api import InputError, load_classifier

    try:
        return load_classifier(path)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def classify_result(result, image, classifier, path, args) -> bool:
    """Classify a segment job's outputs; print the class counts or one error line."""
    from ..engine.api import Reporter, classify_outputs

    counts = run_guarded(image, lambda bar: classify_outputs(
        result.outputs, classifier, image, path, Reporter(progress=bar)), args)
    if counts is None:
        return False
    text = ", ".join(f"{k} {v}" for k, v in counts.items()) or "no cells"
    print(f"{result.name}: classified ({text})")
    return True
