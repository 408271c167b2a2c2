"""`bmtrace show RUN`: what a run holds: samples, stages, calls, tensors, bytes, environment."""
import json
import os
import sys
import time

from ..errors import BmtraceError

NAME = "show"
HELP = "summarise a recorded run: samples, stages, calls, tensors, bytes and environment"


def add_arguments(parser):
    parser.add_argument("run", help="run directory")
    parser.add_argument("--json", action="store_true", help="print a JSON document instead of text")
    parser.epilog = "example: bmtrace show runs/port   (exit 2 if payload files recorded in the journal are missing)"


def summarize(run):
    """A JSON-ready summary of ``run``: from its index when that is up to date (two columns and the
    counts ``build_index`` stores), else from its journals."""
    from ..store.index import read_fresh

    fresh = read_fresh(run.path, ("stage", "payload"))
    if fresh is not None:
        return _from_index(run, *fresh)
    stages = {}
    errors = 0
    missing = []
    sizes = _PayloadSizes()
    for call in run.calls():
        entry = stages.setdefault(call.stage, {"stage": call.stage, "calls": 0, "samples": set(), "tensors": 0,
                                               "payload_bytes": 0, "errors": 0})
        entry["calls"] += 1
        entry["samples"].add(call.sample)
        if call.error:
            entry["errors"] += 1
            errors += 1
        for tensor in call.inputs + call.outputs:
            entry["tensors"] += 1
            if tensor.payload:
                try:
                    location = run.payload_location(tensor.payload, tensor)  # inside the run, or an error
                except BmtraceError as exc:
                    missing.append(str(exc))
                    continue
                sizes.add(entry, location, "#" in tensor.payload)
    sizes.settle(missing)
    stage_list = []
    for entry in stages.values():
        entry["samples"] = len(entry["samples"])
        stage_list.append(entry)
    return _document(run, stage_list, len(run.samples()), errors, run.torn_lines,
                     [str(problem) for problem in run.problems], missing)


def _from_index(run, table, counts):
    """The summary from the index: call counts per stage stored with it, tensors and payloads from
    its rows (in recording order, so a shared payload counts for the stage that wrote it first)."""
    from ..store.index import python_values
    from ..store.schema import safe_text

    stages = {}
    for entry in counts["stages"]:
        stages[safe_text(entry["stage"])] = dict(entry, tensors=0, payload_bytes=0)  # the index's spelling
    missing = []
    sizes = _PayloadSizes()
    rows = zip(python_values(table.column("stage")), python_values(table.column("payload")))
    for row, (stage, payload) in enumerate(rows):
        entry = stages[stage]
        entry["tensors"] += 1
        if not payload:
            continue
        try:
            location = run.payload_location(payload)
        except BmtraceError:
            missing.append(_refusal(run, payload, row))
            continue
        sizes.add(entry, location, "#" in payload)
    sizes.settle(missing)
    stage_list = [dict((key, entry[key]) for key in ("stage", "calls", "samples", "tensors", "payload_bytes",
                                                     "errors")) for entry in stages.values()]
    return _document(run, stage_list, counts["samples"], sum(e["errors"] for e in stage_list), counts["torn_lines"],
                     counts["problems"], missing)


class _PayloadSizes:
    """Bytes on disk per stage: a payload shared by several records (same content) is stored once
    and counts for the first; a record of a pack is as long as the distance to the next one."""

    def __init__(self):
        self.first = {}  # (path, offset) -> (stage entry, packed)

    def add(self, entry, location, packed):
        self.first.setdefault(location, (entry, packed))

    def settle(self, missing):
        """Add the sizes to the stage entries; unreadable files go to ``missing``."""
        offsets = {}
        for (path, offset), (_, packed) in self.first.items():
            if packed:
                offsets.setdefault(path, []).append(offset)
        ends = {}
        for path, starts in offsets.items():
            starts.sort()
            try:
                size = os.path.getsize(path)
            except OSError:
                continue
            ends.update(((path, start), end) for start, end in zip(starts, starts[1:] + [size]))
        for (path, offset), (entry, packed) in self.first.items():
            try:
                entry["payload_bytes"] += (ends[(path, offset)] - offset if packed else os.path.getsize(path))
            except (OSError, KeyError):
                missing.append(path)


def _refusal(run, payload, row):
    """The message ``Tensor.payload_file`` gives for a payload path refused inside the run."""
    from ..store.index import read_fresh

    from types import SimpleNamespace

    fields = read_fresh(run.path, ("name", "role", "stage", "sample"))[0].slice(row, 1).to_pylist()[0]
    tensor = SimpleNamespace(name=fields["name"], role=fields["role"],
                             call=SimpleNamespace(stage=fields["stage"], sample=fields["sample"]))
    try:
        run.payload_path(payload, tensor)
    except BmtraceError as exc:
        return str(exc)
    return payload


def _document(run, stage_list, samples, errors, torn, problems, missing):
    meta = run.meta
    return {
        "run": run.path,
        "side": run.side,
        "format_version": meta.get("format_version"),
        "started": meta.get("started"),
        "ended": meta.get("ended"),
        "samples": samples,
        "calls": sum(e["calls"] for e in stage_list),
        "tensors": sum(e["tensors"] for e in stage_list),
        "payload_bytes": sum(e["payload_bytes"] for e in stage_list),
        "errors": errors,
        "torn_records_skipped": torn,
        "problems": problems,  # invalid journal lines, file and line
        "missing_payloads": missing,
        "stages": stage_list,
        "environment": {key: meta.get(key) for key in ("host", "platform", "python", "argv", "cwd", "versions", "env")},
        "processes": len(meta.get("processes") or []),
    }


def run(args):
    from ..cli import EXIT_ERROR
    from ..store.reader import open_run

    summary = summarize(open_run(args.run))
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        print(render(summary))
    # The summary is still useful, but a damaged run must say so and fail.
    missing, problems = summary["missing_payloads"], summary["problems"]
    if missing:
        sys.stdout.flush()
        print("bmtrace show: error: %d payload file(s) recorded in the journal are missing, e.g. %s; the run was "
              "damaged after recording (comparisons of those tensors will fail)" % (len(missing), missing[0]),
              file=sys.stderr)
    if problems:
        sys.stdout.flush()
        print("bmtrace show: error: %d journal line(s) are not valid records and were skipped, e.g. %s"
              % (len(problems), problems[0]), file=sys.stderr)
    return EXIT_ERROR if missing or problems else 0


def _when(stamp):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp)) if stamp else "-"


def _bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024.0


def render(summary):
    lines = [
        "run      %s" % summary["run"],
        "side     %s" % (summary["side"] or "-"),
        "time     %s -> %s%s" % (_when(summary["started"]), _when(summary["ended"]),
                                 "" if summary["ended"] else "  (did not stop cleanly; completed records are kept)"),
        "content  %d samples, %d calls, %d tensors, %s of payloads, %d errors"
        % (summary["samples"], summary["calls"], summary["tensors"], _bytes(summary["payload_bytes"]), summary["errors"]),
    ]
    if summary["missing_payloads"]:
        lines.append("         %d payload file(s) missing, e.g. %s" % (len(summary["missing_payloads"]),
                                                                      summary["missing_payloads"][0]))
    if summary["torn_records_skipped"]:
        lines.append("         %d torn record(s) from an interrupted write were skipped" % summary["torn_records_skipped"])
    for problem in summary["problems"]:
        lines.append("         skipped: %s" % problem)
    lines.append("")
    width = max([len("stage")] + [len(s["stage"]) for s in summary["stages"]])
    lines.append("%-*s  %7s  %7s  %7s  %10s  %6s" % (width, "stage", "samples", "calls", "tensors", "bytes", "errors"))
    for s in summary["stages"]:
        lines.append("%-*s  %7d  %7d  %7d  %10s  %6d" % (width, s["stage"], s["samples"], s["calls"], s["tensors"],
                                                         _bytes(s["payload_bytes"]), s["errors"]))
    env = summary["environment"]
    lines.append("")
    lines.append("host     %s (%s), Python %s, %d process(es)" % (env.get("host"), env.get("platform"), env.get("python"),
                                                                  summary["processes"]))
    lines.append("argv     %s" % " ".join(env.get("argv") or []))
    lines.append("cwd      %s" % env.get("cwd"))
    versions = env.get("versions") or {}
    lines.append("versions %s" % (", ".join("%s %s" % kv for kv in sorted(versions.items())) or "-"))
    for key, value in sorted((env.get("env") or {}).items()):
        lines.append("env      %s=%s" % (key, value))
    return "\n".join(lines)
