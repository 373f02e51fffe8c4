"""Argument types, input expansion and per-input error handling shared by subcommands."""

from __future__ import annotations

import argparse
import glob
import sys
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

IMAGE_SUFFIXES = (".tif", ".tiff", ".svs", ".png", ".jpg", ".jpeg", ".zarr", ".ndpi", ".vms",
                  ".vmu", ".scn", ".mrxs", ".bif", ".svslide", ".czi")


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
            images = sorted(p for p in path.iterdir()
                            if p.name.lower().endswith(IMAGE_SUFFIXES)
                            and not p.name.startswith("."))
            dicom = not images and any(p.suffix.lower() == ".dcm" for p in path.iterdir())
            found.extend([path] if dicom else images)  # a DICOM WSI folder is one slide
        else:
            found.append(path)
    return found


def inputs_or_error(items: Sequence[str]) -> Optional[list[Path]]:
    """:func:`expand_inputs`, or None after one error line when nothing was found."""
    found = expand_inputs(items)
    if not found:
        print("error: no input images found", file=sys.stderr)
        return None
    return found


def device_arg(value: str) -> str:
    """argparse type: a device name (auto | cpu | cuda[:N] | mps), checked as the
    settings check it (``engine.settings``)."""
    from ..engine.api import check_setting

    try:
        return check_setting("device", value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _int_at_least(value: str, low: int, what: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = low - 1
    if number < low:
        raise argparse.ArgumentTypeError(f"expected {what}, got {value!r}")
    return number


def positive_int(value: str) -> int:
    """argparse type: an integer > 0."""
    return _int_at_least(value, 1, "a positive integer")


def non_negative_int(value: str) -> int:
    """argparse type: an integer >= 0."""
    return _int_at_least(value, 0, "an integer >= 0")


def open_unit_float(low: float) -> Callable[[str], float]:
    """argparse type: a number strictly between ``low`` and 1."""
    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if not low < number < 1:
            raise argparse.ArgumentTypeError(
                f"expected a number between {low:g} and 1 (exclusive), got {value!r}")
        return number
    return parse


class MppAction(argparse.Action):
    """``--mpp UM``: a positive pixel size in microns; anything else is refused with one
    ``error:`` line and exit code 2."""

    def __call__(self, parser, namespace, values, option_string=None):
        try:
            mpp = float(values)
        except ValueError:
            mpp = float("nan")
        if not (mpp > 0 and mpp < float("inf")):
            print(f"error: {option_string} {values!r}: expected the pixel size in microns "
                  "per pixel, a number > 0 (e.g. 0.5 for 20x, 0.25 for 40x)", file=sys.stderr)
            raise SystemExit(2)
        setattr(namespace, self.dest, mpp)


def add_mpp_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--mpp UM`` option of every command that reads images."""
    parser.add_argument("--mpp", action=MppAction, default=None, metavar="UM",
                        help="microns per pixel of the inputs (wins over the files' own "
                             "pixel size; default: from the file, else the method's "
                             "working resolution, 0.25)")


class ProgressBar:
    """A tqdm bar on stderr driven by engine progress callbacks (silent with --quiet)."""

    def __init__(self, desc: str, quiet: bool, unit: str = "tile"):
        self._bar = None
        if not quiet:
            from tqdm import tqdm

            self._bar = tqdm(total=1, desc=desc, unit=unit, leave=False, file=sys.stderr)

    def __call__(self, done: int, total: int, message: str = "") -> None:
        if self._bar is not None:
            self._bar.total = total
            self._bar.n = done
            self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def run_guarded(label: Any, job: Callable[[Callable[[int, int, str], None]], Any],
                args: argparse.Namespace) -> Optional[Any]:
    """Run ``job(progress)``; print one clear error line (no traceback) and return None
    on failure, so a batch goes on with its other inputs."""
    from ..engine.api import Cancelled, InputError

    bar = ProgressBar(str(getattr(label, "name", label)), args.quiet)
    try:
        return job(bar)
    except (InputError, Cancelled) as exc:
        bar.close()
        print(f"error: {exc}", file=sys.stderr)
    except Exception as exc:  # noqa: BLE001 - one clear line per failed input
        bar.close()
        if args.debug:
            raise
        print(f"error: {label}: {type(exc).__name__}: {exc}", file=sys.stderr)
    finally:
        bar.close()
    return None
