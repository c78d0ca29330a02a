"""Entry point of the ``wavescope`` command.

Each sub-command lives in its own module ``wavescope.cli.<name>`` that defines
``register(subparsers)``; the module's ``run(args)`` parses nothing more, calls a pipeline,
renders and prints. Every module listed in :data:`COMMANDS` must import (a command that
fails to import is an error, never a silently missing command), and torch-based commands
import torch only when run.

Exit status: 0 on success, 1 when some recordings of a batch failed, 2 for every
:class:`~wavescope.core.errors.WaveInputError` (the message is printed, no traceback), 3
for an internal error (a short message; the traceback with ``--debug``).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

from wavescope.core.errors import WaveInputError

COMMANDS = ("velocity", "calibrate", "demo", "train", "probe", "compare", "memory")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wavescope",
        description="Detect and measure traveling waves in recordings and model hidden states.",
    )
    from wavescope import __version__

    parser.add_argument("--version", action="version", version=f"wavescope {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an internal error"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"wavescope.cli.{name}").register(sub)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Warnings as one line a user reads, not a source location, in CLI syntax."""
    from wavescope.report.text import as_cli

    print(f"wavescope: warning: {as_cli(message)}", file=sys.stderr if file is None else file)


def main(argv=None) -> int:
    import warnings

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    shown = warnings.showwarning
    warnings.showwarning = _show_warning
    try:
        return _run(args)
    finally:
        warnings.showwarning = shown


def _run(args) -> int:
    from wavescope.core.progress import StderrBars, reporting

    bars = StderrBars()  # long library steps (the null's surrogates) on a terminal
    try:
        with reporting(bars):
            return int(args.func(args) or 0)
    except WaveInputError as exc:
        print(f"wavescope {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader went away (``wavescope velocity ... | head``): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print(f"wavescope {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # not one of ours: say so, never a bare traceback
        if args.debug:
            traceback.print_exc()
        print(
            f"wavescope {args.command}: internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in wavescope; please report it with the command you ran "
            "(run again with 'wavescope --debug ...' for the traceback).",
            file=sys.stderr,
        )
        return 3
    finally:
        bars.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
