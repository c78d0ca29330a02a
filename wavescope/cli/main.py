"""Entry point of the ``wavescope`` command.

Each sub-command lives in its own module ``wavescope.cli.<name>`` that defines
``register(subparsers)``; the module's ``run(args)`` parses nothing more, calls a pipeline,
renders and prints. Every module listed in :data:`COMMANDS` must import (a command that
fails to import is an error, never a silently missing command), and torch-based commands
import torch only when run.

Exit status: 0 on success, 1 when some recordings of a batch failed, 2 for every
:class:`~wavescope.core.errors.WaveInputError` (the message is printed, no traceback), for
an argument holding a NUL byte, and when the machine stops the work (out of memory, disk
full, no permission to write), 3 for an internal error (a short message; the traceback
with ``--debug``).
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


def _nul_options(args) -> list[str]:
    """Options whose text holds a NUL byte, which no path or value can hold."""

    def has_nul(v) -> bool:
        if isinstance(v, str):
            return "\x00" in v
        return isinstance(v, (list, tuple)) and any(has_nul(x) for x in v)

    return [k for k, v in vars(args).items() if has_nul(v)]


def _run(args) -> int:
    nul = _nul_options(args)
    if nul:
        print(
            f"wavescope {args.command}: error: {', '.join(nul)}: a NUL byte (\\x00) in the "
            "argument; no path or value can hold one: check how the command line was built.",
            file=sys.stderr,
        )
        return 2
    from wavescope.core.progress import StderrBars, reporting

    bars = StderrBars()  # long library steps (the null's surrogates) on a terminal
    try:
        with reporting(bars):
            return int(args.func(args) or 0)
    except WaveInputError as exc:
        print(f"wavescope {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except MemoryError:
        print(
            f"wavescope {args.command}: error: out of memory; the input or the settings ask "
            "for more than this machine has: use a smaller input (a shorter record, fewer "
            "channels) or smaller settings.",
            file=sys.stderr,
        )
        return 2
    except BrokenPipeError:
        # the reader went away (an OSError, so before it) : stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as exc:
        import errno  # here, not at the top: the imports are kept for start-up time

        # the machine, not the input or wavescope, stopped a write
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS):
            return _internal(args, exc)
        where = f" {exc.filename}" if exc.filename else ""
        print(
            f"wavescope {args.command}: error: could not write{where}: {exc.strerror} "
            f"({errno.errorcode.get(exc.errno, exc.errno)}); free space or choose a folder "
            "you may write to.",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print(f"wavescope {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # not one of ours: say so, never a bare traceback
        return _internal(args, exc)
    finally:
        bars.close()


def _internal(args, exc) -> int:
    if args.debug:
        traceback.print_exception(exc)
    print(
        f"wavescope {args.command}: internal error: {type(exc).__name__}: {exc}\n"
        "This is a bug in wavescope; please report it with the command you ran "
        "(run again with 'wavescope --debug ...' for the traceback).",
        file=sys.stderr,
    )
    return 3


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
