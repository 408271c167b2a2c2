"""`bmtrace record --out DIR -- python script.py ARGS`: trace a program without editing how it starts."""
import os
import subprocess
import sys

from ..errors import UsageError

NAME = "record"
HELP = "run a program with tracing on and record its traced stages into a run directory"


def add_arguments(parser):
    parser.add_argument("--out", required=True, metavar="DIR", help="run directory to create")
    parser.add_argument("--side", help="label of this program, e.g. original or port")
    parser.add_argument("--mode", choices=("full", "stats"), default="full",
                        help="full keeps tensors; stats keeps statistics and hashes only")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing run in DIR")
    parser.add_argument("--strict", action="store_true", help="make recording failures errors")
    parser.add_argument("program", nargs="+", metavar="-- PROGRAM ARGS", help="the command to run")


def run(args):
    from ..api import create_run, finalize_run

    program = list(args.program)
    if program and program[0] == "--":
        program = program[1:]
    if not program:
        raise UsageError("no program given; usage: bmtrace record --out DIR -- python script.py ARGS")
    path = create_run(args.out, side=args.side, mode=args.mode, overwrite=args.overwrite)
    env = dict(os.environ)
    env.update({"BMTRACE_DIR": path, "BMTRACE_JOIN": path, "BMTRACE_MODE": args.mode})
    if args.side:
        env["BMTRACE_SIDE"] = args.side
    if args.strict:
        env["BMTRACE_STRICT"] = "1"
    try:
        completed = subprocess.run(program, env=env)
    except FileNotFoundError:
        raise UsageError("cannot run %r: command not found" % program[0]) from None
    finally:
        finalize_run(path)
    print("bmtrace: recorded %s -> %s (exit code %d)" % (" ".join(program), path, completed.returncode),
          file=sys.stderr)
    return completed.returncode
