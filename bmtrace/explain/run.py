"""The runner: apply a catalogue to one Evidence, honouring precedence, budget and inheritance."""
from __future__ import annotations

import logging

from . import catalogue
from ._arrays import as_numeric

log = logging.getLogger("bmtrace.explain")

# A hint is one line; anything longer moves to details["full_message"].
MAX_MESSAGE = 280
INHERITED_PREFIX = "inherited from upstream: "
# A hint of a stage whose inputs differ by more than a representation: the stage may only pass that on.
INPUTS_DIFFER_PREFIX = "its inputs already differ, so this may be inherited: "


def explain(ev):
    """Hints explaining why the tensor pair ev.a / ev.b differs, best first (list of Hint)."""
    if ev.a is None or ev.b is None:
        return []
    mapping = ev.inherited.mapping
    if mapping is not None and ev.xa is not None and ev.xb is not None and _explained_by(mapping, ev):
        return []  # only the representation carried from upstream: nothing introduced here
    if _declared_representation(ev):
        return []  # both sides said how they hold the data, and that is all that differs
    hints = _run(catalogue.PAIR, ev)
    if mapping is not None and ev.role != "input" and "channel_order" in mapping.causes():
        # B's colour order came from upstream (B's resize of a BGR image is BGR), whatever else this stage
        # changed. (Only a channel reversal: it undoes itself, so a reversal found here is the carried
        # one; a scale or layout found here may be the stage's own, a /255 under a carried x255 say.)
        for hint in hints:
            if hint.cause == "channel_order":
                _mark(hint, "inherited", INHERITED_PREFIX)
    return hints


def explain_stage(ev):
    """Hints about a stage's outputs as a whole (ev.outputs_a / ev.outputs_b), best first."""
    if not ev.outputs_a or not ev.outputs_b:
        return []
    return _run(catalogue.STAGE, ev)


def _explained_by(mapping, ev):
    try:
        return bool(mapping.explains(ev.xa, ev.xb))
    except Exception:  # a mapping that does not fit these shapes explains nothing
        return False


def _declared(meta_a, meta_b, key):
    x, y = meta_a.get(key), meta_b.get(key)
    return x is not None and y is not None and str(x).upper() != str(y).upper()


def _declared_representation(ev):
    """True when B is exactly A under a mapping whose every part both sides declared in meta."""
    declared = {cause for cause, key in (("channel_order", "color"), ("layout", "layout"),
                                         ("value_scale", "scale"))
                if _declared(ev.meta_a, ev.meta_b, key)}
    if not declared or ev.xa is None or ev.xb is None:
        return False
    from ..compare.representation import find_mapping
    mapping = find_mapping(ev.xa, ev.xb, ev.meta_a, ev.meta_b)
    return mapping is not None and set(mapping.causes()) <= declared


def _run(entries, ev):
    hints, found, skipped = [], set(), []
    for n, entry in enumerate(entries):
        if found & entry.unless:
            continue
        if n and not entry.always and ev.out_of_time():
            skipped.append(entry.name)
            continue
        try:
            new = list(entry.run(ev))
        except Exception:  # advice must never break the diff that asked for it
            log.warning("explain %s/%s: the %s diagnosis failed", ev.stage, ev.tensor, entry.name,
                        exc_info=True)
            continue
        new = _inheritance(entry, new, ev)
        for hint in new:
            _one_line(hint)
        hints.extend(new)
        found.update(h.cause for h in new)
        if new and entry.final:
            break
    if skipped:
        log.info("explain %s/%s: budget spent, skipped %s", ev.stage, ev.tensor, ", ".join(skipped))
    return hints


def _inheritance(entry, hints, ev):
    """Drop or mark hints of a stage that may only pass on a difference of its inputs."""
    if not hints or ev.inherited.inputs_differ is not True or entry.when_inputs_differ == "keep":
        return hints
    if entry.when_inputs_differ == "drop":
        return []
    mapping = input_mapping(ev)
    kept = []
    for hint in hints:
        if mapping is not None and hint.cause in mapping.causes():
            _mark(hint, "inherited", INHERITED_PREFIX)
        elif mapping is None and inputs_could_carry_it(ev):
            # The inputs differ, not by a representation, and by enough to account for the output's
            # difference: nothing here tells the stage's own work from what it received (a model fed a
            # resized image is not "scaling values by 1.006").
            _mark(hint, "inputs_differ", INPUTS_DIFFER_PREFIX)
        kept.append(hint)
    return kept


def _mark(hint, key, prefix):
    """Say on ``hint`` that its cause may come from upstream: ``details[key]``, the prefix, at most 50%."""
    hint.details[key] = True
    if not hint.message.startswith((INHERITED_PREFIX, INPUTS_DIFFER_PREFIX)):
        hint.message = prefix + hint.message
    hint.confidence = min(hint.confidence, 0.5)


# Inputs whose relative difference is under this fraction of the output's cannot account for it (measured:
# stages passing a difference on had 1.6-11x the output's; a port dividing by 256 instead of 255, fed a
# decode one level off on 5% of pixels, 0.1x).
CARRY_FRACTION = 0.3


def inputs_could_carry_it(ev):
    """False when the stage's inputs differ far less than its output (relative mean |A-B|: a stage whose
    inputs are one level apart on a few pixels makes its own normalisation error); True otherwise, and
    when that cannot be measured."""
    if "inputs_carry" in ev.cache:
        return ev.cache["inputs_carry"]
    out = _relative_difference(ev.xa, ev.xb)
    worst = None
    for ia, ib in _input_pairs(ev):
        found = _relative_difference(ia, ib)
        if found is not None and (worst is None or found > worst):
            worst = found
    carry = out is None or worst is None or worst >= CARRY_FRACTION * out
    ev.cache["inputs_carry"] = carry
    return carry


def _relative_difference(a, b):
    """mean |a - b| / mean |a| for two same-shaped numeric arrays with finite values, else None."""
    if a is None or b is None or getattr(a, "shape", None) != getattr(b, "shape", None) or not a.size:
        return None
    import numpy as np

    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        return None
    return float(np.mean(np.abs(x - y))) / (float(np.mean(np.abs(x))) or 1.0)


def _input_pairs(ev):
    """The stage's inputs present on both sides (by name), each pair as numeric arrays (None: not numeric);
    a value that cannot be read as numbers is left out."""
    for name in list(ev.inputs_a or {}):
        if name not in (ev.inputs_b or {}):
            continue
        try:
            yield as_numeric(ev.inputs_a[name]), as_numeric(ev.inputs_b[name])
        except Exception:
            continue


def input_mapping(ev):
    """The representation mapping between the stage's inputs (same names), or None."""
    if "input_mapping" in ev.cache:
        return ev.cache["input_mapping"]
    from ..compare.representation import find_mapping
    found = None
    for ia, ib in _input_pairs(ev):
        if ia is None or ib is None or ia.size < 16:
            continue
        found = find_mapping(ia, ib)
        if found is not None:
            break
    ev.cache["input_mapping"] = found
    return found


def _one_line(hint):
    text = " ".join(str(hint.message).split())
    if len(text) > MAX_MESSAGE:
        hint.details["full_message"] = text
        cut = text.rfind("; ", 0, MAX_MESSAGE - 4)
        text = (text[:cut] if cut > MAX_MESSAGE // 2 else text[:MAX_MESSAGE - 4].rstrip()) + " ..."
    hint.message = text



def deduplicate(records):
    """Merge hint records (dicts with sample, stage, tensor, cause, ...) seen in several samples.

    One record per (stage, tensor, cause), the first one seen, with "samples" (the samples it was
    seen in, in order) and "count" added; order of first appearance is kept.
    """
    merged, order = {}, []
    for record in records:
        key = (record.get("stage"), record.get("tensor"), record.get("cause"))
        if key not in merged:
            merged[key] = dict(record, samples=[], count=0)
            order.append(key)
        entry = merged[key]
        sample = record.get("sample")
        if sample not in entry["samples"]:
            entry["samples"].append(sample)
        entry["count"] = len(entry["samples"])
    return [merged[k] for k in order]
