"""Turning bmtrace.auto on: which libraries, and applying or removing their patches as runs come and go.

Patches exist only while auto tracing is requested (``bmtrace.auto()``, ``BMTRACE_AUTO``) and a run
is active or pending (BMTRACE_DIR): ``sync`` runs after every change of the run state (it is a
listener of ``bmtrace._state``). A library not imported yet is patched right after its import (a
post-import hook), so requesting auto tracing never imports a library itself.
"""
from __future__ import annotations

import os
import sys
import threading

from .. import _state
from ..errors import UsageError
from .patch import Patch, is_patched, resolve
from .samples import AutoKey, SampleKeys

LIBRARIES = ("cv2", "PIL", "torchvision", "torch", "onnxruntime", "sail")
_ALIASES = {"opencv": "cv2", "pil": "PIL", "pillow": "PIL", "ort": "onnxruntime", "sophon.sail": "sail",
            "sophon": "sail"}

_lock = threading.RLock()
_settings = None   # Settings while auto tracing is requested
_applied = {}      # (module name, attribute path) -> Patch
_hooked = set()    # module names with a post-import hook registered
_warned = set()


class Settings:
    """What was requested: the libraries, the sample-key policy; caches what each library is."""

    def __init__(self, libraries, sample_from):
        self.libraries = libraries
        self.samples = SampleKeys(sample_from)
        self._implementations = {}

    def implementation(self, library):
        """Which implementation of ``library`` runs here (version; for OpenCV, Sophon's build or not)."""
        found = self._implementations.get(library)
        if found is None:
            found = self._implementations[library] = _implementation(library)
        return found


def parse_libraries(spec):
    """Library names from "cv2,PIL" (or a list); empty, "1", "all" or None mean every library."""
    if spec is None:
        return LIBRARIES
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [str(item).strip() for item in items if str(item).strip()]
    if not names or names in (["1"], ["all"], ["true"]):
        return LIBRARIES
    chosen = []
    for name in names:
        canonical = name if name in LIBRARIES else _ALIASES.get(name.lower())
        if canonical is None:
            raise UsageError("unknown library %r for automatic tracing; choose from %s (comma-separated), "
                             "or all" % (name, ", ".join(LIBRARIES)))
        if canonical not in chosen:
            chosen.append(canonical)
    return tuple(chosen)


def request(libraries=None, sample_from=None):
    """Trace calls of ``libraries`` whenever a run is active; returns the library names."""
    global _settings
    settings = Settings(parse_libraries(libraries), sample_from)
    with _lock:
        _remove_all()  # a new request replaces the previous one
        _settings = settings
        _listen()
        sync()
    return list(settings.libraries)


def request_from_env():
    """Request auto tracing from BMTRACE_AUTO / BMTRACE_AUTO_SAMPLE_FROM; a bad value is reported, not raised."""
    spec = os.environ.get("BMTRACE_AUTO")
    if not spec or spec == "0":
        return None
    try:
        return request(spec, os.environ.get("BMTRACE_AUTO_SAMPLE_FROM"))
    except UsageError as exc:
        print("bmtrace: BMTRACE_AUTO ignored: %s" % exc, file=sys.stderr)
        return None


def cancel():
    """Stop tracing library calls (patches removed now, none applied at the next run)."""
    global _settings
    with _lock:
        _settings = None
        _remove_all()


def active_patches():
    """The (module, attribute) pairs patched right now."""
    with _lock:
        return sorted(_applied)


def sync():
    """Apply the patches while requested and a run is active or pending; remove them otherwise."""
    try:
        with _lock:
            if _settings is not None and _state.hot:
                _apply_all()
            else:
                _remove_all()
    except Exception as exc:  # never break start()/stop(): report and go on unpatched
        _warn_once("sync", "automatic tracing is off: %s: %s" % (type(exc).__name__, exc))


def _listen():
    if sync not in _state.listeners:
        _state.listeners.append(sync)


def _apply_all():
    from .libraries import ops_for

    for library in _settings.libraries:
        for op in ops_for(library):
            for module_name, path in op.targets:
                if module_name in sys.modules:
                    _apply(op, module_name, path)
                else:
                    _hook(module_name)


def _apply_module(module_name):
    from .libraries import ops_for

    for library in _settings.libraries:
        for op in ops_for(library):
            for target_module, path in op.targets:
                if target_module == module_name:
                    _apply(op, module_name, path)


def _apply(op, module_name, path):
    key = (module_name, path)
    if key in _applied:
        return
    found = resolve(module_name, path)
    if found is None:
        return  # this version of the library has no such call
    owner, attr, original = found
    if is_patched(original):
        return
    from .record import make_wrapper

    try:
        _applied[key] = Patch(owner, attr, make_wrapper(op, original, _settings))
    except (TypeError, AttributeError) as exc:
        _warn_once(key, "cannot trace %s (%s.%s is read-only here: %s)" % (op.name, module_name, path, exc))


def _remove_all():
    if type(_state.current_sample.get()) is AutoKey:  # the next run must not inherit a stale auto sample
        _state.current_sample.set(None)
    for key in sorted(_applied, reverse=True):
        try:
            _applied.pop(key).remove()
        except Exception as exc:
            _warn_once(("remove",) + key, "could not restore %s.%s: %s" % (key[0], key[1], exc))
    _applied.clear()


def _hook(module_name):
    if module_name in _hooked:
        return
    _hooked.add(module_name)
    import wrapt

    wrapt.register_post_import_hook(_on_import, module_name)


def _on_import(module):
    """Patch a library the moment it is imported, if a run still wants it."""
    try:
        with _lock:
            if _settings is not None and _state.hot:
                _apply_module(module.__name__)
    except Exception as exc:
        _warn_once(("import", module.__name__), "automatic tracing of %s is off: %s: %s"
                   % (module.__name__, type(exc).__name__, exc))


def _implementation(library):
    from ..store.environment import LIBRARIES as SNAPSHOT_LIBRARIES, opencv_build_summary

    module_name = dict(SNAPSHOT_LIBRARIES).get(library, library)
    module = sys.modules.get(module_name)
    version = getattr(module, "__version__", None) if module is not None else None
    found = {"library": library, "version": None if version is None else str(version)}
    if library == "cv2":
        build = opencv_build_summary() or {}
        found["build"] = "Sophon OpenCV" if build.get("is_sophon") else "upstream OpenCV"
    return found


def _warn_once(key, message):
    if key not in _warned:
        _warned.add(key)
        print("bmtrace: " + message, file=sys.stderr)


_listen()
