"""Entry point of the ``wavescope`` command.

Each sub-command lives in its own module ``wavescope.cli.<name>`` that defines
``register(subparsers)``; the module's ``run(args)`` does the work. Modules are
imported only when listed here, and torch-based commands import torch only when run.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from wavescope.core.validate import WaveInputError

COMMANDS = ("velocity", "demo", "train", "probe", "compare", "memory")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wavescope",
        description="Detect and measure traveling waves in recordings and model hidden states.",
    )
    from wavescope import __version__

    parser.add_argument("--version", action="version", version=f"wavescope {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"wavescope.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"wavescope.cli.{name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except WaveInputError as exc:
        print(f"wavescope {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
