"""Command line: parse, call the library, turn errors into exit codes (0 ok, 1 diverged, 2 error).

Each subcommand lives in ``bmtrace/commands/<module>.py`` and defines ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``. Command modules import heavy packages inside
``run`` so that ``bmtrace --help`` stays fast.
"""
import argparse
import importlib
import sys

from . import __version__
from .errors import BmtraceError

# Order here is the order in `bmtrace --help`.
COMMAND_MODULES = (
    "record",
    "show",
    "diff",
    "replay",
    "substitute",
    "attribute",
    "report",
    "bmodel_info",
    "import_bmrt",
    "import_npy",
)

EXIT_OK, EXIT_DIVERGED, EXIT_ERROR = 0, 1, 2


def _load_commands():
    commands = []
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module("bmtrace.commands." + module_name)
        except ModuleNotFoundError as exc:
            if exc.name == "bmtrace.commands." + module_name:
                continue  # command not built yet
            raise
        commands.append(module)
    return commands


def build_parser():
    parser = argparse.ArgumentParser(
        prog="bmtrace",
        description="Find the first stage where two versions of a deep-learning program stop agreeing.",
    )
    parser.add_argument("--version", action="version", version="bmtrace " + __version__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _load_commands():
        cmd = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    try:
        return int(args._run(args) or 0)
    except BmtraceError as exc:
        print("bmtrace %s: error: %s" % (args.command, exc), file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("bmtrace %s: interrupted" % args.command, file=sys.stderr)
        return EXIT_ERROR
