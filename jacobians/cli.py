"""The ``jacobians`` console script.

Subcommands::

    jacobians list                      registered operators and their faces
    jacobians show OPERATOR ...         print one Jacobian for a given shape
    jacobians verify ...                verdict on every claim of the notes
    jacobians example NAME ...          print a note's worked example
    jacobians compare OPERATOR ...      is my Jacobian (or gradient) right? which mistake is it?

Each subcommand lives in :mod:`jacobians.commands` as a module with
``configure(parser)`` and ``run(args) -> int``; modules there import nothing
heavy at import time so that ``jacobians --help`` stays fast.

Every user error (bad shape, unknown operator, invalid geometry, unreadable
file) prints exactly one line on stderr and exits with status 2; values echoed
in it are cut to about 80 characters. SIGINT exits with 130 and SIGTERM with
143, each after removing any partly written output file. Anything else is an
internal error: one line, status 70, the traceback only with
``JACOBIANS_DEBUG=1``.
"""
from __future__ import annotations

import argparse
import importlib
import os
import re
import sys

from . import __version__

#: subcommand -> module under jacobians.commands
COMMANDS = {
    "list": "list_ops",
    "show": "show",
    "verify": "verify",
    "example": "example",
    "compare": "compare",
    "diff": "diff",
}


class UsageError(Exception):
    """A user error: the message is printed on one line and the exit status is 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse would print the usage too)
        raise UsageError(f"{self.prog}: {message}")


#: Exit statuses besides 0 and 2.
EXIT_INTERNAL, EXIT_SIGINT, EXIT_SIGTERM = 70, 130, 143
#: An error line is cut to this many characters; quoted values in it to about 80.
MAX_ERROR_LINE = 400
_QUOTED = re.compile(r"'([^']{81,})'|\"([^\"]{81,})\"")


def one_line(message) -> str:
    """``message`` on one line, quoted values longer than 80 characters cut, at most MAX_ERROR_LINE characters."""
    text = " ".join(str(message).split())

    def cut(match):
        value = match.group(1) if match.group(1) is not None else match.group(2)
        return repr(value[:60] + "…" + value[-10:]) + f" ({len(value)} characters)"

    text = _QUOTED.sub(cut, text)
    return text if len(text) <= MAX_ERROR_LINE else text[: MAX_ERROR_LINE - 1] + "…"


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
    from ._atomic import Terminated

    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            parser.print_help()
            return 0
        return int(args._run(args) or 0)
    except BrokenPipeError:
        # output piped into `head` and the like: stop quietly, as shell tools do on SIGPIPE
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except UsageError as exc:
        print(one_line(exc), file=sys.stderr)
        return 2
    except (ValueError, KeyError, TypeError, OSError, NotImplementedError, MemoryError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        if isinstance(exc, MemoryError) and not str(exc):
            message = "out of memory (lower the sizes or --max-memory)"
        print(f"jacobians: error: {one_line(message)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("jacobians: interrupted", file=sys.stderr)
        return EXIT_SIGINT
    except Terminated:
        print("jacobians: terminated", file=sys.stderr)
        return EXIT_SIGTERM
    except Exception as exc:  # a bug, not a user error: still one line unless asked for the traceback
        if os.environ.get("JACOBIANS_DEBUG"):
            raise
        print(f"jacobians: internal error: {type(exc).__name__}: {one_line(exc)} (JACOBIANS_DEBUG=1 shows the traceback)",
              file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
