"""The diff's side of bmtrace.explain: hand diverged pairs to the diagnoses, collect their hints.

Each (stage, tensor) is explained at its first divergence only: the same cause repeated for every
sample would bury the table and cost a time budget per sample. A failing diagnosis becomes a warning
of the diff, never a crash.
"""
from __future__ import annotations

from ..compare import Status

# Tensor statuses worth asking the explain package about.
EXPLAINABLE = (Status.SIMILAR, Status.DIVERGED, Status.SHAPE_MISMATCH)


class LazyArrays(dict):
    """A stage's recorded tensors by name, each loaded from disk on first access."""

    def __init__(self, tensors):
        super().__init__()
        self._tensors = {t.name: t for t in tensors}

    def _get(self, name):
        if not dict.__contains__(self, name):
            t = self._tensors[name]
            value = t.load() if t.has_payload else t.value
            dict.__setitem__(self, name, value)
        return dict.__getitem__(self, name)

    def __getitem__(self, name):
        return self._get(name)

    def get(self, name, default=None):
        return self._get(name) if name in self._tensors else default

    def __contains__(self, name):
        return name in self._tensors

    def __iter__(self):
        return iter(self._tensors)

    def __len__(self):
        return len(self._tensors)

    def keys(self):
        return self._tensors.keys()

    def items(self):
        return [(name, self._get(name)) for name in self._tensors]

    def values(self):
        return [self._get(name) for name in self._tensors]


class Explainer:
    """Calls ``bmtrace.explain`` on diverged pairs; its failures become warnings, never crashes."""

    def __init__(self, budget_s, notes, env=({}, {})):
        self.budget_s = budget_s
        self.env = env  # each run's environment ({"versions": ...}), for diagnoses that compare libraries
        self.notes = notes
        self.hints = []
        self.done_tensors = set()
        self.done_stages = set()
        self._module = None

    @property
    def module(self):
        """``bmtrace.explain``, imported at the first divergence (None when unavailable)."""
        if self._module is None:
            try:
                from .. import explain as module
            except ImportError:
                module = False
            except Exception as exc:  # a broken explain package must not break the diff
                self.notes.append("explain: could not import bmtrace.explain (%s: %s); no hints"
                                  % (type(exc).__name__, exc))
                module = False
            self._module = module
        return self._module or None

    def explain_entry(self, entry, pair):
        """Add hints for the diverged tensors of one stage entry."""
        if self.module is None:
            return
        self._representation_consumed(entry)
        call_a, call_b = pair.call_a, pair.call_b
        # Tensors whose verdict was reused were explained where their contents were compared.
        targets = [t for t in entry.tensors if t.status in EXPLAINABLE and t.same_as is None
                   and (entry.stage, t.role, t.name) not in self.done_tensors]
        if not targets and entry.stage in self.done_stages:
            return
        inputs_a, inputs_b = LazyArrays(call_a.inputs), LazyArrays(call_b.inputs)
        outputs_a, outputs_b = LazyArrays(call_a.outputs), LazyArrays(call_b.outputs)
        for t in targets:
            self.done_tensors.add((entry.stage, t.role, t.name))
            ta = _find(call_a.inputs if t.role == "input" else call_a.outputs, t.name)
            tb = _find(call_b.inputs if t.role == "input" else call_b.outputs,
                       t.name_b if t.name_b is not None else t.name)
            if ta is None or tb is None or not (ta.has_payload and tb.has_payload):
                continue
            evidence = self.module.Evidence.with_budget(
                self.budget_s, stage=entry.stage, tensor=t.name, role=t.role, a=ta.load(), b=tb.load(),
                inputs_a=inputs_a, inputs_b=inputs_b, outputs_a=outputs_a, outputs_b=outputs_b,
                meta_a=dict(call_a.meta, **ta.meta), meta_b=dict(call_b.meta, **tb.meta),
                call_a=call_a.function, call_b=call_b.function, env_a=self.env[0], env_b=self.env[1],
                inherited=self._inherited(entry, t))
            self._run("explain", entry, t.name, lambda ev=evidence: self.module.explain(ev))
        if entry.stage not in self.done_stages:
            self.done_stages.add(entry.stage)
            evidence = self.module.Evidence.with_budget(
                self.budget_s, stage=entry.stage, inputs_a=inputs_a, inputs_b=inputs_b, outputs_a=outputs_a,
                outputs_b=outputs_b, call_a=call_a.function, call_b=call_b.function, env_a=self.env[0],
                env_b=self.env[1], inherited=self._inherited(entry, None))
            self._run("explain_stage", entry, None, lambda ev=evidence: self.module.explain_stage(ev))

    def _representation_consumed(self, entry):
        """A stage whose inputs are A's in another representation (B is BGR, CHW, x255) and whose outputs
        differ: the representation reached a step that is not indifferent to it. Said once per stage."""
        key = (entry.stage, "representation")
        if key in self.done_tensors:
            return
        represented = [t for t in entry.tensors if t.role == "input" and t.status == Status.REPRESENTED
                       and t.representation]
        if not represented:  # (the common case: nothing more to look at)
            return
        failing = [t for t in entry.tensors if t.role == "output" and t.status in EXPLAINABLE]
        if not failing or any(t.role == "input" and not t.passed and t.status not in (
                Status.ONLY_IN_A, Status.ONLY_IN_B) for t in entry.tensors):
            return
        self.done_tensors.add(key)
        tensor, mapping = represented[0], represented[0].representation
        causes = [c for c in ("channel_order", "layout", "value_scale") if _mapping_has(mapping, c)]
        advice = {"channel_order": "convert it to A's colour order first (cv2.cvtColor(x, cv2.COLOR_BGR2RGB) or "
                                   "x[..., ::-1])",
                  "layout": "transpose it to A's layout first (np.transpose, not reshape)",
                  "value_scale": "scale it as A does first"}
        self.hints.append({
            "sample": entry.sample, "stage": entry.stage, "tensor": tensor.name,
            "cause": causes[0] if causes else "layout", "confidence": 0.8, "residual": None,
            "message": "%s receives %s as A's values in another representation (%s) and its output differs: "
                       "unless %s is meant to take that representation, %s"
                       % (entry.stage, tensor.name, mapping.get("describe"), entry.stage,
                          advice.get(causes[0] if causes else "layout")),
            "details": {"representation": mapping, "input": tensor.name}})

    def _inherited(self, entry, tensor):
        """What the diff knows upstream of this pair: do the stage's inputs already differ, and in
        which representation does B hold what A holds."""
        inputs = [t for t in entry.tensors if t.role == "input" and t.status not in (Status.ONLY_IN_A,
                                                                                    Status.ONLY_IN_B)]
        differ = any(not t.passed for t in inputs) if inputs else None
        if tensor is not None and tensor.role == "input":
            differ = None  # an input is judged as the output of what came before
        return self.module.Inherited(inputs_differ=differ, mapping=getattr(entry, "carried_mapping", None))

    def _run(self, what, entry, tensor, call):
        try:
            hints = call() or []
            for hint in hints:
                doc = hint.to_json() if hasattr(hint, "to_json") else dict(hint)
                record = {"sample": entry.sample, "stage": entry.stage,
                          "tensor": tensor if tensor is not None else doc.get("tensor")}
                record.update({k: v for k, v in doc.items() if k not in record})
                self.hints.append(record)
        except Exception as exc:  # an explain bug must never cost the user their diff
            self.notes.append("explain: %s failed on stage %s%s (%s: %s); the diff itself is "
                              "unaffected" % (what, entry.stage, " tensor %s" % tensor if tensor else "",
                                              type(exc).__name__, exc))


def _find(tensors, name):
    for t in tensors:
        if t.name == name:
            return t
    return None


def _mapping_has(mapping, cause):
    if cause == "channel_order":
        return bool(mapping.get("channels_reversed"))
    if cause == "layout":
        return bool(mapping.get("perm")) or mapping.get("shape_a") != mapping.get("shape_b")
    return mapping.get("scale") not in (None, 1.0)
