"""The ``pathrobust`` command line: the same engine calls the widgets use.

Each subcommand lives in its own module with a ``register(subparsers)`` function;
add new ones to ``_COMMAND_MODULES``. Exit codes: 0 ok, 1 an input failed (bad file
or failed job), 2 usage error.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from typing import Optional, Sequence

from .. import __version__
from ._common import expand_inputs

# subcommand modules, in the order they appear in --help
_COMMAND_MODULES = ("segment", "psm", "corrupt", "adapt", "finetune", "classify")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with all subcommands."""
    parser = argparse.ArgumentParser(
        prog="pathrobust", description="Label-free nucleus recognition for H&E/IHC slides.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on failure")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``pathrobust`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning
            return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 1


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one ``warning: ...`` line on stderr (no source line), above any bar."""
    from tqdm import tqdm

    tqdm.write(f"warning: {message}", file=file or sys.stderr)


__all__ = ["main", "build_parser", "expand_inputs"]
