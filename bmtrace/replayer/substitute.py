"""Substitution runs: re-run a program with another run's recorded values at one stage.

A plan (JSON) says: at stage S of this program, replace its inputs (or outputs) with those run R
recorded for the same sample key and occurrence of S. The recorder asks the plan for every value
(``Substitution.replace``, the hook in ``bmtrace.stage``); R's value is converted to the receiving
side's type and layout where that is unambiguous (numpy <-> torch tensor <-> PIL image, a batch dim
of 1, dtype), and every substitution or refusal is written to ``substitutions/<pid>.jsonl`` in the new
run, so what the program was fed is on record next to what it did with it.

Plan file::

    {"format": "bmtrace-substitution", "source": "/abs/path/run_A", "stage": "resize",
     "role": "outputs", "tensors": null, "samples": null, "source_stage": null}

``role`` is "inputs" or "outputs"; ``tensors`` a list of value names (root names such as ``img`` or
``out``) or null for all; ``samples`` a list of sample keys or null for all; the optional
``source_stage`` names the stage in the source run when it is called differently there.

This module runs inside the recorded program: stdlib and numpy only at import (torch and PIL are used
only when the program already imported them), Python 3.8.
"""
from __future__ import annotations

import json
import os
import sys
import threading

import numpy as np

from ..errors import ReplayError, UsageError

PLAN_FORMAT = "bmtrace-substitution"
ENV_VAR = "BMTRACE_SUBSTITUTE"
NOTES_DIR = "substitutions"
ROLES = ("inputs", "outputs")


class SubstitutionRefused(ReplayError):
    """R's value cannot be handed to this program's code as it is (the program keeps its own)."""


# -- the plan ------------------------------------------------------------------------------------------
def make_plan(source, stage, role="outputs", tensors=None, samples=None, source_stage=None):
    """A plan dict, checked; ``source`` is the run whose values are substituted, ``source_stage`` the
    stage's name in that run when it differs (a stage map)."""
    if role not in ROLES:
        raise UsageError("substitution role must be one of %s, got %r" % (", ".join(ROLES), role))
    if not isinstance(stage, str) or not stage:
        raise UsageError("a substitution plan needs a stage name, got %r" % (stage,))
    return {"format": PLAN_FORMAT, "source": os.path.abspath(os.fspath(source)), "stage": stage, "role": role,
            "tensors": list(tensors) if tensors else None,
            "samples": [str(s) for s in samples] if samples else None,
            "source_stage": source_stage if source_stage and source_stage != stage else None}


def load_plan(path):
    """Read and check a plan file; UsageError says what is wrong and where."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as exc:
        raise UsageError("cannot read the substitution plan %s (%s: %s); %s must name a JSON plan file"
                         % (path, type(exc).__name__, exc, ENV_VAR)) from None
    if not isinstance(doc, dict) or doc.get("format") != PLAN_FORMAT:
        raise UsageError("%s is not a substitution plan: expected a JSON object with \"format\": %r"
                         % (path, PLAN_FORMAT))
    missing = [k for k in ("source", "stage", "role") if not doc.get(k)]
    if missing:
        raise UsageError("substitution plan %s lacks %s" % (path, ", ".join(missing)))
    return make_plan(doc["source"], doc["stage"], doc["role"], doc.get("tensors"), doc.get("samples"),
                     doc.get("source_stage"))


def write_plan(plan, path):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(plan, f, indent=1)
    return path


def attach_from_env(recorder):
    """Set ``recorder.substitution`` from $BMTRACE_SUBSTITUTE and note the plan in run.json."""
    path = os.environ.get(ENV_VAR)
    if not path:
        return None
    plan = load_plan(path)
    recorder.substitution = Substitution(plan, recorder.path)
    _note_plan_in_run(recorder.path, plan)
    return recorder.substitution


def _note_plan_in_run(run_path, plan):
    from ..store import layout

    run_file = os.path.join(run_path, layout.RUN_FILE)
    doc = layout.read_json(run_file)
    if doc.get("substitution") != plan:
        doc["substitution"] = plan
        layout.write_json_atomic(run_file, doc)


# -- the hook ------------------------------------------------------------------------------------------
class Substitution:
    """``replace(call, role, name, value)``: run R's value for this stage call, or ``value`` itself."""

    def __init__(self, plan, run_path):
        self.plan = plan
        self.stage = plan["stage"]
        self.source_stage = plan.get("source_stage") or self.stage
        self.role = "input" if plan["role"] == "inputs" else "output"
        self.tensors = set(plan["tensors"]) if plan.get("tensors") else None
        self.samples = set(plan["samples"]) if plan.get("samples") else None
        self.notes_path = os.path.join(run_path, NOTES_DIR, "%d.jsonl" % os.getpid())
        self._source = None
        self._lock = threading.Lock()
        self._occurrences = {}   # (sample) -> calls of the stage seen so far in this process
        self._call_occurrence = {}  # StageCall id -> its occurrence
        self._names_seen = {}    # StageCall id -> value names of the role handed to replace so far

    def replace(self, call, role, name, value):
        if call.stage != self.stage:
            return value
        with self._lock:
            occurrence = self._occurrence_of(call)
            names = self._names_seen.setdefault(call.id, [])
            if role == self.role:
                names.append(name)
            position = len(names) - 1
        if role != self.role or (self.tensors is not None and name not in self.tensors):
            return value
        if self.samples is not None and str(call.sample) not in self.samples:
            return value
        note = {"sample": call.sample, "stage": call.stage, "occurrence": occurrence, "role": role, "name": name}
        function = getattr(call, "function", None)
        if isinstance(function, dict) and function.get("kind") == "auto":
            # The library call runs with its own arguments and returns its own result whatever is handed
            # back here: claiming a substitution would report a stage as tested that never was.
            note.update(substituted=False, reason="%s was recorded by --auto, which does not replace a library "
                        "call's arguments or result; decorate the stage (or wrap it in `with "
                        "bmtrace.trace_stage(...)`) to substitute it" % function.get("op"))
            self._write_note(note)
            raise SubstitutionRefused(note["reason"])
        try:
            found = self._source_value(call.sample, occurrence, name, position)
            if found is None:  # a value R has no counterpart for (e.g. an extra parameter): kept, noted
                note.update(substituted=False, kept=True, reason="run %s recorded no %s at this position"
                            % (self.plan["source"], self.role))
                self._write_note(note)
                return value
            source_value, source_name, source_meta = found
            new, conversion = convert(source_value, source_meta, value)
        except SubstitutionRefused as exc:
            note.update(substituted=False, reason=str(exc))
            self._write_note(note)
            raise
        note.update(substituted=True, source_name=source_name, conversion=conversion)
        self._write_note(note)
        return new

    # -- R's records -------------------------------------------------------------------------------
    def _occurrence_of(self, call):
        occurrence = self._call_occurrence.get(call.id)
        if occurrence is None:
            occurrence = self._occurrences.get(call.sample, 0)
            self._occurrences[call.sample] = occurrence + 1
            self._call_occurrence[call.id] = occurrence
        return occurrence

    def source(self):
        if self._source is None:
            from ..store.reader import open_run

            self._source = open_run(self.plan["source"])
        return self._source

    def _source_value(self, sample, occurrence, name, position):
        """``(value, its name in R, its meta)``: by name, else by position among R's values of the role."""
        calls = [c for c in self.source().calls(sample=sample, stage=self.source_stage)
                 if c.occurrence == occurrence]
        if not calls:
            raise SubstitutionRefused("run %s has no call of stage %r for sample %r (occurrence %d)"
                                      % (self.plan["source"], self.source_stage, sample, occurrence))
        call = calls[0]
        leaves = call.inputs if self.role == "input" else call.outputs
        groups = _group_by_root(leaves)
        if name in groups:
            chosen = name
        else:
            roots = list(groups)
            if position >= len(roots) and self.tensors is None:
                return None
            if position >= len(roots):
                raise SubstitutionRefused("run %s recorded %s %s for stage %r but not %r (nor a value at "
                                          "position %d)" % (self.plan["source"], self.role + "s",
                                                            ", ".join(roots) or "nothing", self.stage, name, position))
            chosen = roots[position]
        group = groups[chosen]
        if len(group) == 1 and not group[0].path:
            leaf = group[0]
            if leaf.is_array and leaf.kind == "array":
                if not leaf.has_payload:
                    raise SubstitutionRefused("run %s recorded %r of stage %r without its values (%s); record "
                                              "it in full mode" % (self.plan["source"], chosen, self.stage,
                                                                   leaf.note or "stats mode"))
                return leaf.load(), chosen, dict(leaf.meta)
        from ..codecs import UndecodableValue, decode_values

        try:
            value = decode_values(group)[chosen]
        except UndecodableValue as exc:
            raise SubstitutionRefused(str(exc)) from None
        return value, chosen, dict(group[0].meta) if len(group) == 1 else {}

    def _write_note(self, note):
        try:
            os.makedirs(os.path.dirname(self.notes_path), exist_ok=True)
            with open(self.notes_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(note, default=str) + "\n")
        except OSError as exc:
            print("bmtrace: cannot note a substitution in %s: %s" % (self.notes_path, exc), file=sys.stderr)


def _group_by_root(leaves):
    from ..codecs import _root_name

    groups = {}
    for leaf in leaves:
        root = leaf.name if not leaf.path else _root_name(leaf.name)
        groups.setdefault(root, []).append(leaf)
    return groups


# -- conversion to the receiving side ------------------------------------------------------------------
def convert(source, source_meta, own):
    """``(value for this program, what was done)``; SubstitutionRefused when the form is ambiguous."""
    kind = _kind(own)
    if kind == "sail":
        raise SubstitutionRefused("the program's value is a sail %s, which cannot be built from recorded data "
                                  "off the device; substitute at the stage before or after it, where the "
                                  "value is a numpy array" % type(own).__name__)
    if kind in ("numpy", "torch", "pil"):
        array = _as_array(source)
        if array is None:
            raise SubstitutionRefused("the recorded value is a %s, the program's a %s array"
                                      % (type(source).__name__, kind))
        steps = []
        target = _own_array(own, kind)
        array = _fit_shape(array, target.shape, source_meta, steps)
        if array.dtype != target.dtype:
            array = _cast(array, target.dtype, steps)
        return _to_kind(array, own, kind, steps), "; ".join(steps) or "as recorded"
    if own is None or isinstance(own, (bool, int, float, str, bytes, dict, list, tuple)):
        if isinstance(source, np.ndarray) and source.ndim == 0 and isinstance(own, (int, float, bool)):
            return type(own)(source.item()), "0-d array to %s" % type(own).__name__
        if type(source) is not type(own):
            raise SubstitutionRefused("the recorded value is a %s, the program's a %s; not converted"
                                      % (type(source).__name__, type(own).__name__))
        return source, "as recorded"
    raise SubstitutionRefused("the program's value is a %s, which bmtrace cannot build from a record"
                              % type(own).__name__)


def _kind(value):
    if isinstance(value, np.ndarray):
        return "numpy"
    module = type(value).__module__ or ""
    torch = sys.modules.get("torch")
    if torch is not None and module.startswith("torch") and isinstance(value, torch.Tensor):
        return "torch"
    image = sys.modules.get("PIL.Image")
    if image is not None and module.startswith("PIL") and isinstance(value, image.Image):
        return "pil"
    from ..codecs.sail_values import is_sail_object

    if is_sail_object(value):
        return "sail"
    return None


def _as_array(value):
    if isinstance(value, np.ndarray):
        return value
    kind = _kind(value)
    if kind == "torch":
        return value.detach().cpu().numpy()
    if kind == "pil":
        return np.asarray(value)
    return None


def _own_array(own, kind):
    if kind == "numpy":
        return own
    if kind == "torch":
        return np.empty(tuple(own.shape), dtype=_torch_numpy_dtype(own))
    return np.asarray(own)


def _torch_numpy_dtype(tensor):
    torch = sys.modules["torch"]
    if tensor.dtype == torch.bfloat16:
        return np.dtype(np.float32)
    return torch.empty((), dtype=tensor.dtype).numpy().dtype


_LAYOUT_AXES = {("HWC", "CHW"): (2, 0, 1), ("CHW", "HWC"): (1, 2, 0),
                ("NHWC", "NCHW"): (0, 3, 1, 2), ("NCHW", "NHWC"): (0, 2, 3, 1)}


def _fit_shape(array, shape, meta, steps):
    """``array`` reshaped to ``shape`` when only a batch dim of 1 or a declared HWC/CHW layout differs."""
    shape = tuple(shape)
    if array.shape == shape:
        return array
    if array.ndim == len(shape) + 1 and array.shape[0] == 1 and array.shape[1:] == shape:
        steps.append("batch dim of 1 removed")
        return array[0]
    if len(shape) == array.ndim + 1 and shape[0] == 1 and shape[1:] == array.shape:
        steps.append("batch dim of 1 added")
        return array[np.newaxis]
    layout = (meta or {}).get("layout")
    for (src, dst), axes in _LAYOUT_AXES.items():
        if src == layout and len(axes) == array.ndim and tuple(array.shape[a] for a in axes) == shape:
            steps.append("%s to %s" % (src, dst))
            return np.ascontiguousarray(array.transpose(axes))
    raise SubstitutionRefused("the recorded value has shape %s, the program's %s; a conversion between them is "
                              "not unambiguous" % (list(array.shape), list(shape)))


def _cast(array, dtype, steps):
    if np.issubdtype(dtype, np.integer) and not np.issubdtype(array.dtype, np.integer):
        info = np.iinfo(dtype)
        steps.append("%s rounded and clipped to %s" % (array.dtype, dtype))
        return np.clip(np.rint(array), info.min, info.max).astype(dtype)
    steps.append("%s to %s" % (array.dtype, dtype))
    return array.astype(dtype)


def _to_kind(array, own, kind, steps):
    if kind == "numpy":
        return np.array(array, copy=True)
    if kind == "torch":
        torch = sys.modules["torch"]
        tensor = torch.from_numpy(np.array(array, copy=True)).to(dtype=own.dtype, device=own.device)
        steps.append("numpy to torch tensor (%s, %s)" % (own.dtype, own.device))
        return tensor
    image = sys.modules["PIL.Image"]
    steps.append("array to PIL image (mode %s)" % own.mode)
    return image.fromarray(np.ascontiguousarray(array), mode=own.mode)


# -- reading the notes back ----------------------------------------------------------------------------
def read_notes(run_path):
    """Every substitution note written into run ``run_path``, in file order."""
    folder = os.path.join(run_path, NOTES_DIR)
    notes = []
    if not os.path.isdir(folder):
        return notes
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            for line in f:
                try:
                    notes.append(json.loads(line))
                except ValueError:
                    continue
    return notes


def summarize_notes(notes):
    """One line per outcome: "substituted 5 value(s) (as recorded: 3; batch dim of 1 added: 2)"."""
    done = [n for n in notes if n.get("substituted")]
    refused = [n for n in notes if not n.get("substituted")]
    lines = []
    if done:
        kinds = {}
        for n in done:
            kinds[n.get("conversion")] = kinds.get(n.get("conversion"), 0) + 1
        lines.append("substituted %d value(s) (%s)" % (len(done), "; ".join(
            "%s: %d" % (k, v) for k, v in sorted(kinds.items()))))
    reasons = {}
    for n in refused:
        reasons.setdefault(n.get("reason"), []).append(n)
    for reason, items in reasons.items():
        lines.append("refused %d value(s): %s" % (len(items), reason))
    return lines
