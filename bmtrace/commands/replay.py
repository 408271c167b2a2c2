"""`bmtrace replay RUN --stage NAME --call file.py:function`: local error of one stage."""
import json
import sys

from ..errors import UsageError

NAME = "replay"
HELP = "feed a run's recorded inputs of a stage into a function and compare with the recorded outputs"


def add_arguments(parser):
    parser.add_argument("run", help="run whose recorded inputs and outputs are replayed")
    parser.add_argument("--stage", required=True, help="stage name in RUN")
    parser.add_argument("--call", metavar="FILE.py:FUNC | MODULE:FUNC",
                        help="function to call; a file is imported without running its __main__ block "
                             "(default: the stage function recorded by --against, else by RUN, if it is "
                             "defined in your own source files)")
    parser.add_argument("--sample", help="only this sample key")
    parser.add_argument("--occurrence", type=int, help="only this occurrence of the stage within a sample")
    parser.add_argument("--against", metavar="OTHER_RUN",
                        help="also show the recorded difference between OTHER_RUN and RUN for this stage")
    parser.add_argument("--atol", type=float, help="float tolerance (default 1e-3)")
    parser.add_argument("--rtol", type=float, help="relative tolerance")
    parser.add_argument("--json", action="store_true", help="print a JSON document")
    parser.add_argument("--trust-recorded", action="store_true",
                        help="without --call, import whatever function the trace names; by default only "
                             "functions defined in your own source files (the recorded program's folder or the "
                             "current directory) are imported, never the standard library, site-packages or "
                             "builtins")
    parser.epilog = ("example: bmtrace replay runs/port --stage resize --call original.py:resize "
                     "--against runs/original")


def run(args):
    from ..replayer import replay
    from ..store.reader import open_run

    target_run = open_run(args.run)
    other = open_run(args.against) if args.against else None
    options = {}
    if args.sample is not None:
        options["sample"] = args.sample
    result = replay(target_run, args.stage, args.call, occurrence=args.occurrence, like=other,
                    atol=args.atol, rtol=args.rtol, trust_recorded=args.trust_recorded, **options)
    for line in result.imported:
        print("bmtrace replay: imported %s" % line, file=sys.stderr)
    recorded = _recorded_differences(result, target_run, other) if other is not None else {}
    if args.json:
        doc = result.to_json()
        for sample_doc, sample in zip(doc["samples"], result.samples):
            sample_doc["recorded"] = recorded.get(sample.call_id)
        print(json.dumps(doc, indent=2))
    else:
        print(_render(result, recorded, other))
    if any(s.status == "error" for s in result.samples):
        return 2
    return 0 if result.passed else 1


def _recorded_differences(result, target_run, other):
    """For each replayed call, OTHER's recorded outputs against RUN's: local plus inherited error."""
    from ..compare import compare_records

    out = {}
    calls = {c.id: c for c in target_run.calls(stage=result.stage)}
    for sample in result.samples:
        call = calls[sample.call_id]
        partner = [c for c in other.calls(sample=call.sample, stage=call.stage) if c.occurrence == call.occurrence]
        if not partner:
            out[sample.call_id] = {"status": "only_in_run", "reason": "OTHER_RUN has no such call"}
            continue
        theirs = {t.name: t for t in partner[0].outputs}
        comparisons = [compare_records(theirs[t.name], t, stage=call.stage) for t in call.outputs if t.name in theirs]
        if not comparisons:
            raise UsageError("stage %r: no output names in common between the two runs" % call.stage)
        worst = max(comparisons, key=lambda c: c.max_abs_diff or 0.0)
        doc = worst.to_json()
        doc["status"] = "aligned" if all(c.passed for c in comparisons) else "diverged"
        out[sample.call_id] = doc
    return out


def _fmt(value):
    return "-" if value is None else "%.4g" % value


def _render(result, recorded, other):
    lines = [str(result), ""]
    header = "%-28s %-9s %12s %10s" % ("sample", "local", "max abs", "cosine")
    if other is not None:
        header += "   %-9s %12s" % ("recorded", "max abs")
    lines.append(header)
    for sample in result.samples:
        worst_diff, worst_cos = sample.worst()
        key = "%s#%d" % (sample.sample, sample.occurrence)
        line = "%-28s %-9s %12s %10s" % (key[:28], sample.status, _fmt(worst_diff), _fmt(worst_cos))
        if other is not None:
            rec = recorded.get(sample.call_id) or {}
            line += "   %-9s %12s" % (rec.get("status", "-"), _fmt(rec.get("max_abs_diff")))
        lines.append(line)
        if sample.error:
            where = sample.error.get("where")
            lines.append("    raised %s: %s%s" % (sample.error["type"], sample.error["message"],
                                                " (at %s)" % where if where else ""))
            if sample.error.get("hint"):
                lines.append("    %s" % sample.error["hint"])
    if other is not None:
        lines.append("")
        lines.append("local: the function given this run's inputs vs this run's outputs (the stage's own error);")
        lines.append("recorded: the other run's outputs vs this run's (own error plus what earlier stages passed on).")
    return "\n".join(lines)
