"""Command line: parse, call the library, and turn every outcome into a message and an exit code.

Exit codes (the same for every command):

    0    success; for diff/report/replay: everything aligned
    1    diverged: the compared runs (or the replayed function) differ beyond tolerance
    2    error: bad input or environment (missing or corrupt run, bad option value, unreadable or
         unwritable file); one line "bmtrace CMD: error: ..." on stderr names what and where
    3    similar only: nothing diverged, but some pairs are only SIMILAR (diff)
    4    usage: the command line could not be parsed (unknown option, missing argument)
    70   internal error: a bug in bmtrace (EX_SOFTWARE); the message asks you to report it, and
         BMTRACE_DEBUG=1 prints the traceback
    130  interrupted (Ctrl-C)
    141  stdout was closed early (e.g. ``bmtrace diff A B | head -1``); ends quietly, like a
         process ended by SIGPIPE, and never 0, so a ``set -o pipefail`` gate cannot pass by accident

Each subcommand lives in ``bmtrace/commands/<module>.py`` and defines ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``. Command modules import heavy packages inside
``run`` so that ``bmtrace --help`` stays fast.
"""
import argparse
import errno
import gc
import importlib
import os
import sys
import textwrap
import traceback

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
    "pack",
    "unpack",
    "completion",
)

EXIT_OK = 0
EXIT_DIVERGED = 1
EXIT_ERROR = 2
EXIT_SIMILAR = 3
EXIT_USAGE = 4
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141

EXIT_CODES_HELP = """exit codes:
  0    success (diff/report/replay: aligned)
  1    diverged
  2    error (bad input or environment; the message says what and where)
  3    similar only (diff: nothing diverged, some pairs only SIMILAR)
  4    usage error (the command line could not be parsed)
  70   internal error in bmtrace (please report; BMTRACE_DEBUG=1 shows the traceback)
  130  interrupted
  141  output pipe closed early"""


class ArgumentParser(argparse.ArgumentParser):
    """argparse with the usage-error exit code (4), so 2 keeps meaning "error in the input"."""

    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, "%s: error: %s\n" % (self.prog, message))


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
    parser = ArgumentParser(
        prog="bmtrace",
        description="Find the first stage where two versions of a deep-learning program stop agreeing.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version="bmtrace " + __version__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _load_commands():
        # Raw formatting keeps the line breaks of examples in epilogs; the description is wrapped here.
        cmd = sub.add_parser(module.NAME, help=module.HELP, description=textwrap.fill(module.HELP, 79),
                             formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def entry():
    """The ``bmtrace`` command: ``main()``, then what remains of the process is frozen for the cyclic
    collector, whose walk of it at exit would be wasted (a second at the end of a 100k-sample diff)."""
    code = main()
    gc.freeze()
    return code


def main(argv=None):
    """Run one command; returns the exit code (see the module docstring), never raises."""
    _tolerant_streams()
    command = _command_name(argv)
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help, --version (0) or a usage error (4)
            sys.stdout.flush()
            return exc.code if isinstance(exc.code, int) else EXIT_USAGE
        if not getattr(args, "_run", None):
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        code = args._run(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the boundary
        return int(code or 0)
    except BmtraceError as exc:
        return _fail(command, "error: %s" % exc, EXIT_ERROR)
    except KeyboardInterrupt:
        return _fail(command, "interrupted", EXIT_INTERRUPTED)
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            return _quiet_broken_pipe()
        # The system refused a file operation (permission, disk full, not a directory): an error in the
        # environment, named with its path, not a bug to report.
        return _fail(command, "error: %s" % _os_error_text(exc), EXIT_ERROR)
    except SystemExit as exc:  # a command that exits on purpose
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        return _fail(command, "error: %s" % exc.code, EXIT_ERROR)
    except Exception as exc:
        if os.environ.get("BMTRACE_DEBUG"):
            traceback.print_exc()
        return _fail(command, "internal error: %s: %s; please report this with the command line "
                     "(traceback: BMTRACE_DEBUG=1)" % (type(exc).__name__, exc), EXIT_INTERNAL)


def _command_name(argv):
    words = sys.argv[1:] if argv is None else list(argv)
    for word in words:
        if not str(word).startswith("-"):
            return str(word)
    return ""


def _fail(command, message, code):
    prefix = "bmtrace %s" % command if command else "bmtrace"
    try:
        print("%s: %s" % (prefix, message), file=sys.stderr)
    except (OSError, ValueError):
        pass  # stderr itself is gone; the exit code still tells
    return code


def _os_error_text(exc):
    parts = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    reason = exc.strerror or str(exc)
    return "%s: %s" % (" -> ".join(parts), reason) if parts else reason


def _quiet_broken_pipe():
    """The reader of stdout went away: stop without a traceback, and keep Python's final flush quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
    return EXIT_BROKEN_PIPE


def _tolerant_streams():
    """Names from non-UTF-8 file systems (lone surrogates) print as escapes instead of crashing."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError, OSError):
            pass
