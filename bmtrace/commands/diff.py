"""`bmtrace diff RUN_A RUN_B [RUN_C ...]`: name the first stage where recorded runs stop agreeing.

With two runs, B is judged against the reference A. With more, every further run is a candidate
judged against A and the output is a stage x run matrix (``bmtrace.diff.nway``).

Exit code 0 when every stage is aligned, 1 when anything diverged or is missing on one side, 3 when
nothing is worse than similar or unverified (a warning), 2 on errors and 4 on bad usage (raised as
BmtraceError / UsageError and turned into codes by the CLI). With several candidates: the worst one's.
"""
from __future__ import annotations

import os
import sys

NAME = "diff"
HELP = "compare two runs stage by stage and name the first divergence (exit 1 if they differ)"
EPILOG = """examples:
  bmtrace diff runs/original runs/port --tol resize=1
  bmtrace diff runs/torch runs/onnx runs/bmodel_fp32 runs/bmodel_int8     # one reference, 3 candidates
  bmtrace diff A B --stages resize,normalize --samples 'img_00*.jpg' --fail-fast
  bmtrace diff A B --accept-current accepted.json    # later: bmtrace diff A B --accepted accepted.json
  bmtrace diff A B --parquet-out diff.parquet        # one row per tensor pair, for pandas / DuckDB
"""


def add_arguments(parser):
    import argparse

    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("run_a", help="run directory of the reference program (A, e.g. PyTorch)")
    parser.add_argument("run_b", help="run directory of the program under test (B, e.g. the port)")
    parser.add_argument("more_runs", nargs="*", metavar="RUN_C",
                        help="further runs under test: each is compared with A (an N-way matrix)")
    add_diff_settings(parser)
    accept = parser.add_argument_group("accepted differences")
    accept.add_argument("--accept-current", metavar="FILE",
                        help="write the current differences to FILE as accepted (then judge with them)")
    out = parser.add_argument_group("output")
    out.add_argument("--json", action="store_true",
                     help="print the JSON document on stdout instead of the table")
    out.add_argument("--json-out", metavar="FILE", help="also write the JSON document to FILE")
    out.add_argument("--html", metavar="FILE", help="also write the HTML report to FILE")
    out.add_argument("--parquet-out", metavar="FILE",
                     help="also write one row per tensor pair (figures, call ids) as Parquet to FILE")
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
    steps.add_argument("--trust-recorded", action="store_true",
                       help="let replay import any function the trace names (by default only functions "
                            "defined in your own source files, the recorded program's folder or the current "
                            "directory, are imported, never the standard library, site-packages or builtins); "
                            "with --isolate, also re-run the command recorded in RUN_B (printed first)")
    steps.add_argument("--rerun", metavar="COMMAND",
                       help="with --isolate: the command running program B; stages replay cannot test are "
                            "tested by re-running it with A's inputs substituted at that stage")
    steps.add_argument("--accepted", metavar="FILE",
                       help="accepted differences (from --accept-current): differences within them pass "
                            "as 'accepted'; only what goes beyond fails")
    select = parser.add_argument_group("selection")
    select.add_argument("--stages", metavar="A,B", help="compare only these stages (run A's names)")
    select.add_argument("--skip-stages", metavar="A,B", help="leave these stages out")
    select.add_argument("--samples", metavar="GLOB|@FILE",
                        help="compare only samples whose key matches GLOB, or those listed in FILE (one per line)")
    select.add_argument("--allow-missing", action="store_true",
                        help="samples recorded on one side only are reported, not failed")
    select.add_argument("--fail-fast", action="store_true",
                        help="stop at the first diverged stage call (later stages are not judged)")
    steps.add_argument("-j", "--jobs", type=int, metavar="N",
                       help="processes judging a long diff of stats-mode runs (default: one per core)")


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
        "trust_recorded": args.trust_recorded,
        "stages": args.stages,
        "skip_stages": args.skip_stages,
        "samples": args.samples,
        "allow_missing": args.allow_missing,
        "fail_fast": args.fail_fast,
        "accepted": args.accepted,
        "jobs": _jobs(args),
    }


def _jobs(args):
    """``-j N`` checked here, so a wrong one is told in the command line's words, not the API's."""
    if args.jobs is not None and args.jobs < 1:
        from ..errors import UsageError

        raise UsageError("-j/--jobs must be 1 or more (1: judge in this process only); leave it out for "
                         "one process per core, got %d" % args.jobs)
    return args.jobs


def _isolation(args):
    """True/False, or the program to re-run for substitution tests (--rerun / --trust-recorded)."""
    rerun, trusted = getattr(args, "rerun", None), getattr(args, "trust_recorded", False)
    if not args.isolate or not (rerun or trusted):
        return args.isolate
    import shlex

    from ..replayer.rerun import choose_program

    return choose_program(shlex.split(rerun) if rerun else None, trusted and not rerun, args.run_b)


def _write(path, writer, what):
    """``writer(f)`` into the text file ``path``; a path that cannot be written is a usage error."""
    from ..errors import UsageError

    try:
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            writer(f)
    except OSError as exc:
        raise UsageError("cannot write the %s to %s: %s" % (what, path, exc.strerror or exc)) from None


def _progress():
    from .._term import Progress

    return Progress("diff", unit="calls")


def _color(args):
    from .._term import use_color

    return use_color(sys.stdout, args.color)


def _width():
    from .._term import terminal_width

    return terminal_width(sys.stdout)


def run(args):
    from ..errors import UsageError

    if args.accepted and args.accept_current:
        raise UsageError("--accepted and --accept-current exclude each other: write the file once with "
                         "--accept-current, then judge with --accepted")
    if args.more_runs:
        if args.accept_current:
            raise UsageError("--accept-current takes two runs (the differences of one pair); run it per "
                             "candidate: bmtrace diff REF CAND --accept-current FILE")
        return _run_nway(args)
    return _run_pair(args)


def _write_document(result, f):
    """The JSON document, its stage entries written one at a time (long runs have 100,000s of them)."""
    from ..report.json_doc import write

    write(result.to_json(with_stages=False), f, {"stages": (entry.to_json() for entry in result.stages)})
    f.write("\n")


def _run_pair(args):
    from ..cli import EXIT_ERROR
    from ..diff import diff

    options = diff_options(args)
    progress = _progress()
    try:
        result = diff(args.run_a, args.run_b, progress=progress, **options)
    finally:
        if progress is not None:
            progress.close()
    if args.accept_current:
        from ..diff.accept import apply_accepted, write_accepted

        doc = write_accepted(result, args.accept_current)
        apply_accepted(result, doc)
        print("bmtrace diff: wrote %d accepted difference(s) to %s" % (len(doc["accepted"]), args.accept_current),
              file=sys.stderr)
    if args.json_out:
        _write(args.json_out, lambda f: _write_document(result, f), "JSON document")
    if args.parquet_out:
        from ..diff.frames import write_parquet

        write_parquet(result, args.parquet_out)
    if args.html:
        from ..report.html import save_html

        run_a, run_b = result.run_objects
        save_html(result, run_a, run_b, args.html)
    if args.json:
        _write_document(result, sys.stdout)
        for note in result.warnings:
            print("bmtrace diff: warning: %s" % note, file=sys.stderr)
    elif args.quiet:
        print(str(result))
    else:
        from ..report.text import render

        print(render(result, color=_color(args), width=_width()))
    damaged = [(label, run) for label, run in zip("AB", result.run_objects) if getattr(run, "problems", None)]
    for label, run in damaged:
        print("bmtrace diff: error: run %s (%s) has %d invalid journal line(s), left out of this comparison, e.g. %s"
              % (label, run.path, len(run.problems), run.problems[0]), file=sys.stderr)
    return EXIT_ERROR if damaged else result.exit_code


def _run_nway(args):
    from ..diff.nway import diff_many
    from ..report.json_doc import dumps

    progress = _progress()
    try:
        nway = diff_many(args.run_a, [args.run_b] + list(args.more_runs), progress=progress, **diff_options(args))
    finally:
        if progress is not None:
            progress.close()
    if args.json or args.json_out:
        text = dumps(nway.to_json()) + "\n"
        if args.json_out:
            _write(args.json_out, lambda f: f.write(text), "JSON document")
    if args.parquet_out:
        from ..diff.frames import write_parquet

        write_parquet(nway.results, args.parquet_out)
    if args.html:
        from ..report.nway import save_html

        save_html(nway, args.html)
    if args.json:
        sys.stdout.write(text)
        for i, result in enumerate(nway.results, 1):
            for note in result.warnings:
                print("bmtrace diff: warning: candidate %d: %s" % (i, note), file=sys.stderr)
    elif args.quiet:
        print(nway.one_line())
    else:
        from ..report.nway import render_text

        print(render_text(nway, color=_color(args)))
    return nway.exit_code
