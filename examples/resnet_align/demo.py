"""The vendor's alignment walkthrough, automated: record both programs, diff them, fix, diff again.

Steps (each is a command you can also type yourself; the demo prints them):
  1. record original.py and ported.py with `bmtrace record`
  2. compare their predictions, then `bmtrace diff ORIGINAL PORTED --isolate` names the first
     divergent stage and replays each diverged stage of the original on the port's inputs
  2b. `bmtrace attribute ORIGINAL PORTED -- python ported.py` re-runs the port with the original's
     values substituted stage by stage and names the stage the top-1 change comes from
  3. record ported_aligned.py (the fix) and diff again

Usage: python demo.py [--out DIR] [--runtime auto|sail|simulator|onnxruntime]
Runs go to build/runs/ by default and are replaced on every demo run.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = sys.executable
FP32_ATOL = 1e-3  # Sophgo's alignment guide: FP32 bmodel vs original max abs diff < 1e-3
PREDICTION = re.compile(r"^(?P<image>\S+), res: (?P<res>\d+), score: (?P<score>[0-9.eE+-]+)$")


def parse_output(stdout):
    """The runtime line and {image: (res, score)} from a program's stdout."""
    runtime, predictions = "", {}
    for line in stdout.splitlines():
        match = PREDICTION.match(line.strip())
        if match:
            predictions[match["image"]] = (int(match["res"]), float(match["score"]))
        elif line.startswith("runtime:"):
            runtime = line[len("runtime:"):].strip()
    return runtime, predictions


def shown(path):
    """A path as short as possible for the reader: relative to the current directory when inside it."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def record(run_dir, side, script, program_args):
    """Run one program under `bmtrace record`; return its parsed stdout. Exits on failure."""
    command = [PYTHON, "-m", "bmtrace", "record", "--out", run_dir, "--side", side, "--overwrite", "--",
               PYTHON, os.path.join(HERE, script)] + program_args
    proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit("demo: %s failed (exit code %d)" % (script, proc.returncode))
    return parse_output(proc.stdout)


def print_predictions(label_a, preds_a, label_b, preds_b):
    """A side-by-side table of top-1 predictions; return how many images differ."""
    print(("    %-16s %-16s %s" % ("image", label_a, label_b)).rstrip())
    differ = 0
    for image in sorted(set(preds_a) | set(preds_b)):
        a, b = preds_a.get(image), preds_b.get(image)
        cell_a = "res %4d  %.4f" % a if a else "missing"
        cell_b = "res %4d  %.4f" % b if b else "missing"
        same = a is not None and b is not None and a[0] == b[0]
        differ += not same
        print(("    %-16s %-16s %-16s %s" % (image, cell_a, cell_b, "" if same else "<- top-1 differs")).rstrip())
    return differ


def diff_capabilities():
    """None when this bmtrace has no `diff` command, else the set of its option flags."""
    proc = subprocess.run([PYTHON, "-m", "bmtrace", "diff", "--help"], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True)
    if proc.returncode != 0:
        return None
    return set(re.findall(r"--[a-z][a-z-]*", proc.stdout))


def run_diff(run_a, run_b, capabilities, json_path, quiet=False, isolate=True):
    """Show `bmtrace diff` between two runs (with --isolate when it works); return (exit code, JSON)."""
    if capabilities is None:
        print("    (this bmtrace has no `diff` command yet: compare the runs with `bmtrace show`)")
        return None, None
    command = ["diff", shown(run_a), shown(run_b)]
    if quiet and "--quiet" in capabilities:
        command.append("--quiet")
    if "--json-out" in capabilities:
        command += ["--json-out", shown(json_path)]
    if os.path.exists(json_path):
        os.remove(json_path)  # never read a previous demo's verdict
    if isolate and "--isolate" in capabilities:
        code = _show_command(command + ["--isolate"])
        if code != 2:
            return code, _load_json(json_path)
        print("    (--isolate failed, see above; the same diff without it:)")
    code = _show_command(command)
    return code, _load_json(json_path)


def _show_command(bmtrace_args):
    """Print a bmtrace command line, run it, return its exit code."""
    print("$ bmtrace %s" % " ".join(bmtrace_args))
    sys.stdout.flush()
    return subprocess.call([PYTHON, "-m", "bmtrace"] + bmtrace_args)


def _load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _worst(values):
    values = [v for v in values if v is not None]
    return max(values) if values else None


def _stage_order(report):
    stages = []
    for entry in report["stages"]:
        if entry["stage"] not in stages:
            stages.append(entry["stage"])
    return stages


def _worst_output_diff(entries):
    return _worst(t["max_abs_diff"] for e in entries for t in e["tensors"] if t.get("role") != "input")


def isolation_lines(report):
    """Per diverged stage: the original's stage on the port's recorded inputs, like the vendor's step 7."""
    lines = []
    for stage in _stage_order(report):
        diverged = [e for e in report["stages"] if e["stage"] == stage and e["status"] != "aligned"]
        local = [e["local"] for e in diverged if e.get("local")]
        if not local:
            continue
        worst = _worst(l.get("max_abs_diff") for l in local)
        if any(e.get("introduces") for e in diverged):
            verdict = "introduces the error"
        else:
            verdict = "only inherits it"
            if stage == "infer" and worst is not None and worst < FP32_ATOL:
                verdict += " (< 1e-3, the vendor's FP32 bar: the model is aligned)"
        lines.append("      %-12s max diff %-9s -> %s" % (stage, _num(worst), verdict))
    return lines


def attribute(run_a, run_b, port_args):
    """Show `bmtrace attribute` (when this bmtrace has it): which stage the top-1 change comes from."""
    probe = subprocess.run([PYTHON, "-m", "bmtrace", "attribute", "--help"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True)
    if probe.returncode != 0:
        print("    (this bmtrace has no `attribute` command)")
        return None
    head = ["attribute", shown(run_a), shown(run_b), "--"]
    print("$ bmtrace %s" % " ".join(head + ["python", "ported.py"] + port_args))
    sys.stdout.flush()
    started = time.time()
    code = subprocess.call([PYTHON, "-m", "bmtrace"] + head + [PYTHON, "ported.py"] + port_args)
    print("    (attribute took %.1f s)" % (time.time() - started))
    return code


def aligned_summary(report):
    """One line: every stage's worst output difference."""
    parts = []
    for stage in _stage_order(report):
        entries = [e for e in report["stages"] if e["stage"] == stage]
        parts.append("%s %s" % (stage, _num(_worst_output_diff(entries))))
    return ", ".join(parts)


def _num(value):
    return "?" if value is None else ("%.3g" % value)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(HERE, "build", "runs"), help="folder for the runs")
    parser.add_argument("--runtime", choices=("auto", "sail", "simulator", "onnxruntime"),
                        help="the port's inference runtime (default: $RESNET_ALIGN_RUNTIME or the first "
                             "available; the simulator needs ~15-30 s per image)")
    args = parser.parse_args(argv)
    out = os.path.abspath(args.out)
    where = os.path.relpath(HERE)
    os.chdir(HERE)  # so every path and command printed below is short and can be pasted from here
    runs = {name: os.path.join(out, name) for name in ("original", "ported", "aligned")}
    port_args = ["--runtime", args.runtime] if args.runtime else []

    print("== Why does the SOPHON port of a resnet18 classifier disagree with the PyTorch original? ==")
    if where != ".":
        print("(commands below run in %s)" % where)
    export = subprocess.run([PYTHON, os.path.join(HERE, "export_model.py")], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, universal_newlines=True)
    if export.returncode != 0:
        sys.stderr.write(export.stdout)
        raise SystemExit("demo: exporting the model failed")
    if not export.stdout.startswith("model up to date"):
        print("[0] python export_model.py: %s" % export.stdout.strip())

    print("[1] bmtrace record --out %s --side SIDE -- python PROGRAM.py" % shown(os.path.join(out, "SIDE")))
    runtime_a, original = record(runs["original"], "original", "original.py", [])
    print("    original.py  %s" % runtime_a)
    runtime_b, ported = record(runs["ported"], "ported", "ported.py", port_args)
    print("    ported.py    %s" % runtime_b)
    differ = print_predictions("original", original, "ported", ported)
    print("    => %d of %d images change their top-1 class in the port. Which stage is responsible?"
          % (differ, len(original)))

    print("\n[2] diff the runs stage by stage; --isolate replays the port's inputs through the original")
    capabilities = diff_capabilities()
    _, report = run_diff(runs["original"], runs["ported"], capabilities,
                         os.path.join(out, "diff_ported.json"))
    lines = isolation_lines(report) if report else []
    if lines:
        print("    each diverged stage of the original replayed on the port's recorded inputs:")
        print("\n".join(lines))

    print("\n[2b] attribute the changed predictions: re-run the port with the original's values stage by stage")
    attribute(runs["original"], runs["ported"], port_args)

    print("\n[3] the fix: ported_aligned.py resizes like torchvision (PIL bilinear, antialiased)")
    _, aligned = record(runs["aligned"], "aligned", "ported_aligned.py", port_args)
    same = sorted(image for image in original if aligned.get(image, (None,))[0] == original[image][0])
    fixed = ["%s %d" % (image, original[image][0]) for image in same
             if ported.get(image, (None,))[0] != original[image][0]]
    print("    => top-1 identical to the original on %d of %d images%s"
          % (len(same), len(original), " (back: %s)" % ", ".join(fixed) if fixed else ""))
    code, report = run_diff(runs["original"], runs["aligned"], capabilities,
                            os.path.join(out, "diff_aligned.json"), quiet=True, isolate=False)
    if report:
        print("    worst max abs diff per stage: %s" % aligned_summary(report))
    if code not in (None, 0):
        print("demo: the aligned port still differs from the original (bmtrace diff exit code %d)" % code)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
