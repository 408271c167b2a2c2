"""Re-running program B with a substitution plan: which command runs, and running it into a new run.

A trace is data: the command recorded in a run (argv, cwd, environment in procs/*.json) is only used
when the user says so (``--trust-recorded``), and it is printed before it runs. Otherwise the user
gives the command after ``--``.
"""
from __future__ import annotations

import glob
import json
import os
import shlex
import subprocess
import tempfile

from ..errors import BmtraceError, UsageError
from ..store import layout
from .substitute import ENV_VAR, read_notes, write_plan

# Environment of the recorded process that is handed to the re-run (others come from this shell).
_RECORDED_ENV_PREFIXES = ("BMRT_", "SAIL_", "OPENCV_", "BMCV_")
_BMTRACE_ENV = ("BMTRACE_DIR", "BMTRACE_JOIN", "BMTRACE_SIDE", "BMTRACE_MODE", "BMTRACE_OVERWRITE", ENV_VAR)
CONSENT_HINT = ("give the command that runs program B after `--` (e.g. `-- python port.py`), or pass "
                "--trust-recorded to run the command recorded in B's run (it is printed first)")


class Program:
    """A command to run: argv, working directory, and environment variables set on top of ours."""

    def __init__(self, argv, cwd=None, env=None, recorded_from=None):
        self.argv = list(argv)
        self.cwd = cwd or os.getcwd()
        self.env = dict(env or {})
        self.recorded_from = recorded_from

    def describe(self):
        """The command as a shell line: ``cd CWD && VAR=value ... argv``."""
        env = " ".join("%s=%s" % (k, shlex.quote(v)) for k, v in sorted(self.env.items()))
        return "cd %s && %s%s" % (shlex.quote(self.cwd), env + " " if env else "",
                                  " ".join(shlex.quote(a) for a in self.argv))

    def to_json(self):
        return {"argv": self.argv, "cwd": self.cwd, "env": self.env, "recorded_from": self.recorded_from}


def split_command(tokens):
    """``(option tokens, command)`` from what follows the run arguments: the command is after ``--``."""
    tokens = list(tokens or ())
    if "--" in tokens:
        cut = tokens.index("--")
        return tokens[:cut], tokens[cut + 1:]
    return tokens, []


def choose_program(command, trust_recorded, run_b):
    """The Program to re-run: the given command, or (with consent) the one recorded in ``run_b``."""
    if command and trust_recorded:
        raise UsageError("give either a command after `--` or --trust-recorded, not both")
    if command:
        return Program(command)
    if trust_recorded:
        return recorded_program(run_b)
    raise UsageError("which program should re-run? A trace is data and its recorded command never runs by "
                     "itself: " + CONSENT_HINT)


def recorded_program(run_path):
    """The command, cwd and relevant environment the first recording process of ``run_path`` ran with."""
    procs = []
    for path in sorted(glob.glob(os.path.join(run_path, layout.PROCS_DIR, "*.json"))):
        try:
            procs.append(layout.read_json(path))
        except (OSError, ValueError):
            continue
    if not procs:
        raise UsageError("run %s has no process record (procs/*.json), so no command to re-run; %s"
                         % (run_path, "give the command after `--`"))
    proc = min(procs, key=lambda p: p.get("opened") or 0.0)
    argv, executable = proc.get("argv") or [], proc.get("executable")
    if not argv or argv[0] in ("-c", "") or not executable:
        raise UsageError("run %s was recorded from `python -c` or an interactive session (argv %r); its "
                         "command cannot be re-run: give it after `--`" % (run_path, argv))
    env = {k: v for k, v in (proc.get("env") or {}).items() if k.startswith(_RECORDED_ENV_PREFIXES)}
    return Program([executable] + list(argv), proc.get("cwd"), env, recorded_from=run_path)


def run_with_plan(program, plan, out, like=None, overwrite=True, capture=True):
    """Run ``program`` recording into new run ``out`` with ``plan`` active.

    ``like``: run B, opened. The new run takes its side, and the program is auto-traced as B's was (an
    ``--auto`` recording's program records nothing by itself; BMTRACE_AUTO* set here win).

    Returns ``(exit code, substitution notes, stderr text)``; the run is finalised whatever happens.
    """
    from ..api import create_run, finalize_run

    side = side_of(like.path) if like is not None else None
    path = create_run(out, side=side, overwrite=overwrite)
    doc_path = os.path.join(path, layout.RUN_FILE)
    doc = layout.read_json(doc_path)
    doc["substitution"] = plan
    doc["rerun"] = program.to_json()
    layout.write_json_atomic(doc_path, doc)
    handle, plan_path = tempfile.mkstemp(prefix="bmtrace-plan-", suffix=".json")
    os.close(handle)
    write_plan(plan, plan_path)
    env = {k: v for k, v in os.environ.items() if k not in _BMTRACE_ENV}
    env.update(program.env)
    auto = auto_request(like) if like is not None else None
    if auto is not None:
        from ..auto._boot import child_environment

        env.update(child_environment(env.get("BMTRACE_AUTO") or auto[0],
                                     env.get("BMTRACE_AUTO_SAMPLE_FROM") or auto[1], env))
    env.update({"BMTRACE_DIR": path, "BMTRACE_JOIN": path, "BMTRACE_MODE": "full", ENV_VAR: plan_path})
    if side:
        env["BMTRACE_SIDE"] = side
    pipe = subprocess.PIPE if capture else None
    try:
        completed = subprocess.run(program.argv, cwd=program.cwd, env=env, stdout=pipe, stderr=pipe,
                                   universal_newlines=True)
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise UsageError("cannot run %s: %s" % (program.describe(), exc)) from None
    finally:
        finalize_run(path)
        os.remove(plan_path)
    if not glob.glob(os.path.join(path, layout.JOURNAL_DIR, "*.jsonl")):
        tail = "\n".join((completed.stderr or "").strip().splitlines()[-5:])
        raise UsageError("the re-run of %s recorded nothing into %s (exit code %d)%s; the program must record "
                         "where BMTRACE_DIR says (as under `bmtrace record`), not into a fixed "
                         "bmtrace.run(path)" % (program.describe(), path, completed.returncode,
                                                ":\n" + tail if tail else ""))
    return completed.returncode, read_notes(path), completed.stderr or ""


def side_of(run_path):
    try:
        with open(os.path.join(run_path, layout.RUN_FILE), encoding="utf-8") as f:
            return json.load(f).get("side")
    except (OSError, ValueError):
        return None


def auto_request(run):
    """``(libraries, sample policy)`` of the automatic tracing opened ``run`` was recorded with, or None.

    A process record says so itself ("auto"); a run recorded before it did counts as auto-traced (every
    library, the default policy) when any of its calls is an auto-recorded one."""
    said = False
    try:
        procs = run.meta.get("processes") or []  # the run's process records, the first opened first
    except (BmtraceError, OSError, ValueError):
        procs = []
    for proc in procs:
        if "auto" not in proc:
            continue
        said = True
        auto = proc["auto"]
        if isinstance(auto, dict) and isinstance(auto.get("libraries"), str) and auto["libraries"]:
            policy = auto.get("sample_from")
            return auto["libraries"], policy if isinstance(policy, str) else None
    if said:
        return None
    try:
        calls = run.calls()
    except (BmtraceError, OSError, ValueError):
        return None
    if any(isinstance(c.function, dict) and c.function.get("kind") == "auto" for c in calls):
        return "all", None
    return None
