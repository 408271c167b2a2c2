"""`bmtrace report RUN_A RUN_B -o report.html`: diff two runs and write a self-contained HTML report."""
import json
import os

NAME = "report"
HELP = "diff two runs and write a self-contained HTML report (verdict, pipeline, pictures, metrics)"


def add_arguments(parser):
    parser.add_argument("run_a", help="run directory of the original program (A)")
    parser.add_argument("run_b", help="run directory of the port (B)")
    parser.add_argument("-o", "--output", default="report.html", help="HTML file to write (default: report.html)")
    parser.add_argument("--diff-json", metavar="FILE",
                        help="render this saved `bmtrace diff --json` document instead of diffing again")
    parser.add_argument("--title", help="page title (default: the two run paths)")
    parser.add_argument("--images-per-stage", type=int, default=3, metavar="N",
                        help="entries per stage (worst first) that get pictures and plots (default: 3)")
    parser.add_argument("--max-image-side", type=int, default=256, metavar="PX",
                        help="downsample pictures to at most this many pixels a side (default: 256)")


def _load_doc(path):
    from ..errors import UsageError

    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except OSError as exc:
        raise UsageError("cannot read --diff-json %s: %s" % (path, exc.strerror or exc)) from None
    except ValueError as exc:
        raise UsageError("--diff-json %s is not JSON (%s); write it with `bmtrace diff A B --json > FILE`"
                         % (path, exc)) from None


def run(args):
    from ..errors import UsageError
    from ..report.html import write_report

    if args.images_per_stage < 0 or args.max_image_side < 16:
        raise UsageError("--images-per-stage must be >= 0 and --max-image-side >= 16")
    doc = _load_doc(args.diff_json) if args.diff_json else None
    try:
        doc = write_report(args.run_a, args.run_b, args.output, doc=doc, title=args.title,
                           images_per_stage=args.images_per_stage, max_image_side=args.max_image_side)
    except OSError as exc:
        raise UsageError("cannot write the report to %s: %s" % (args.output, exc.strerror or exc)) from None
    size_kb = os.path.getsize(args.output) / 1024.0
    first = doc.get("first_divergence") or {}
    if doc.get("aligned"):
        verdict = "aligned"
    elif first:
        verdict = "diverged at stage %s (sample %s)" % (first.get("stage"), first.get("sample"))
    else:
        verdict = "not aligned"
    print("wrote %s (%.0f kB): %s" % (args.output, size_kb, verdict))
    return 0 if doc.get("aligned") else 1
