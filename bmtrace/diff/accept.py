"""Accepted differences: record what two runs differ by today, and judge later diffs only on what goes beyond.

``bmtrace diff A B --accept-current FILE`` writes one entry per stage and tensor that is not aligned
(worst status, largest max abs diff, lowest cosine over all samples and calls). ``--accepted FILE``
then turns every tensor whose difference stays within its entry (plus a small margin) into the
passing status ``accepted``; anything beyond keeps its status and fails as before. Downstream stages
carry their own entries, so they are judged on what they add beyond the accepted figures.

File format (JSON, ``format: "bmtrace-accepted"``)::

    {"format": "bmtrace-accepted", "format_version": 1,
     "runs": {"run_a": "...", "run_b": "..."},
     "margin": {"relative": 0.05, "absolute": 1e-06, "cosine": 0.0001},
     "accepted": [{"stage": "resize", "role": "output", "tensor": "out", "status": "diverged",
                   "max_abs_diff": 1.0, "cosine": 0.9999, "lower_bound": false,
                   "nonfinite_mismatch": null, "shape_a": null, "shape_b": null,
                   "mapping": null, "calls": 3, "note": "..."}]}

``tensor: null`` accepts a whole stage: with status ``only_in_a``/``only_in_b``/``error`` a call missing
on one side or raising in one program only, with another status any tensor of the stage (within the
figures when given). An entry without ``max_abs_diff`` accepts its status, whatever the figures.
"""
from __future__ import annotations

import json
import os

from ..compare import status as vocabulary
from ..compare.status import Status
from .._jsonfile import read_json_file
from ..errors import UsageError

FORMAT = "bmtrace-accepted"
FORMAT_VERSION = 1
DEFAULT_MARGIN = {"relative": 0.05, "absolute": 1e-6, "cosine": 1e-4}
_CALL_STATUSES = (Status.ONLY_IN_A, Status.ONLY_IN_B, Status.ERROR)


def _key(stage, role, tensor):
    return (stage, role, tensor)


def _mapping_for(result, entry, tensor):
    """A representation mapping found for this tensor (on the comparison or in an explain hint), if any."""
    found = getattr(tensor, "mapping", None)
    if found:
        return found
    for hint in result.hints:
        if hint.get("stage") == entry.stage and hint.get("tensor") == tensor.name and hint.get("mapping"):
            return hint["mapping"]
    return None


def _merge(item, tensor):
    """Fold one more observation of a tensor into its accepted entry (worst figures win)."""
    if vocabulary.rank(tensor.status) < vocabulary.rank(item["status"]):
        item["status"] = tensor.status
    for key, pick in (("max_abs_diff", max), ("cosine", min), ("nonfinite_mismatch", max)):
        value = getattr(tensor, key)
        if value is not None:
            item[key] = value if item[key] is None else pick(item[key], value)
    item["lower_bound"] = item["lower_bound"] or tensor.is_lower_bound()
    item["calls"] += 1


def current_differences(result):
    """The accepted-differences document for everything ``result`` does not align."""
    items = {}
    for entry in result.stages:
        if entry.passed:
            continue
        if entry.status in _CALL_STATUSES:
            key = _key(entry.stage, None, None)
            item = items.setdefault(key, {"stage": entry.stage, "role": None, "tensor": None,
                                          "status": entry.status, "calls": 0})
            item["calls"] += 1
            continue
        for tensor in entry.failing_tensors():
            key = _key(entry.stage, tensor.role, tensor.name)
            item = items.get(key)
            if item is None:
                shapes = tensor.status == Status.SHAPE_MISMATCH
                item = items[key] = {
                    "stage": entry.stage, "role": tensor.role, "tensor": tensor.name, "status": tensor.status,
                    "max_abs_diff": None, "cosine": None, "lower_bound": False, "nonfinite_mismatch": None,
                    "shape_a": list(tensor.shape_a) if shapes and tensor.shape_a is not None else None,
                    "shape_b": list(tensor.shape_b) if shapes and tensor.shape_b is not None else None,
                    "mapping": _mapping_for(result, entry, tensor), "calls": 0}
            _merge(item, tensor)
    return {"format": FORMAT, "format_version": FORMAT_VERSION,
            "runs": {"run_a": result.run_a, "run_b": result.run_b},
            "margin": dict(DEFAULT_MARGIN), "accepted": list(items.values())}


def write_accepted(result, path):
    """Write ``result``'s current differences as accepted to ``path``; returns the document."""
    from ..compare.results import sanitize

    doc = sanitize(current_differences(result))
    path = os.fspath(path)
    tmp = path + ".tmp%d" % os.getpid()
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2, allow_nan=False)
            fh.write("\n")
        os.replace(tmp, path)
    except OSError as exc:
        raise UsageError("cannot write the accepted differences to %s: %s" % (path, exc.strerror or exc)) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    doc["file"] = path
    return doc


def load_accepted(source):
    """An accepted-differences document from a path or a dict, checked.

    Raises:
        UsageError: unreadable file, not JSON, or not an accepted-differences document.
    """
    if isinstance(source, dict):
        doc = dict(source)
    else:
        path = os.fspath(source)
        doc = read_json_file(path, "--accepted", "write one with `bmtrace diff A B --accept-current %s`" % path)
        if isinstance(doc, dict):
            doc["file"] = path
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("accepted"), list):
        raise UsageError("%s is not an accepted-differences file (expected format %r with an 'accepted' list); "
                         "write one with `bmtrace diff A B --accept-current FILE`"
                         % (doc.get("file", "--accepted") if isinstance(doc, dict) else "--accepted", FORMAT))
    if not isinstance(doc.get("format_version"), int) or doc["format_version"] > FORMAT_VERSION:
        raise UsageError("accepted-differences format_version %r is newer than this bmtrace reads (%d); "
                         "upgrade bmtrace" % (doc.get("format_version"), FORMAT_VERSION))
    for i, item in enumerate(doc["accepted"]):
        if not isinstance(item, dict) or not isinstance(item.get("stage"), str) or not item.get("status"):
            raise UsageError("accepted[%d] needs at least 'stage' and 'status'" % i)
    return doc


def _margin(doc):
    margin = dict(DEFAULT_MARGIN)
    if isinstance(doc.get("margin"), dict):
        for key in margin:
            value = doc["margin"].get(key)
            if isinstance(value, (int, float)) and value >= 0:
                margin[key] = float(value)
    return margin


def within(tensor, item, margin):
    """True when ``tensor``'s difference does not go beyond the accepted ``item``."""
    if tensor.status != item["status"] and vocabulary.rank(tensor.status) < vocabulary.rank(item["status"]):
        return False  # worse in kind (e.g. similar accepted, now diverged)
    if tensor.status == Status.SHAPE_MISMATCH:
        return (list(tensor.shape_a or ()) == list(item.get("shape_a") or ())
                and list(tensor.shape_b or ()) == list(item.get("shape_b") or ()))
    if tensor.nonfinite_mismatch:
        allowed = item.get("nonfinite_mismatch")
        return allowed is not None and tensor.nonfinite_mismatch <= allowed
    bound = item.get("max_abs_diff")
    if bound is not None:
        if tensor.max_abs_diff is None or tensor.max_abs_diff > bound * (1 + margin["relative"]) + margin["absolute"]:
            return False
    elif tensor.status != item["status"]:
        return False
    floor = item.get("cosine")
    if floor is not None and tensor.cosine is not None and tensor.cosine < floor - margin["cosine"]:
        return False
    return True


def _lookup(table, entry, tensor):
    """The accepted entry for a tensor: its own, else a whole-stage entry (``tensor: null``) of a paired stage."""
    item = table.get(_key(entry.stage, tensor.role, tensor.name))
    if item is None:
        stage_item = table.get(_key(entry.stage, None, None))
        if stage_item is not None and stage_item["status"] not in _CALL_STATUSES:
            item = stage_item
    return item


def _accept_tensors(entry, table, margin, used, beyond, seen):
    names = []
    for tensor in entry.failing_tensors():
        if tensor.role == "input" and tensor.same_as in seen:
            # the same contents as an output accepted upstream: the difference it carries is that one
            tensor.notes.append("accepted: same contents as the accepted %s" % tensor.same_as)
            tensor.status = Status.ACCEPTED
            names.append(tensor.name)
            continue
        item = _lookup(table, entry, tensor)
        if item is None or not within(tensor, item, margin):
            beyond.append("%s.%s" % (entry.stage, tensor.name))
            continue
        bound = item.get("max_abs_diff")
        tensor.notes.append("accepted: %s%s" % (
            vocabulary.word(tensor.status),
            " within max abs diff %.4g" % bound if bound is not None else " (known difference)"))
        tensor.status = Status.ACCEPTED
        used.add("%s.%s" % (entry.stage, tensor.name) if item.get("tensor") is not None else entry.stage)
        seen.add("%s.%s" % (entry.stage, tensor.name))
        names.append(tensor.name)
    if names:
        entry.finish()
    return names


def apply_accepted(result, doc):
    """Mark differences within ``doc`` as ``accepted`` and record in the result what was accepted.

    A stage call that isolation (``--isolate``) found to only inherit its difference (``introduces`` is
    False) is accepted too when every earlier call of its sample passes and one of them was accepted:
    it adds nothing beyond the accepted difference upstream.
    """
    margin = _margin(doc)
    table = {_key(i["stage"], i.get("role"), i.get("tensor")): i for i in doc["accepted"]}
    used, beyond, seen = set(), [], set()
    upstream = {}   # sample -> (every earlier call passes, some earlier call was accepted)
    for entry in result.stages:
        clean, accepted_before = upstream.get(entry.sample, (True, False))
        names = []
        if entry.passed:
            pass
        elif entry.status in _CALL_STATUSES:
            item = table.get(_key(entry.stage, None, None))
            if item is not None and item["status"] == entry.status:
                entry.status = Status.ACCEPTED
                entry.notes.append("accepted: %s (known difference)" % vocabulary.word(item["status"]))
                used.add(entry.stage)
                names.append(None)
        else:
            failing_before = len(beyond)
            names = _accept_tensors(entry, table, margin, used, beyond, seen)
            if not entry.passed and entry.introduces is False and clean and accepted_before:
                del beyond[failing_before:]
                for tensor in entry.failing_tensors():
                    tensor.notes.append("accepted: only inherits an accepted difference upstream (isolation)")
                    tensor.status = Status.ACCEPTED
                    seen.add("%s.%s" % (entry.stage, tensor.name))
                    names.append(tensor.name)
                entry.finish()
        if names:
            entry.extra["accepted"] = names
        upstream[entry.sample] = (clean and entry.passed, accepted_before or entry.status == Status.ACCEPTED)
    result.accepted = {"file": doc.get("file"), "entries": len(doc["accepted"]), "used": sorted(used),
                       "beyond": sorted(set(beyond))}
    source = doc.get("file") or "accepted differences"
    if used:
        shown = sorted(used)
        result.warnings.append("accepted as known differences (%s): %s%s" % (
            source, ", ".join(shown[:10]), ", ..." if len(shown) > 10 else ""))
    if beyond:
        shown = sorted(set(beyond))
        result.warnings.append("differences beyond the accepted ones (%s): %s%s" % (
            source, ", ".join(shown[:10]), ", ..." if len(shown) > 10 else ""))
    return result
