"""Sample keys without edits: each decode starts a new sample named by the file it decodes.

The key set by a decode lasts (in that thread or task) until the next decode. A sample set by the
program (``bmtrace.sample``, or decorated code that sets one) always wins: auto keys only replace
auto keys. Keys bmtrace.auto sets are ``AutoKey`` strings, so the two are told apart by type
(``bmtrace.sample`` stores ``str(key)``, a plain str).

Policies (``--sample-from``):
  decode   the base name of the file passed to the decoder (default); buffers and video frames
           without a name count up: decode0, decode1, ... and frame0, frame1, ...
  frame    every decode counts up: frame0, frame1, ...
  argvN    the base name of sys.argv[N] for the whole process (one input per invocation)
"""
from __future__ import annotations

import itertools
import os
import re
import sys
import threading

from .. import _state
from ..errors import UsageError

POLICIES = ("decode", "frame", "argvN")
_ARGV = re.compile(r"^argv:?(\d+)$")


class AutoKey(str):
    """A sample key chosen by bmtrace.auto (recorded as a plain string)."""

    __slots__ = ()


def check_policy(policy):
    """The policy string, validated; UsageError says what is accepted."""
    policy = (policy or "decode").strip()
    if policy in ("decode", "frame") or _ARGV.match(policy):
        return policy
    raise UsageError("--sample-from takes decode, frame or argvN (e.g. argv1: the base name of the "
                     "program's first argument), got %r" % policy)


class SampleKeys:
    """Chooses the sample key before an auto-recorded call."""

    def __init__(self, policy="decode"):
        self.policy = check_policy(policy)
        match = _ARGV.match(self.policy)
        self.argv_index = int(match.group(1)) if match else None
        self._counters = {}
        self._lock = threading.Lock()

    def before(self, op, bound):
        """Set the current sample for this call of ``op`` unless the program chose one."""
        current = _state.current_sample.get()
        if current is not None and type(current) is not AutoKey:
            return
        key = self._key(op, bound, current)
        if key is not None and key != current:
            _state.current_sample.set(AutoKey(key))

    def _key(self, op, bound, current):
        if self.argv_index is not None:
            if current is not None:
                return None
            arg = sys.argv[self.argv_index] if self.argv_index < len(sys.argv) else None
            return os.path.basename(arg) if arg else "argv%d-missing" % self.argv_index
        if op.kind != "decode":
            return None
        if self.policy == "frame" or op.name.endswith("VideoCapture.read"):
            return self._count("frame")
        name = op.source(bound) if op.source else None
        return name if name else self._count("decode")

    def _count(self, prefix):
        with self._lock:
            counter = self._counters.setdefault(prefix, itertools.count())
            return "%s%d" % (prefix, next(counter))
