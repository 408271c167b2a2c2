"""`bmtrace diff RUN_A RUN_B`: name the first stage where two recorded runs stop agreeing.

Exit code 0 when every stage is aligned, 1 when anything diverged or is missing on one side, 3 when
nothing is worse than similar or unverified (a warning), 2 on errors (raised as BmtraceError and
turned into 2 by the CLI).
"""
from __future__ import annotations

import os
import sys

NAME = "diff"
HELP = "compare two runs stage by stage and name the first divergence (exit 1 if they differ)"


def add_arguments(parser):
    parser.add_argument("run_a", help="run directory of the reference program (A, e.g. PyTorch)")
    parser.add_argument("run_b", help="run directory of the program under test (B, e.g. the port)")
    add_diff_settings(parser)
    out = parser.add_argument_group("output")
    out.add_argument("--json", action="store_true",
                     help="print the JSON document on stdout instead of the table")
    out.add_argument("--json-out", metavar="FILE", help="also write the JSON document to FILE")
    out.add_argument("--html", metavar="FILE", help="also write the HTML report to FILE")
    out.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                     help="colour the table (default: when stdout is a terminal)")
    out.add_argument("-q", "--quiet", action="store_true", help="print only the one-line verdict")


def add_diff_settings(parser):
    """Tolerance, pairing and analysis options; shared with `bmtrace report`."""
    tol = parser.add_argument_group("tolerances")
    tol.add_argument("--atol", type=float, metavar="X",
                     help="float tensors pass when max |a-b| <= X (+ rtol*|a|); default 1e-3")
    tol.add_argument("--rtol", type=float, metavar="X", help="relative tolerance for floats (default 0)")
    tol.add_argument("--cosine", type=float, metavar="X",
                     help="pairs out of tolerance with cosine >= X are reported SIMILAR (default 0.99)")
    tol.add_argument("--tol", action="append", default=[], metavar="STAGE[.TENSOR]=ATOL",
                     help="tolerance for one stage or tensor, any dtype (e.g. resize=1 allows one "
                          "LSB on uint8); repeatable")
    tol.add_argument("--config", metavar="FILE",
                     help="JSON (or .toml) file with atol, rtol, cosine, int_atol, tolerances, map")
    pairing = parser.add_argument_group("pairing")
    pairing.add_argument("--map", action="append", default=[], metavar="A_STAGE=B_STAGE",
                         help="pair stage A_STAGE of run A with B_STAGE of run B; repeatable")
    pairing.add_argument("--map-file", metavar="FILE",
                         help="stage map file: JSON/TOML object or A_STAGE=B_STAGE lines")
    steps = parser.add_argument_group("analysis")
    steps.add_argument("--no-explain", action="store_true",
                       help="do not run the diagnoses that explain diverged tensors")
    steps.add_argument("--isolate", action="store_true",
                       help="replay diverged stages to tell local error from inherited error")
    steps.add_argument("--rerun", metavar="COMMAND",
                       help="with --isolate: the command running program B; stages replay cannot test are "
                            "tested by re-running it with A's inputs substituted at that stage")
    steps.add_argument("--trust-recorded", action="store_true",
                       help="with --isolate: re-run the command recorded in RUN_B for that (printed first)")


def diff_options(args):
    from ..compare.tolerance import parse_map_option, parse_tol_option

    return {
        "atol": args.atol,
        "rtol": args.rtol,
        "cosine": args.cosine,
        "tol": [parse_tol_option(text) for text in args.tol],
        "config": args.config,
        "stage_map": dict(parse_map_option(text) for text in args.map),
        "map_file": args.map_file,
        "explain": not args.no_explain,
        "isolate": _isolation(args),
    }


def _isolation(args):
    """True/False, or the program to re-run for substitution tests (--rerun / --trust-recorded)."""
    rerun, trusted = getattr(args, "rerun", None), getattr(args, "trust_recorded", False)
    if not args.isolate or not (rerun or trusted):
        return args.isolate
    import shlex

    from ..replayer.rerun import choose_program

    return choose_program(shlex.split(rerun) if rerun else None, trusted and not rerun, args.run_b)


def _write(path, text, what):
    from ..errors import UsageError

    try:
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        raise UsageError("cannot write the %s to %s: %s" % (what, path, exc.strerror or exc)) from None


def run(args):
    from ..diff import diff
    from ..report.json_doc import dumps
    from ..report.text import ProgressBar

    options = diff_options(args)
    progress = ProgressBar(sys.stderr) if sys.stderr.isatty() else None
    try:
        result = diff(args.run_a, args.run_b, progress=progress, **options)
    finally:
        if progress is not None:
            progress.close()
    if args.json or args.json_out:
        text = dumps(result.to_json()) + "\n"
        if args.json_out:
            _write(args.json_out, text, "JSON document")
    if args.html:
        from ..report.html import save_html

        run_a, run_b = result.run_objects
        save_html(result, run_a, run_b, args.html)
    if args.json:
        sys.stdout.write(text)
        for note in result.warnings:
            print("bmtrace diff: warning: %s" % note, file=sys.stderr)
    elif args.quiet:
        print(str(result))
    else:
        from ..report.text import render

        color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty()
                                           and os.environ.get("NO_COLOR") is None)
        width = None
        if sys.stdout.isatty():
            try:
                width = os.get_terminal_size(sys.stdout.fileno()).columns
            except OSError:
                width = None
        print(render(result, color=color, width=width))
    return result.exit_code
