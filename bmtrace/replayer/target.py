"""Find the function to replay: `path/to/file.py:function`, `module:function`, or a recorded identity."""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys

from ..errors import ReplayError


def load_target(spec):
    """Import ``file.py:qualname`` or ``module:qualname`` without running the file's __main__ block."""
    if ":" not in spec:
        raise ReplayError("--call takes path/to/file.py:function or package.module:function, got %r" % spec)
    where, qualname = spec.rsplit(":", 1)
    if where.endswith(".py") or os.sep in where or os.path.exists(where):
        module = import_file(where)
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as exc:
            raise ReplayError("cannot import module %r for --call %s: %s" % (where, spec, exc)) from exc
    return resolve_qualname(module, qualname, spec)


def import_file(path):
    """Import a .py file as a module named after its path, so `if __name__ == "__main__":` stays off."""
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise ReplayError("cannot replay into %s: no such file" % path)
    name = "bmtrace_replay_%s_%s" % (os.path.splitext(os.path.basename(path))[0],
                                     hashlib.sha1(path.encode()).hexdigest()[:8])
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    folder = os.path.dirname(path)
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)  # the file's sibling modules import as they do when it runs
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise ReplayError("importing %s failed: %s: %s" % (path, type(exc).__name__, exc)) from exc
    return module


def resolve_qualname(module, qualname, where):
    target = module
    for part in qualname.split("."):
        if part == "<locals>":
            raise ReplayError("%s is defined inside another function (%s) and cannot be imported; move it to "
                              "module level or pass the function object to bmtrace.replay" % (qualname, where))
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ReplayError("%s has no attribute %r (looking up %s)" % (getattr(module, "__name__", module), part,
                                                                          where)) from None
    if not callable(target):
        raise ReplayError("%s resolves to a %s, which is not callable" % (where, type(target).__name__))
    return target


def target_from_identity(identity, policy):
    """The callable a recorded function identity names, if ``policy`` (trust.ImportPolicy) allows it.

    ReplayError says why it cannot be had: a `with` block, a method, or code the trust model refuses.
    """
    if isinstance(identity, dict) and identity.get("kind") == "auto":
        # An auto-traced library call: rebuilt from bmtrace's own table of known ops and their recorded
        # parameters (never an import of whatever the trace names).
        from ..auto.replay import replay_target

        return replay_target(identity)
    if not isinstance(identity, dict) or identity.get("kind") == "block":
        where = "%s:%s" % (identity.get("file"), identity.get("line")) if isinstance(identity, dict) else "unknown place"
        raise ReplayError("the stage was recorded from a `with trace_stage(...)` block at %s, not a function; "
                          "only decorated functions can be replayed automatically" % where)
    if identity.get("kind") == "method":
        qualname = str(identity.get("qualname"))
        raise ReplayError("the stage function %s is a method; replay needs an instance: call "
                          "bmtrace.replay(run, stage, obj.%s)" % (qualname, qualname.split(".")[-1]))
    return policy.target(identity)


def unwrap_traced(fn):
    """The undecorated function, so a replay neither records itself nor pays for tracing."""
    return fn.__wrapped__ if getattr(fn, "__bmtrace_stage__", None) and hasattr(fn, "__wrapped__") else fn
