"""Replace one attribute of a module or class with a wrapper, and put the original back exactly."""
from __future__ import annotations

import sys

_MISSING = object()


class Patch:
    """One applied replacement: ``owner.attr`` was ``saved`` (or inherited, when ``saved`` is missing)."""

    __slots__ = ("owner", "attr", "saved", "replacement")

    def __init__(self, owner, attr, replacement):
        self.owner, self.attr, self.replacement = owner, attr, replacement
        self.saved = _own_attribute(owner, attr)
        setattr(owner, attr, replacement)

    def remove(self):
        """Restore the original; leave the attribute alone if someone replaced our wrapper since."""
        if _own_attribute(self.owner, self.attr) is not self.replacement:
            return
        if self.saved is _MISSING:
            delattr(self.owner, self.attr)  # it was inherited (e.g. InferenceSession.run from Session)
        else:
            setattr(self.owner, self.attr, self.saved)


def _own_attribute(owner, attr):
    try:
        return vars(owner).get(attr, _MISSING)
    except TypeError:  # no __dict__: treat the current value as the owner's own
        return getattr(owner, attr, _MISSING)


def resolve(module_name, path):
    """(owner, attribute name, current value) for ``module_name`` + ``"Class.method"``; None if absent."""
    module = sys.modules.get(module_name)
    if module is None:
        return None
    owner = module
    parts = path.split(".")
    for part in parts[:-1]:
        owner = getattr(owner, part, None)
        if owner is None:
            return None
    current = getattr(owner, parts[-1], _MISSING)
    if current is _MISSING:
        return None
    return owner, parts[-1], current


def is_patched(value):
    return getattr(value, "__bmtrace_auto__", None) is not None
