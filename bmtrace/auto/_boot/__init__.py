"""Holds the sitecustomize.py that `bmtrace record --auto` puts on the recorded program's PYTHONPATH."""
import os

DIRECTORY = os.path.dirname(os.path.abspath(__file__))


def child_environment(libraries, sample_from, env):
    """BMTRACE_AUTO* for a program to record with automatic tracing, and this folder's sitecustomize first
    on its PYTHONPATH (it starts the tracing): what `bmtrace record --auto` and the re-runs of an
    auto-recorded program add to ``env``.

    Raises:
        UsageError: an unknown library or sample policy.
    """
    from ..control import parse_libraries
    from ..samples import check_policy

    names = parse_libraries(libraries)
    paths = [DIRECTORY] + [p for p in (env.get("PYTHONPATH") or "").split(os.pathsep) if p and p != DIRECTORY]
    return {"BMTRACE_AUTO": ",".join(names), "BMTRACE_AUTO_SAMPLE_FROM": check_policy(sample_from),
            "PYTHONPATH": os.pathsep.join(paths)}
