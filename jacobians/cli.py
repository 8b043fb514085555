"""The ``jacobians`` console script.

Subcommands::

    jacobians list                      registered operators and their faces
    jacobians show OPERATOR ...         print one Jacobian for a given shape
    jacobians verify ...                verdict on every claim of the notes
    jacobians example NAME ...          print a note's worked example

Each subcommand lives in :mod:`jacobians.commands` as a module with
``configure(parser)`` and ``run(args) -> int``; modules there import nothing
heavy at import time so that ``jacobians --help`` stays fast.

Every user error (bad shape, unknown operator, invalid geometry, unreadable
file) prints exactly one line on stderr and exits with status 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__

#: subcommand -> module under jacobians.commands
COMMANDS = {
    "list": "list_ops",
    "show": "show",
    "verify": "verify",
    "example": "example",
    "diff": "diff",
}


class UsageError(Exception):
    """A user error: the message is printed on one line and the exit status is 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse would print the usage too)
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="jacobians",
        description="Explicit sparse Jacobians of CNN layers, and a verifier for hand-derived backpropagation.",
    )
    parser.add_argument("--version", action="version", version=f"jacobians {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, module_name in COMMANDS.items():
        try:
            module = importlib.import_module(f".commands.{module_name}", __package__)
        except ModuleNotFoundError as exc:  # a subcommand not built yet
            if exc.name != f"{__package__}.commands.{module_name}":
                raise
            continue
        sp = sub.add_parser(
            name, help=module.HELP, description=module.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        module.configure(sp)
        sp.set_defaults(_run=module.run)
    return parser


def main(argv=None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            parser.print_help()
            return 0
        return int(args._run(args) or 0)
    except BrokenPipeError:
        # output piped into `head` and the like: stop quietly, as shell tools do on SIGPIPE
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except UsageError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except (ValueError, KeyError, TypeError, OSError, NotImplementedError, MemoryError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        message = " ".join(str(message).split())  # one line
        print(f"jacobians: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("jacobians: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
