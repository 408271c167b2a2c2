"""Tolerance rules: defaults by dtype, overrides per stage and per ``stage.tensor``.

Defaults follow the vendor's rules (SOPHON.md, "Thresholds"): integer tensors must be equal, float
tensors are aligned when the max abs diff is <= 1e-3, and a pair whose cosine is >= 0.99 but is not
within tolerance is SIMILAR (reported, not aligned).

Global ``atol``/``rtol`` change the float default only; a stage or tensor override applies to every
dtype in that stage, because it is aimed at a specific stage (e.g. ``resize=1`` allows one LSB on a
uint8 image). Fields an override leaves out are inherited from the dtype default.
"""
from __future__ import annotations

import json

from ..errors import UsageError

DEFAULT_FLOAT_ATOL = 1e-3
DEFAULT_RTOL = 0.0
DEFAULT_COSINE = 0.99

_FIELDS = ("atol", "rtol", "cosine")


class Tolerance:
    """A resolved tolerance: ``|a - b| <= atol + rtol * |a|`` everywhere, SIMILAR at ``cosine``.

    Immutable: ``ToleranceRules.resolve`` hands the same instance to every result it resolves for.
    """

    __slots__ = ("atol", "rtol", "cosine")

    def __init__(self, atol=DEFAULT_FLOAT_ATOL, rtol=DEFAULT_RTOL, cosine=DEFAULT_COSINE):
        object.__setattr__(self, "atol", float(atol))
        object.__setattr__(self, "rtol", float(rtol))
        object.__setattr__(self, "cosine", float(cosine))

    def __setattr__(self, name, value):
        raise AttributeError("a Tolerance is immutable (results share it); make a new one")

    def __reduce__(self):  # copy and pickle through __init__, since attributes cannot be set
        return (Tolerance, (self.atol, self.rtol, self.cosine))

    def __eq__(self, other):
        return isinstance(other, Tolerance) and all(
            getattr(self, f) == getattr(other, f) for f in _FIELDS)

    def __repr__(self):
        return "Tolerance(atol=%g, rtol=%g, cosine=%g)" % (self.atol, self.rtol, self.cosine)

    def to_json(self):
        """Plain dict for reports."""
        return {"atol": self.atol, "rtol": self.rtol, "cosine": self.cosine}


def _check_number(value, what):
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UsageError("%s must be a number, got %r" % (what, value)) from None
    if number != number or number < 0:
        raise UsageError("%s must be a non-negative number, got %r" % (what, value))
    return number


def _partial(value, what):
    """Normalise an override value: a number (atol) or a dict with atol/rtol/cosine."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(_FIELDS))
        if unknown:
            raise UsageError("%s: unknown tolerance field(s) %s; use atol, rtol, cosine"
                             % (what, ", ".join(unknown)))
        return {k: _check_number(v, "%s.%s" % (what, k)) for k, v in value.items()}
    return {"atol": _check_number(value, what)}


class ToleranceRules:
    """Resolve the tolerance for one tensor of one stage.

    Only explicit settings are stored, so two rule sets merge field by field (CLI over config file).

    Example:
        >>> rules = ToleranceRules(atol=1e-4, overrides={"resize": 1, "infer.logits": {"rtol": 1e-3}})
        >>> rules.resolve("resize", "out", is_float=False).atol
        1.0
    """

    def __init__(self, atol=None, rtol=None, cosine=None, int_atol=None, overrides=None):
        self._resolved = {}  # (stage, tensor, is_float) -> Tolerance; emptied by every change of a setting
        self.float_settings = {}
        self.int_settings = {}
        for field, value in (("atol", atol), ("rtol", rtol), ("cosine", cosine)):
            if value is not None:
                self.float_settings[field] = _check_number(value, field)
        if cosine is not None:
            self.int_settings["cosine"] = self.float_settings["cosine"]
        if int_atol is not None:
            self.int_settings["atol"] = _check_number(int_atol, "int_atol")
        self.overrides = {}
        for key, value in (overrides or {}).items():
            self.set_override(key, value)

    def set_override(self, key, value):
        """Add or update the override for ``STAGE`` or ``STAGE.TENSOR`` (later fields win)."""
        if not isinstance(key, str) or not key:
            raise UsageError("tolerance keys are STAGE or STAGE.TENSOR, got %r" % (key,))
        self.overrides.setdefault(key, {}).update(_partial(value, "tolerance for %r" % key))
        self._resolved.clear()

    def merged(self, other):
        """New rules with ``other``'s explicit settings on top of this one's."""
        out = ToleranceRules()
        out.float_settings = dict(self.float_settings, **other.float_settings)
        out.int_settings = dict(self.int_settings, **other.int_settings)
        for source in (self, other):
            for key, value in source.overrides.items():
                out.overrides.setdefault(key, {}).update(value)
        return out

    def defaults(self, is_float):
        """The dtype default with explicit settings applied."""
        if is_float:
            fields = {"atol": DEFAULT_FLOAT_ATOL, "rtol": DEFAULT_RTOL, "cosine": DEFAULT_COSINE}
            fields.update(self.float_settings)
        else:
            fields = {"atol": 0.0, "rtol": 0.0, "cosine": DEFAULT_COSINE}
            fields.update(self.int_settings)
        return fields

    def __setattr__(self, name, value):
        # Settings are replaced whole (``merged``, ``from_json``) or changed by ``set_override``:
        # either way, resolutions made before no longer hold.
        if name != "_resolved":
            self._resolved.clear()
        object.__setattr__(self, name, value)

    def resolve(self, stage, tensor, is_float):
        """Tolerance for ``tensor`` in ``stage``: ``stage.tensor`` over ``stage`` over dtype default.

        A diff asks for the same few (stage, tensor, dtype class) triples once per sample, so each
        is resolved once (the settings must change through this class, not by editing its dicts).
        """
        key = (stage, tensor, bool(is_float))
        tol = self._resolved.get(key)
        if tol is None:
            fields = self.defaults(is_float)
            for name in (stage, "%s.%s" % (stage, tensor)):
                fields.update(self.overrides.get(name, {}))
            tol = self._resolved[key] = Tolerance(**fields)
        return tol

    def names_tensor(self, stage, tensor):
        """True when an override names exactly ``stage.tensor``."""
        return "%s.%s" % (stage, tensor) in self.overrides

    def to_json(self):
        """Plain dict for the JSON document (what was in force)."""
        return {"float": self.defaults(True), "integer": self.defaults(False),
                "overrides": {k: dict(v) for k, v in sorted(self.overrides.items())}}

    @classmethod
    def from_json(cls, doc):
        """Rules that resolve as the ones ``to_json`` described (defaults when ``doc`` is not a dict)."""
        out = cls()
        if not isinstance(doc, dict):
            return out
        for attr, key in (("float_settings", "float"), ("int_settings", "integer")):
            fields = doc.get(key)
            if isinstance(fields, dict):
                setattr(out, attr, {k: _check_number(v, "%s.%s" % (key, k)) for k, v in fields.items()
                                    if k in _FIELDS})
        for key, value in (doc.get("overrides") or {}).items():
            out.set_override(key, value)
        return out


def parse_tol_option(text):
    """Parse one ``--tol STAGE[.TENSOR]=ATOL`` into ``(key, atol)``."""
    key, sep, value = text.rpartition("=")
    if not sep or not key.strip():
        raise UsageError("--tol expects STAGE[.TENSOR]=ATOL (e.g. --tol resize=1 or "
                         "--tol infer.logits=1e-2), got %r" % text)
    return key.strip(), _check_number(value.strip(), "--tol %s" % key.strip())


def parse_map_option(text):
    """Parse one ``--map A_STAGE=B_STAGE`` into ``(a, b)``."""
    a, sep, b = text.partition("=")
    if not sep or not a.strip() or not b.strip():
        raise UsageError("--map expects A_STAGE=B_STAGE (stage name in run A, then in run B), "
                         "got %r" % text)
    return a.strip(), b.strip()


def _load_structured(path):
    """Read a JSON or TOML file into a dict."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise UsageError("cannot read %s: %s" % (path, exc.strerror or exc)) from None
    if path.lower().endswith(".toml"):
        try:
            import tomllib  # Python >= 3.11
        except ImportError:
            raise UsageError("%s is TOML, which needs Python >= 3.11 (tomllib); write the same "
                             "settings as JSON instead" % path) from None
        try:
            return tomllib.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise UsageError("%s is not valid TOML: %s" % (path, exc)) from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise UsageError("%s is not valid JSON: %s (TOML files must end in .toml)"
                         % (path, exc)) from None
    if not isinstance(data, dict):
        raise UsageError("%s must hold an object at the top level" % path)
    return data


CONFIG_KEYS = ("atol", "rtol", "cosine", "int_atol", "tolerances", "map")


def load_config(path):
    """Read a diff config file (JSON, or TOML ending in .toml).

    The file may hold ``atol``, ``rtol``, ``cosine``, ``int_atol`` (defaults), ``tolerances``
    (``{"STAGE" or "STAGE.TENSOR": atol or {"atol", "rtol", "cosine"}}``) and ``map``
    (``{"A_STAGE": "B_STAGE"}``).

    Returns:
        ``(rules, stage_map)``.

    Raises:
        UsageError: unreadable file, bad syntax, unknown keys or bad values.
    """
    data = _load_structured(path)
    unknown = sorted(set(data) - set(CONFIG_KEYS))
    if unknown:
        raise UsageError("%s: unknown key(s) %s; allowed: %s"
                         % (path, ", ".join(unknown), ", ".join(CONFIG_KEYS)))
    tolerances = data.get("tolerances", {})
    if not isinstance(tolerances, dict):
        raise UsageError("%s: 'tolerances' must map STAGE[.TENSOR] to a number or a table" % path)
    rules = ToleranceRules(atol=data.get("atol"), rtol=data.get("rtol"),
                           cosine=data.get("cosine"), int_atol=data.get("int_atol"),
                           overrides=tolerances)
    stage_map = _check_map(data.get("map", {}), path)
    return rules, stage_map


def _check_map(mapping, where):
    if not isinstance(mapping, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
        raise UsageError("%s: the stage map must map A stage names to B stage names (strings)"
                         % where)
    return dict(mapping)


def load_map_file(path):
    """Read a stage-mapping file: JSON/TOML ``{"A": "B"}`` or text lines ``A=B`` (# comments)."""
    lowered = path.lower()
    if lowered.endswith(".json") or lowered.endswith(".toml"):
        data = _load_structured(path)
        return _check_map(data["map"] if "map" in data else data, path)
    try:
        with open(path, "r", encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise UsageError("cannot read %s: %s" % (path, exc.strerror or exc)) from None
    mapping = {}
    for number, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            a, b = parse_map_option(line)
        except UsageError:
            raise UsageError("%s:%d: expected A_STAGE=B_STAGE, got %r"
                             % (path, number, line)) from None
        mapping[a] = b
    return mapping

