"""Evidence: everything a diagnosis may look at, in one value with one shape for every diagnosis.

The diff builds one Evidence per diverged tensor pair (or per stage, for stage-level diagnoses);
each diagnosis reads what it needs and ignores the rest. Optional facts are None when the diff
does not know them, so a diagnosis must always cope with None.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from ._arrays import as_numeric


@dataclass
class Inherited:
    """Facts the diff already established upstream of this stage.

    Attributes:
        inputs_differ: True when this stage's inputs already differ between A and B (the stage
            may only be passing an upstream difference on), False when they are equal, None unknown.
        mapping: a bmtrace.compare.representation.Mapping carried from upstream (e.g. B is BGR),
            or None.
    """

    inputs_differ: Optional[bool] = None
    mapping: Any = None


@dataclass
class Evidence:
    """One diverged pair (or stage) and its context.

    Attributes:
        stage: stage name.
        tensor: tensor name (None for stage-level evidence).
        role: "output" or "input" (which side of the call the pair was recorded on).
        a, b: the pair as loaded (numpy arrays normally; None for stage-level evidence).
        inputs_a, inputs_b: name -> array of the call's inputs on each side (lazy mappings are
            fine: a value is only loaded when a diagnosis reads it), or None.
        outputs_a, outputs_b: name -> array of the call's outputs on each side, or None.
        meta_a, meta_b: per-tensor meta ({"color": "BGR", "layout": "HWC", "scale": "0..255"}).
        call_a, call_b: the record's `function` dict; for auto-traced stages it holds "op" and
            "params" (e.g. {"interpolation": "INTER_LINEAR", "antialias": True}).
        env_a, env_b: the run environment per side ({"versions": {"cv2": "4.9.0", ...}}).
        model_a, model_b: metadata of the model the side runs, when known: {"inputs": [{"name",
            "dtype", "scale", "shape"}], "preprocess": {"mean": [...], "scale": [...]}} (a bmodel's
            fused preprocessing and input scales).
        inherited: Inherited facts from the diff.
        deadline: time.perf_counter() value after which remaining diagnoses are skipped.
        cache: scratch space shared by the diagnoses of this evidence (one search, many readers).
    """

    stage: str
    tensor: Optional[str] = None
    role: str = "output"
    a: Any = None
    b: Any = None
    inputs_a: Optional[Mapping] = None
    inputs_b: Optional[Mapping] = None
    outputs_a: Optional[Mapping] = None
    outputs_b: Optional[Mapping] = None
    meta_a: dict = field(default_factory=dict)
    meta_b: dict = field(default_factory=dict)
    call_a: dict = field(default_factory=dict)
    call_b: dict = field(default_factory=dict)
    env_a: dict = field(default_factory=dict)
    env_b: dict = field(default_factory=dict)
    model_a: Optional[dict] = None
    model_b: Optional[dict] = None
    inherited: Inherited = field(default_factory=Inherited)
    deadline: Optional[float] = None
    cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        self.meta_a, self.meta_b = dict(self.meta_a or {}), dict(self.meta_b or {})
        self.call_a, self.call_b = dict(self.call_a or {}), dict(self.call_b or {})
        self.env_a, self.env_b = dict(self.env_a or {}), dict(self.env_b or {})
        if self.model_a is None and isinstance(self.meta_a.get("bmodel"), dict):
            self.model_a = self.meta_a["bmodel"]
        if self.model_b is None and isinstance(self.meta_b.get("bmodel"), dict):
            self.model_b = self.meta_b["bmodel"]
        if isinstance(self.inherited, dict):
            self.inherited = Inherited(**self.inherited)
        elif self.inherited is None:
            self.inherited = Inherited()

    @classmethod
    def with_budget(cls, budget_s, **fields):
        """An Evidence whose deadline is budget_s seconds from now."""
        return cls(deadline=time.perf_counter() + max(0.0, float(budget_s)), **fields)

    def out_of_time(self):
        """True when the deadline has passed."""
        return self.deadline is not None and time.perf_counter() > self.deadline

    @property
    def xa(self):
        """a as a real numeric ndarray, or None (strings, objects, empty)."""
        if "xa" not in self.cache:
            self.cache["xa"] = None if self.a is None else as_numeric(self.a)
        return self.cache["xa"]

    @property
    def xb(self):
        """b as a real numeric ndarray, or None."""
        if "xb" not in self.cache:
            self.cache["xb"] = None if self.b is None else as_numeric(self.b)
        return self.cache["xb"]

    def params(self, side):
        """The call's recorded op parameters on one side ("a" or "b"), {} when unknown."""
        call = self.call_a if side == "a" else self.call_b
        params = call.get("params") if isinstance(call, dict) else None
        return params if isinstance(params, dict) else {}

    def version_differences(self, libraries):
        """{library: (version A, version B)} for the given libraries whose versions differ."""
        va = self.env_a.get("versions") if isinstance(self.env_a.get("versions"), dict) else {}
        vb = self.env_b.get("versions") if isinstance(self.env_b.get("versions"), dict) else {}
        return {lib: (va.get(lib), vb.get(lib)) for lib in libraries
                if lib in va and lib in vb and va[lib] != vb[lib]}

    def op(self, side):
        """The call's recorded op name on one side, or None."""
        call = self.call_a if side == "a" else self.call_b
        op = call.get("op") if isinstance(call, dict) else None
        return op if isinstance(op, str) else None
