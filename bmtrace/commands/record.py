"""`bmtrace record --out DIR [--auto [LIBS]] -- python script.py ARGS`: trace a program without editing it."""
import glob
import os
import subprocess
import sys

from ..errors import UsageError

NAME = "record"
HELP = "run a program with tracing on and record its traced stages into a run directory"
USAGE = "bmtrace record --out DIR [--auto [LIBS]] -- python script.py ARGS"


def add_arguments(parser):
    parser.epilog = 'example: bmtrace record --out runs/port --side port --auto -- python port.py images/'
    parser.add_argument("--out", required=True, metavar="DIR", help="run directory to create")
    parser.add_argument("--side", help="label of this program, e.g. original or port")
    parser.add_argument("--mode", choices=("full", "stats"), default="full",
                        help="full keeps tensors; stats keeps statistics and hashes only")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing run in DIR")
    parser.add_argument("--strict", action="store_true", help="make recording failures errors")
    parser.add_argument("--auto", nargs="?", const="all", metavar="LIBS",
                        help="also record library calls without editing the program: decode, color, resize, pad, "
                             "normalize, infer and nms calls of cv2, PIL, torchvision, torch, onnxruntime and sail "
                             "(LIBS: comma-separated subset; default all), each as a stage named by its kind")
    parser.add_argument("--sample-from", metavar="HOW",
                        help="with --auto: how calls are grouped into samples: decode (default: each decoded "
                             "file starts a sample named by its base name), frame (a counter per decode), or "
                             "argvN (the base name of the program's N-th argument)")
    parser.add_argument("program", nargs="+", metavar="-- PROGRAM ARGS", help="the command to run")


def run(args):
    from ..api import create_run, finalize_run

    program = list(args.program)
    if program and program[0] == "--":
        program = program[1:]
    if not program:
        raise UsageError("no program given; usage: %s" % USAGE)
    env = dict(os.environ)
    if args.auto is not None or args.sample_from is not None:
        env.update(_auto_environment(args.auto, args.sample_from, env))
    path = create_run(args.out, side=args.side, mode=args.mode, overwrite=args.overwrite)
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
    if not _has_records(path):
        print(_nothing_recorded(path, args.auto), file=sys.stderr)
    print("bmtrace: recorded %s -> %s (exit code %d)" % (" ".join(program), path, completed.returncode),
          file=sys.stderr)
    return completed.returncode


def _auto_environment(libraries, sample_from, env):
    """BMTRACE_AUTO* and PYTHONPATH for the program (``auto._boot.child_environment``), options checked."""
    from ..auto._boot import child_environment
    from ..auto.control import parse_libraries
    from ..auto.samples import check_policy

    if libraries is None:
        raise UsageError("--sample-from only applies with --auto; usage: %s" % USAGE)
    try:
        parse_libraries(libraries)
    except UsageError as exc:
        raise UsageError("%s. --auto takes an optional LIBS value, so end the options with -- before the "
                         "program: bmtrace record --out DIR --auto -- python prog.py" % exc) from None
    check_policy(sample_from)
    return child_environment(libraries, sample_from, env)


def _has_records(path):
    """True when any process wrote at least one stage record into the run's journals."""
    from ..store import layout

    for journal in glob.glob(os.path.join(path, layout.JOURNAL_DIR, "*")):
        try:
            if os.path.getsize(journal) > 0:
                return True
        except OSError:
            continue
    return False


def _nothing_recorded(path, auto):
    causes = ["the program started its own run (bmtrace.start/bmtrace.run in the code records there instead)",
              "the program runs a Python that cannot import this bmtrace, or clears the environment of its children"]
    if auto is None:
        causes.insert(0, "no decorated stage ran (@bmtrace.trace_stage, `with bmtrace.trace_stage(...)`); "
                         "--auto records cv2/PIL/torchvision/torch/onnxruntime/sail calls without edits")
    else:
        causes.insert(0, "none of the traced library calls ran (libraries: %s)" % auto)
    return ("bmtrace: warning: the program recorded nothing into %s. Possible causes:\n  - %s"
            % (path, "\n  - ".join(causes)))
