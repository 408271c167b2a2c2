"""`bmtrace attribute RUN_A RUN_B (-- COMMAND | --trust-recorded)`: which stage changes the predictions?

For each stage where B diverges from A, re-runs program B with A's outputs at that stage (how much of
the final change that removes) and with A's inputs at it (whether B's stage differs on its own); see
``bmtrace.replayer.attribution``. Exit code 0 when a culprit is named, nothing diverges or B's predictions
already agree with A's (no change to attribute), 1 when the change cannot be attributed to one stage, 2 on
errors.
"""
from __future__ import annotations

import argparse
import sys

NAME = "attribute"
HELP = "re-run program B with A's values stage by stage and name the stage the prediction change comes from"

_OPTIONS = []


def add_arguments(parser):
    parser.epilog = 'example: bmtrace attribute runs/original runs/port -- python port.py   (which stage the prediction change comes from)'
    from .substitute import _option_parser

    parser.add_argument("run_a", help="run of the reference program (A)")
    parser.add_argument("run_b", help="run of the program that is re-run (B)")
    add_options(parser)
    parser.add_argument("program", nargs=argparse.REMAINDER, metavar="-- COMMAND",
                        help="the command that runs program B (after --)")
    _OPTIONS[:] = [_option_parser(add_options)]


def add_options(parser):
    parser.add_argument("--trust-recorded", action="store_true",
                        help="run the command, cwd and environment recorded in RUN_B (printed first)")
    parser.add_argument("--samples", metavar="K,...",
                        help="substitute and measure only these samples (comma-separated keys)")
    parser.add_argument("--json", action="store_true", help="print the attribution as JSON")
    parser.add_argument("-j", "--jobs", type=int, metavar="N", help="re-runs in parallel (default: cores)")
    parser.add_argument("--keep", metavar="DIR", help="keep the re-runs in DIR (default: removed)")
    parser.add_argument("--atol", type=float, help="float tolerance of the diffs (default 1e-3)")
    parser.add_argument("--tol", action="append", default=[], metavar="STAGE[.TENSOR]=ATOL",
                        help="tolerance for one stage or tensor; repeatable")


def run(args):
    from ..replayer.attribution import attribute, unchanged
    from ..replayer.rerun import choose_program
    from .substitute import parse_late_options, samples_option, tolerance_options

    args = parse_late_options(args, _OPTIONS[0])
    program = choose_program(args.program, args.trust_recorded, args.run_b)
    if program.recorded_from:
        print("bmtrace attribute: re-running the command recorded in %s:\n  %s"
              % (program.recorded_from, program.describe()), file=sys.stderr)

    def progress(line):
        print("bmtrace attribute: " + line, file=sys.stderr)
        sys.stderr.flush()

    doc = attribute(args.run_a, args.run_b, program, samples=samples_option(args.samples), jobs=args.jobs,
                    progress=progress, workdir=args.keep, **tolerance_options(args))
    if args.json:
        from ..report.json_doc import dumps

        sys.stdout.write(dumps(doc) + "\n")
    else:
        print(render(doc))
    return 0 if doc["culprit"] or not doc["stages"] or unchanged(doc["baseline"]) else 1


def render(doc):
    """The attribution as a table plus its one-line conclusion."""
    base = doc["baseline"]
    lines = ["B as recorded: %s agrees with A on %d/%d samples at %s; %d re-run(s) in %.1f s"
             % (doc["metric"], base["agree"], base["samples"], doc["final_stage"], doc["reruns"], doc["elapsed_s"])]
    rows = [("stage", "local (B's stage on A's inputs)", "restored", "first divergence after")]
    for e in doc["stages"]:
        local = e["local"] or ("untested (see its note)" if e.get("local_note") else "untested")
        if e.get("local_max_abs_diff") is not None and e["local"] not in ("aligned", None):
            local += " (max abs diff %.4g)" % e["local_max_abs_diff"]
        counts = e.get("restored_samples")
        restored = "%d/%d" % (counts["agree"], counts["samples"]) if counts else "-"
        after = e["first_divergence_after"] or ("none" if counts else "-")
        rows.append((e["stage"], local, restored, after))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    for e in doc["stages"]:
        for key in ("restored_note", "local_note"):
            if e.get(key):
                lines.append("  note: %s: %s" % (e["stage"], e[key]))
    lines.append(doc["message"])
    return "\n".join(lines)
