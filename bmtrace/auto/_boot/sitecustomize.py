"""Put on PYTHONPATH by `bmtrace record --auto`: turns on bmtrace.auto in each Python process of the program.

It first runs the sitecustomize module it shadows (if the interpreter has one), then, when the
process belongs to a run (BMTRACE_DIR and BMTRACE_AUTO set), requests automatic tracing: the run
starts at the first recorded call. It never stops the program: a failure is one line on stderr.
"""
import os
import sys


def _run_shadowed_sitecustomize():
    here = os.path.dirname(os.path.abspath(__file__))
    ours = sys.modules.pop("sitecustomize", None)
    saved = list(sys.path)
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    try:
        import sitecustomize  # noqa: F401  (the interpreter's own, if any)
    except ImportError as exc:
        if getattr(exc, "name", None) != "sitecustomize":
            print("bmtrace: the interpreter's sitecustomize failed: %s" % exc, file=sys.stderr)
    except Exception as exc:
        print("bmtrace: the interpreter's sitecustomize failed: %s: %s" % (type(exc).__name__, exc), file=sys.stderr)
    finally:
        sys.path[:] = saved
        if ours is not None:
            sys.modules["sitecustomize"] = ours


def _start_auto_tracing():
    if not (os.environ.get("BMTRACE_AUTO") and os.environ.get("BMTRACE_DIR")):
        return
    try:
        from bmtrace.auto import control
    except ImportError as exc:
        print("bmtrace: --auto cannot trace this process (%s %s cannot import bmtrace: %s)"
              % (sys.executable, sys.version.split()[0], exc), file=sys.stderr)
        return
    control.request_from_env()


_run_shadowed_sitecustomize()
try:
    _start_auto_tracing()
except Exception as _exc:  # a tracing problem must never stop the program
    print("bmtrace: automatic tracing is off: %s: %s" % (type(_exc).__name__, _exc), file=sys.stderr)
