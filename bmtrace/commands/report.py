"""`bmtrace report RUN_A RUN_B -o report.html`: diff two runs and write a self-contained HTML report."""
import os

from .diff import add_diff_settings, diff_options

NAME = "report"
HELP = "diff two runs and write a self-contained HTML report (verdict, pipeline, pictures, metrics)"


def add_arguments(parser):
    """Options of `bmtrace report`: output, page caps, and the diff settings."""
    parser.epilog = 'example: bmtrace report runs/original runs/port -o report.html   (exit code as bmtrace diff)'
    parser.add_argument("run_a", help="run directory of the reference program (A, e.g. PyTorch)")
    parser.add_argument("run_b", help="run directory of the program under test (B, e.g. the port)")
    parser.add_argument("-o", "--output", default="report.html", help="HTML file to write (default: report.html)")
    page = parser.add_argument_group("report")
    page.add_argument("--diff-json", metavar="FILE",
                      help="render this saved `bmtrace diff --json` document instead of diffing again")
    page.add_argument("--title", help="page title (default: the two run paths)")
    page.add_argument("--images-per-stage", type=int, default=3, metavar="N",
                      help="entries per stage (worst first) that get pictures and plots (default: 3)")
    page.add_argument("--max-image-side", type=int, default=256, metavar="PX",
                      help="downsample pictures to at most this many pixels a side (default: 256)")
    # The same diff settings as `bmtrace diff`, so a report shows what the gate decided.
    add_diff_settings(parser)


def _load_result(path):
    from .._jsonfile import read_json_file
    from ..diff import DiffResult
    from ..errors import UsageError

    doc = read_json_file(path, "--diff-json", "write one with `bmtrace diff A B --json-out FILE`")
    try:
        return DiffResult.from_json(doc)
    except ValueError as exc:
        raise UsageError("--diff-json %s: %s; write one with `bmtrace diff A B --json-out FILE`"
                         % (path, exc)) from None


def run(args):
    """Write the report; exit with the diff's code (0 aligned, 1 diverged, 3 similar; errors raise)."""
    from ..diff import diff
    from ..errors import UsageError
    from ..report.html import save_html
    from ..store.reader import open_run

    if args.images_per_stage < 0 or args.max_image_side < 16:
        raise UsageError("--images-per-stage must be >= 0 and --max-image-side >= 16")
    run_a, run_b = open_run(args.run_a), open_run(args.run_b)
    if args.diff_json:
        result = _load_result(args.diff_json)
    else:
        from .diff import _progress

        progress = _progress()
        try:
            result = diff(run_a, run_b, progress=progress, **diff_options(args))
        finally:
            progress.close()
    save_html(result, run_a, run_b, args.output, title=args.title, images_per_stage=args.images_per_stage,
              max_image_side=args.max_image_side)
    first = result.first_divergence
    where = " at stage %s (sample %s)" % (first.stage, first.sample) if first is not None else ""
    print("wrote %s (%.0f kB): %s%s" % (args.output, os.path.getsize(args.output) / 1024.0,
                                       result.verdict.lower(), where))
    return result.exit_code
