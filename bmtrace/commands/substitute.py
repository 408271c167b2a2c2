"""`bmtrace substitute RUN_A RUN_B --stage S --out NEW (-- COMMAND | --trust-recorded)`.

Re-runs program B into NEW with A's recorded inputs or outputs of stage S in place of its own, then
prints the diff of A against NEW: does the rest of B agree with A once S is given A's values?
Exit code: the diff's (0 aligned, 1 diverged, 3 similar only, 2 error).
"""
from __future__ import annotations

import argparse
import sys

NAME = "substitute"
HELP = "re-run program B with run A's values at one stage, and diff A against the new run"

_OPTIONS = []  # the option parser, kept to read options given after the run arguments


def add_arguments(parser):
    parser.epilog = 'example: bmtrace substitute runs/original runs/port --stage resize --out runs/port_fed -- python port.py'
    parser.add_argument("run_a", help="run whose values are substituted (A, the reference)")
    parser.add_argument("run_b", help="run of the program that is re-run (B)")
    add_options(parser)
    parser.add_argument("program", nargs=argparse.REMAINDER, metavar="-- COMMAND",
                        help="the command that runs program B (after --)")
    _OPTIONS[:] = [_option_parser(add_options)]


def add_options(parser):
    parser.add_argument("--stage", required=False, help="the stage whose values are substituted")
    role = parser.add_mutually_exclusive_group()
    role.add_argument("--inputs", dest="role", action="store_const", const="inputs",
                      help="substitute the stage's inputs (B's stage runs on A's inputs)")
    role.add_argument("--outputs", dest="role", action="store_const", const="outputs",
                      help="substitute the stage's outputs (the rest of B continues from A's; default)")
    parser.add_argument("--tensor", action="append", metavar="NAME",
                        help="substitute only this value (an input's parameter name, or out); repeatable")
    parser.add_argument("--samples", metavar="K,...", help="substitute only in these samples (comma-separated keys)")
    parser.add_argument("--out", metavar="NEW_RUN", help="run directory for the re-run (replaced if it is a run)")
    parser.add_argument("--trust-recorded", action="store_true",
                        help="run the command, cwd and environment recorded in RUN_B (printed first)")
    parser.add_argument("--atol", type=float, help="float tolerance of the diff (default 1e-3)")
    parser.add_argument("--tol", action="append", default=[], metavar="STAGE[.TENSOR]=ATOL",
                        help="tolerance for one stage or tensor; repeatable")
    parser.add_argument("--json", action="store_true", help="print the diff as JSON")


def _option_parser(adder):
    parser = argparse.ArgumentParser(prog="bmtrace " + NAME, add_help=False)
    adder(parser)
    return parser


def parse_late_options(args, options_parser):
    """Options written after RUN_A RUN_B land in ``args.command``; parse them and keep the command."""
    from ..errors import UsageError
    from ..replayer.rerun import split_command

    tokens = list(args.program or ())
    if tokens and not tokens[0].startswith("-"):
        options, command = [], tokens  # argparse already dropped the `--` before the command
    else:
        options, command = split_command(tokens)
    if options:
        known, unknown = options_parser.parse_known_args(options)
        if unknown:
            raise UsageError("unknown arguments %s; put the program's command after `--`" % " ".join(unknown))
        for key, value in vars(known).items():
            if value not in (None, False, []):
                setattr(args, key, value)
    args.program = command
    return args


def samples_option(text):
    return [s for s in (text or "").split(",") if s] or None


def tolerance_options(args):
    from ..compare.tolerance import parse_tol_option

    return {"atol": args.atol, "tol": [parse_tol_option(t) for t in args.tol or ()]}


def run(args):
    from ..diff import diff
    from ..errors import UsageError
    from ..replayer.rerun import choose_program, run_with_plan
    from ..replayer.substitute import make_plan, summarize_notes

    args = parse_late_options(args, _OPTIONS[0])
    if not args.stage or not args.out:
        raise UsageError("--stage and --out are required: bmtrace substitute RUN_A RUN_B --stage S --out NEW_RUN "
                         "-- COMMAND")
    from ..store.reader import open_run

    run_a, run_b = open_run(args.run_a), open_run(args.run_b)
    if args.stage not in run_a.stages():
        raise UsageError("run %s has no stage %r; its stages are: %s" % (run_a.path, args.stage,
                                                                       ", ".join(run_a.stages())))
    import os

    if os.path.abspath(args.out) in (run_a.path, run_b.path):
        raise UsageError("--out %s is one of the runs being compared; give a new run directory" % args.out)
    program = choose_program(args.program, args.trust_recorded, run_b.path)
    if program.recorded_from:
        print("bmtrace substitute: running the command recorded in %s:\n  %s" % (program.recorded_from,
                                                                              program.describe()), file=sys.stderr)
    plan = make_plan(run_a.path, args.stage, args.role or "outputs", args.tensor, samples_option(args.samples))
    code, notes, stderr = run_with_plan(program, plan, args.out, like=run_b)
    if code != 0:
        sys.stderr.write(stderr[-4000:])
        print("bmtrace substitute: the program exited with code %d (the run holds what it recorded)" % code,
              file=sys.stderr)
    for line in summarize_notes(notes) or ["nothing was substituted: no call of stage %r ran in the new run "
                                           "(is the program started so that BMTRACE_DIR applies?)" % args.stage]:
        print("bmtrace substitute: %s %s of %s from %s: %s" % (plan["stage"], plan["role"], args.out, run_a.path,
                                                              line), file=sys.stderr)
    result = diff(run_a, args.out, explain=True, **tolerance_options(args))
    if args.json:
        from ..report.json_doc import dumps

        doc = result.to_json()
        doc["substitution"] = dict(plan, notes=summarize_notes(notes))
        sys.stdout.write(dumps(doc) + "\n")
    else:
        from ..report.text import render

        print("substituted %s's %s of stage %s into a re-run of B (%s)" % (run_a.path, plan["role"], plan["stage"],
                                                                           args.out))
        print(render(result))
        if plan["role"] == "outputs":
            print("(stage %s's own outputs are recorded before substitution, so it still shows B's values; the "
                  "stages after it ran on A's)" % plan["stage"])
    return result.exit_code
