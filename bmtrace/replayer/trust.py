"""What replay may import when a trace names the function: the trust model.

A trace is data. Its journal names each stage function (module, qualname, file), but a run can come
from anywhere, so that name never decides on its own what code runs. By default only functions
*defined* in a Python source file that exists under the recorded program's directory or the current
working directory are imported and called: the user's own code, never the standard library,
site-packages, builtins, bmtrace itself or a file shipped inside the run. Anything else needs the
user's explicit ``trust_recorded=True`` (``--trust-recorded`` on the command line).
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import site
import sys
import sysconfig

from ..errors import ReplayError, UntrustedCodeError

TRUST_HINT = ("if you trust this run and the code it names, pass --trust-recorded "
              "(library: trust_recorded=True)")
_PACKAGE_DIR_NAMES = ("site-packages", "dist-packages")


def _real(path):
    return os.path.normcase(os.path.realpath(path))


def _under(path, root):
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def system_dirs():
    """Folders whose code a trace may never name by default: stdlib, site-packages, bmtrace itself."""
    dirs = set()
    paths = sysconfig.get_paths()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        if paths.get(key):
            dirs.add(_real(paths[key]))
    try:
        dirs.update(_real(p) for p in site.getsitepackages())
    except AttributeError:  # old virtualenv's site module
        pass
    user_site = getattr(site, "USER_SITE", None)
    if user_site:
        dirs.add(_real(user_site))
    dirs.add(_real(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))  # the bmtrace package
    return sorted(dirs)


class ImportPolicy:
    """Decides which recorded function identities may be imported, and imports them.

    Args:
        roots: folders of the user's own code (the recorded program's directory, the cwd).
        trust_recorded: import whatever the trace names (the behaviour before the trust model).
        run_dir: the run directory itself; code inside it is never imported by default.
    """

    def __init__(self, roots, trust_recorded=False, run_dir=None):
        self.trust_recorded = bool(trust_recorded)
        self.excluded = system_dirs()
        self.run_dir = _real(run_dir) if run_dir else None
        self.roots = []
        for root in roots:
            real = _real(root)
            if real not in self.roots:
                self.roots.append(real)
        self.imported = []  # one line per function imported, for the user and the result

    @classmethod
    def for_run(cls, run, trust_recorded=False):
        """The policy for functions named by ``run``: its programs' folders and the current directory."""
        return cls([os.getcwd()] + program_dirs(run), trust_recorded=trust_recorded, run_dir=run.path)

    def describe_roots(self):
        return ", ".join(self.roots) or "none"

    # -- the decision ------------------------------------------------------------------------------
    def check_file(self, path, what):
        """The real path of ``path`` if it is the user's own .py source file; ReplayError otherwise."""
        if not path:
            raise UntrustedCodeError("%s has no source file (a builtin or C function); a trace may only name your own "
                              "Python functions; %s" % (what, TRUST_HINT))
        real = _real(path)
        if not real.endswith(".py") or not os.path.isfile(real):
            raise UntrustedCodeError("%s is in %s, which is not an existing .py source file here; %s"
                              % (what, path, TRUST_HINT))
        reason = self._refusal(real)
        if reason:
            raise UntrustedCodeError("%s is defined in %s, %s; by default bmtrace only imports functions from your own "
                              "source files under the recorded program's directory or the current directory (%s); "
                              "%s" % (what, path, reason, self.describe_roots(), TRUST_HINT))
        return real

    def _refusal(self, real):
        parts = real.split(os.sep)
        if any(name in parts for name in _PACKAGE_DIR_NAMES):
            return "an installed package (site-packages)"
        for folder in self.excluded:
            if _under(real, folder):
                return "part of the Python installation, an installed package or bmtrace itself (%s)" % folder
        if self.run_dir and _under(real, self.run_dir):
            return "inside the run directory (a trace cannot ship its own code)"
        if not any(_under(real, root) for root in self.roots):
            return "outside the recorded program's directory and the current directory"
        return None

    # -- importing -------------------------------------------------------------------------------
    def target(self, identity):
        """The callable a recorded function identity names, if this policy allows it."""
        from .target import import_file, resolve_qualname

        module_name, qualname, path = identity.get("module"), identity.get("qualname"), identity.get("file")
        what = "the recorded stage function %s (module %r)" % (qualname, module_name)
        if not isinstance(qualname, str) or not qualname:
            raise ReplayError("the trace names a stage function without a qualname: %r" % (identity,))
        if self.trust_recorded:
            fn, source = _import_trusted(module_name, qualname, path)
        else:
            real = self.check_file(path, what)
            module = _import_module_of_file(module_name, real, import_file)
            fn = resolve_qualname(module, qualname, "%s:%s" % (path, qualname))
            _check_defined_in(fn, real, qualname, what)
            source = path
        self.imported.append("%s from %s" % (qualname, source))
        return fn


def program_dirs(run):
    """The folders a run's processes ran from: each recorded cwd and the folder of its script (argv[0])."""
    dirs = []
    try:
        processes = run.meta.get("processes") or []
    except Exception:  # unreadable metadata: only the current directory counts
        processes = []
    for proc in processes:
        if not isinstance(proc, dict):
            continue
        cwd = proc.get("cwd")
        argv = proc.get("argv")
        candidates = [cwd] if isinstance(cwd, str) else []
        if isinstance(argv, list) and argv and isinstance(argv[0], str) and argv[0].endswith(".py"):
            script = argv[0] if os.path.isabs(argv[0]) or not isinstance(cwd, str) else os.path.join(cwd, argv[0])
            candidates.append(os.path.dirname(script))
        for folder in candidates:
            if folder and os.path.isdir(folder) and _specific_enough(folder) and folder not in dirs:
                dirs.append(folder)
    return dirs


def _specific_enough(folder):
    """A recorded folder stands for a program, not for the whole machine or the user's whole home."""
    real = _real(folder)
    if real in (_real(os.sep), _real(os.path.expanduser("~"))):
        return False
    return not any(_under(system, real) for system in system_dirs())


def _import_module_of_file(module_name, real, import_file):
    """Import the module the file is; by its package name when its layout matches, else as a plain file."""
    root = _import_root(module_name, real)
    if root is None:
        return import_file(real)
    loaded = sys.modules.get(module_name)
    if loaded is not None:
        if _real(getattr(loaded, "__file__", "") or "") == real:
            return loaded
        return import_file(real)
    top = module_name.split(".")[0]
    if root not in sys.path:
        sys.path.insert(0, root)  # as when the program ran from there
    try:
        spec = importlib.util.find_spec(top)  # a top-level name: finding it runs no code
    except (ImportError, ValueError):
        spec = None
    origin = spec and (spec.origin or next(iter(spec.submodule_search_locations or []), None))
    if not origin or not _under(_real(origin), _real(root)):
        return import_file(real)  # the name means another module here: take the file itself
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise ReplayError("importing %s from %s failed: %s: %s" % (module_name, real, type(exc).__name__, exc)) from exc
    if _real(getattr(module, "__file__", "") or "") != real:
        return import_file(real)
    return module


def _import_root(module_name, real):
    """The sys.path folder from which ``module_name`` is the file ``real``, or None."""
    if not isinstance(module_name, str) or not module_name or module_name == "__main__":
        return None
    parts = module_name.split(".")
    if not all(p.isidentifier() for p in parts):
        return None
    for tail in (parts[:-1] + [parts[-1] + ".py"], parts + ["__init__.py"]):
        suffix = os.sep + os.path.join(*tail)
        if real.endswith(os.path.normcase(suffix)):
            return real[: -len(suffix)] or os.sep
    return None


def _check_defined_in(fn, real, qualname, what):
    """The resolved object must be a Python function defined in that file under that qualname."""
    inner = fn
    for _ in range(16):  # decorators that keep the original under __wrapped__
        wrapped = getattr(inner, "__wrapped__", None)
        if wrapped is None:
            break
        inner = wrapped
    code = getattr(inner, "__code__", None)
    if code is None or _real(code.co_filename) != real or getattr(inner, "__qualname__", None) != qualname:
        where = getattr(code, "co_filename", None) if code is not None else "no Python source"
        raise UntrustedCodeError("%s resolves to %r, which is not a function defined in %s under that name (it comes from "
                          "%s); %s" % (what, inner, real, where, TRUST_HINT))


def _import_trusted(module_name, qualname, path):
    """What the trace names, wherever it is (only with the user's explicit consent)."""
    from .target import import_file, resolve_qualname

    module, source = None, None
    if module_name and module_name != "__main__":
        try:
            module = importlib.import_module(module_name)
            source = getattr(module, "__file__", None) or "module %s" % module_name
        except Exception:
            module = None
    if module is None:
        if not path or not os.path.isfile(path):
            raise ReplayError("cannot find the stage function %s: module %r is not importable and its file %r "
                              "does not exist here" % (qualname, module_name, path))
        module = import_file(path)
        source = path
    return resolve_qualname(module, qualname, "%s:%s" % (path or module_name, qualname)), source
