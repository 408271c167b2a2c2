"""Decide whether a stage's outputs are predictions, and normalise them.

``recognize(outputs, meta)`` takes a call's outputs as recorded (leaf name -> value) and returns
Detections, Classification or None. Declared meta wins over guessing: ``meta["kind"]`` is
"detections" or "classification", ``meta["box_format"]`` one of xyxy/xywh/cxcywh, ``meta["columns"]``
the column roles of a box array (e.g. ["batch", "x1", "y1", "x2", "y2", "class", "score"]) or, for the
compact form written by ``encode_predictions``, a dict role -> key. Every result says in ``how`` what
was recognised and what was guessed.
"""
from __future__ import annotations

import numpy as np

from ..errors import BmtraceError
from .tree import build_tree, call_meta, call_outputs
from .values import BOX_FORMATS, Classification, Detections, softmax, to_xyxy

BOX_KEYS = ("boxes", "bbox", "bboxes", "box", "dets", "detections", "xyxy")
SCORE_KEYS = ("scores", "score", "confidence", "confidences", "conf", "probs", "prob")
CLASS_KEYS = ("labels", "label", "category_id", "classes", "class", "class_id", "class_ids", "cls", "category")
GROUP_KEYS = ("image_id", "img_id", "file_name", "image", "batch_index", "batch")
TOP1_KEYS = ("res", "label", "class", "class_id", "cls", "pred", "top1", "category_id", "index")
ROLES = ("x1", "y1", "x2", "y2", "x", "y", "w", "h", "cx", "cy", "score", "obj", "class", "batch", "ignore")
GUESS_MIN_CLASSES = 10  # an undeclared (C,) / (1, C) float vector is called logits from this many classes
MAX_BOXES = 1000000


class PredictionFormatError(BmtraceError):
    """Outputs declared as predictions (meta kind) that cannot be read as such."""


def recognize_call(call):
    """Recognise the outputs of a reader Call (bmtrace.open_run(...).calls()[i]); see recognize()."""
    return recognize(call_outputs(call), call_meta(call))


def recognize(outputs, meta=None):
    """Detections, Classification or None for a call's outputs (mapping leaf name -> value).

    Raises PredictionFormatError when ``meta`` declares a kind the outputs do not fit.
    """
    meta = dict(meta or {})
    roots = build_tree(outputs)
    value = next(iter(roots.values())) if len(roots) == 1 else dict(roots)
    return recognize_value(value, meta)


def recognize_value(value, meta=None):
    """Like recognize(), for a live value (an array, a list of COCO dicts, a torchvision dict, ...)."""
    meta = dict(meta or {})
    kind = meta.get("kind")
    fmt = meta.get("box_format")
    if kind not in (None, "detections", "classification"):
        return None  # another declared kind (e.g. an image): not predictions
    if fmt is not None and fmt not in BOX_FORMATS:
        raise PredictionFormatError("meta box_format %r is not one of %s; declare e.g. "
                                    "meta={'box_format': 'xywh'}" % (fmt, ", ".join(BOX_FORMATS)))
    result = None
    if kind in (None, "detections"):
        result = _detections(value, meta, declared=kind == "detections")
    if result is None and kind in (None, "classification"):
        result = _classification(value, declared=kind == "classification")
    if result is None and kind is not None:
        raise PredictionFormatError(
            "outputs declared kind=%r cannot be read as %s (got %s); record boxes as an (n, 4..7) array, "
            "a dict with boxes/scores/labels, or a list of COCO dicts; classifications as (C,) or (1, C) "
            "scores or {'res': class, 'score': p}" % (kind, kind, _describe(value)))
    return result


# -- detections ----------------------------------------------------------------------------------------
def _detections(value, meta, declared):
    if isinstance(value, dict):
        return _from_columns(value, meta, declared)
    if isinstance(value, (list, tuple)):
        return _from_sequence(value, meta, declared)
    arr = _numeric_array(value)
    if arr is not None:
        return _from_array(arr, meta, declared)
    return None


def _from_columns(value, meta, declared):
    """A dict of columns: torchvision {boxes, scores, labels}, the compact COCO form, named outputs."""
    columns = meta.get("columns") if isinstance(meta.get("columns"), dict) else {}
    box_key = columns.get("boxes") or _first_key(value, BOX_KEYS)
    if box_key is None or box_key not in value:
        return None
    boxes = _numeric_array(value[box_key])
    if boxes is None:
        return None
    if boxes.size == 0:
        boxes = boxes.reshape(0, 4)
    if boxes.ndim == 1 and boxes.shape[0] == 4:
        return None  # one COCO record's bbox, handled by the record reader
    if boxes.ndim != 2 or boxes.shape[1] < 4:
        return None
    n = len(boxes)
    found = {}
    for role, keys in (("scores", SCORE_KEYS), ("classes", CLASS_KEYS), ("groups", GROUP_KEYS)):
        key = columns.get(role) or _first_key(value, keys, exclude=(box_key,))
        if key is not None and key in value:
            column = np.asarray(value[key])
            if column.ndim == 1 and len(column) == n or (n == 0 and column.size == 0):
                found[role] = (key, column.reshape(-1))
    if boxes.shape[1] > 4:  # e.g. {"dets": (n, 6)}: the array carries its own scores and classes
        return _from_array(boxes, meta, declared)
    fmt, guessed = _box_format(meta, box_key, boxes)
    if not declared and not found and box_key not in ("boxes", "bbox", "bboxes"):
        return None
    source = " (%s)" % ("COCO convention" if fmt == "xywh" else "torchvision convention") \
        if meta.get("box_format_source") == "convention" else " (guessed)" if guessed else ""
    parts = ["%s (%d, 4) %s%s" % (_q(box_key), n, fmt, source)]
    parts += ["%s %s" % (role[:-1] if role != "classes" else "class", _q(key)) for role, (key, _) in found.items()]
    return Detections(to_xyxy(boxes, fmt), _col(found, "scores"), _col(found, "classes"), _col(found, "groups"),
                      found["groups"][0] if "groups" in found else None, fmt,
                      "columns: " + ", ".join(parts))


def _from_sequence(value, meta, declared):
    if not value:
        if declared:
            return Detections(np.zeros((0, 4)), box_format=meta.get("box_format") or "xyxy",
                              how="empty list: no detections")
        return None
    if all(isinstance(item, dict) for item in value):
        if all(_first_key(item, BOX_KEYS) in ("bbox", "box") and _is_box(item.get(_first_key(item, BOX_KEYS)))
               for item in value):
            return _from_records(value, meta)
        parts = [_from_columns(item, meta, declared) for item in value]
        if all(part is not None for part in parts):
            return _concat(parts, "per-image list of %d dicts (%s)" % (len(parts), parts[0].how))
        return None
    arrays = [_numeric_array(item) for item in value]
    if all(a is not None for a in arrays):
        if _is_column_tuple(arrays):
            n = len(arrays[0])
            rest = arrays[1:]
            scores = next((a for a in rest if a.dtype.kind == "f" and (n == 0 or _in_unit(a))), None)
            classes = next((a for a in rest if a is not scores and _integral(a)), None)
            fmt, guessed = _box_format(meta, None, arrays[0])
            how = "tuple (boxes (%d, 4) %s%s%s%s)" % (n, fmt, " guessed" if guessed else "",
                                                      ", scores" if scores is not None else "",
                                                      ", classes" if classes is not None else "")
            return Detections(to_xyxy(arrays[0], fmt), scores, classes, box_format=fmt, how=how)
        if all(a.ndim == 2 and 4 <= a.shape[1] <= 7 for a in arrays if a.size) and len(arrays) > 1:
            parts = [_from_array(a, meta, declared) for a in arrays]
            if all(part is not None for part in parts):
                return _concat(parts, "per-image list of %d arrays (%s)" % (len(parts), parts[0].how))
    return None


def _from_records(records, meta):
    """A COCO-style list of {"bbox", "score", "category_id", "image_id"} dicts (bbox xywh unless declared)."""
    fmt = meta.get("box_format")
    guessed = fmt is None
    fmt = fmt or "xywh"
    boxes = np.asarray([np.asarray(r.get("bbox", r.get("box")), dtype=np.float64).reshape(4) for r in records])
    found = {}
    for role, keys in (("scores", SCORE_KEYS), ("classes", CLASS_KEYS), ("groups", GROUP_KEYS)):
        key = _first_key(records[0], keys)
        if key is not None and all(key in r for r in records):
            found[role] = (key, np.asarray([_plain(r[key]) for r in records]))
    how = "list of %d COCO dicts: bbox %s%s" % (len(records), fmt, " (COCO convention, guessed)" if guessed else "")
    how += "".join(", %s" % _q(key) for key, _ in found.values())
    if "groups" in found:
        how += " joins records"
    return Detections(to_xyxy(boxes, fmt), _col(found, "scores"), _col(found, "classes"), _col(found, "groups"),
                      found["groups"][0] if "groups" in found else None, fmt, how)


def _from_array(arr, meta, declared):
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.size == 0 and declared:
        arr = arr.reshape(0, arr.shape[-1] if arr.ndim == 2 and arr.shape[-1] >= 4 else 4)
    if arr.ndim != 2 or not 4 <= arr.shape[1] <= 7 or len(arr) > MAX_BOXES:
        return None
    if not declared and not _looks_like_box_array(arr):
        return None
    roles = meta.get("columns") if isinstance(meta.get("columns"), (list, tuple)) else None
    guessed = roles is None
    if roles is None:
        roles = _guess_roles(arr)
    if len(roles) != arr.shape[1] or any(role not in ROLES for role in roles):
        raise PredictionFormatError("meta columns %r do not describe a (n, %d) box array; use %d of %s"
                                    % (list(roles), arr.shape[1], arr.shape[1], ", ".join(ROLES)))
    col = {role: arr[:, i].astype(np.float64) for i, role in enumerate(roles)}
    fmt = meta.get("box_format") or _format_of_roles(roles)
    if fmt == "xyxy":
        coords = [col.get("x1", col.get("x")), col.get("y1", col.get("y")), col.get("x2"), col.get("y2")]
    elif fmt == "xywh":
        coords = [col.get("x", col.get("x1")), col.get("y", col.get("y1")), col.get("w", col.get("x2")),
                  col.get("h", col.get("y2"))]
    else:
        coords = [col.get("cx", col.get("x1")), col.get("cy", col.get("y1")), col.get("w", col.get("x2")),
                  col.get("h", col.get("y2"))]
    if any(c is None for c in coords):
        raise PredictionFormatError("meta columns %r name no complete %s box" % (list(roles), fmt))
    boxes = np.stack(coords, axis=1)
    format_guessed = guessed and meta.get("box_format") is None and "x1" in roles
    if format_guessed and len(boxes) and (np.any(boxes[:, 2] < boxes[:, 0]) or np.any(boxes[:, 3] < boxes[:, 1])):
        fmt = "xywh"  # x2 < x1 somewhere: the last two columns are sizes (cv2.dnn.NMSBoxes style)
    scores = col.get("score")
    if "obj" in col:
        scores = col["obj"] if scores is None else col["obj"] * scores
    groups = col.get("batch")
    names = ", ".join(roles)
    if fmt != _format_of_roles(roles):
        names += " (boxes as %s)" % fmt
    how = "(%d,%d) array: %s%s" % (arr.shape[0], arr.shape[1], names,
                                   " (guessed from shape)" if guessed else " (declared)")
    if "obj" in col and "score" in col:
        how += "; score = obj x class score"
    return Detections(to_xyxy(boxes, fmt), scores, col.get("class"),
                      None if groups is None else groups.astype(np.int64), "batch index" if groups is not None else None,
                      fmt, how)


def _guess_roles(arr):
    """Column roles of an undeclared (n, 4..7) box array."""
    width = arr.shape[1]
    xyxy = ["x1", "y1", "x2", "y2"]
    if width == 4:
        return xyxy
    if width == 5:
        return xyxy + (["class"] if _integral(arr[:, 4]) and arr[:, 4].max(initial=0) > 1 else ["score"])
    if width == 6:
        return xyxy + _score_class(arr[:, 4], arr[:, 5])
    # (n, 7): a batch index first (batched NMS exports), else x1y1x2y2, obj, class score, class
    if _integral(arr[:, 0]) and arr[:, 0].min(initial=0) >= 0 and not _integral(arr[:, 1:5]):
        return ["batch"] + xyxy + _score_class(arr[:, 5], arr[:, 6])
    if _integral(arr[:, 6]):
        return xyxy + ["obj", "score", "class"]
    return ["batch"] + xyxy + _score_class(arr[:, 5], arr[:, 6])


def _score_class(a, b):
    """Which of two columns is the score and which the class: the integral one is the class."""
    if _integral(a) and not _integral(b) and _in_unit(b):
        return ["class", "score"]
    return ["score", "class"]


def _format_of_roles(roles):
    if "cx" in roles:
        return "cxcywh"
    if "w" in roles:
        return "xywh"
    return "xyxy"


def _box_format(meta, key, boxes):
    """(format, guessed) of an (n, 4) box column ``key``: declared, else read from the values (any
    x2 < x1 or y2 < y1 means the last two columns are sizes)."""
    if meta.get("box_format"):
        return meta["box_format"], False
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if len(boxes) and (np.any(boxes[:, 2] < boxes[:, 0]) or np.any(boxes[:, 3] < boxes[:, 1])):
        return "xywh", True
    return "xyxy", True


def _looks_like_box_array(arr):
    """An undeclared array is taken as boxes only if it is numeric, finite and has non-negative sizes."""
    if arr.dtype.kind not in "iuf" or not np.all(np.isfinite(arr)):
        return False
    if len(arr) == 0:
        return False
    start = 1 if arr.shape[1] == 7 and _integral(arr[:, 0]) and not _integral(arr[:, 1:5]) else 0
    b = arr[:, start:start + 4].astype(np.float64)
    xyxy_ok = np.all(b[:, 2] >= b[:, 0]) and np.all(b[:, 3] >= b[:, 1])
    xywh_ok = np.all(b[:, 2:] >= 0)
    return bool(xyxy_ok or xywh_ok) and b.min() > -0.5 * max(b.max(), 1.0)


# -- classification ------------------------------------------------------------------------------------
def _classification(value, declared):
    if isinstance(value, dict):
        label_key = _first_key(value, TOP1_KEYS)
        score_key = _first_key(value, SCORE_KEYS)
        if label_key is not None and score_key is not None:
            label, score = _plain(value[label_key]), _plain(value[score_key])
            if _is_int(label) and isinstance(score, float):
                return Classification(label=label, score=score,
                                      how="top-1 result {%s: class, %s: score}" % (_q(label_key), _q(score_key)))
        for key in ("logits", "probs", "scores", "output", "out"):
            if key in value:
                return _classification(value[key], declared)
        return None
    if isinstance(value, (list, tuple)) and len(value) == 2:
        label, score = _plain(value[0]), _plain(value[1])
        if _is_int(label) and isinstance(score, float):
            return Classification(label=label, score=score, how="(class, score) pair")
        return None
    arr = _numeric_array(value)
    if arr is None or arr.dtype.kind != "f" and not declared:
        return None
    if arr.ndim == 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 1 or arr.shape[0] < 2 or not np.all(np.isfinite(arr)):
        return None
    if not declared and arr.shape[0] < GUESS_MIN_CLASSES:
        return None
    arr = arr.astype(np.float64)
    is_probs = arr.min() >= 0 and abs(arr.sum() - 1.0) < 1e-3
    what = "probabilities" if is_probs else "logits (softmax applied)"
    how = "(%d,) %s%s" % (arr.shape[0], what, "" if declared else " (guessed from shape)")
    return Classification(probs=arr if is_probs else softmax(arr), softmax_applied=not is_probs, how=how)


# -- helpers -------------------------------------------------------------------------------------------
def _concat(parts, how):
    """One Detections from per-image parts, grouped by list index unless the parts carry their own keys."""
    boxes = np.concatenate([p.boxes for p in parts])
    pick = lambda name: (np.concatenate([getattr(p, name) for p in parts])
                         if all(getattr(p, name) is not None for p in parts) else None)
    groups, key = pick("groups"), parts[0].group_key
    if groups is None or key == "batch index":
        groups = np.concatenate([np.full(len(p), i, dtype=np.int64) for i, p in enumerate(parts)])
        key = "image index"
    return Detections(boxes, pick("scores"), pick("classes"), groups, key, parts[0].box_format, how)


def _first_key(mapping, candidates, exclude=()):
    keys = {str(k).lower(): k for k in mapping if k not in exclude}
    for candidate in candidates:
        if candidate in keys:
            return keys[candidate]
    return None


def _numeric_array(value):
    if isinstance(value, (dict, str, bytes)) or value is None:
        return None
    try:
        arr = np.asarray(value)
    except Exception:
        return None
    return arr if arr.dtype.kind in "biuf" and arr.ndim >= 1 else None


def _is_box(value):
    arr = _numeric_array(value)
    return arr is not None and arr.size == 4


def _is_column_tuple(arrays):
    first = arrays[0]
    if not 2 <= len(arrays) <= 4 or first.ndim != 2 or first.shape[1] != 4:
        return False
    return all(a.ndim == 1 and len(a) == len(first) for a in arrays[1:])


def _integral(a):
    a = np.asarray(a)
    if a.dtype.kind in "iub":
        return True
    return a.dtype.kind == "f" and bool(np.all(np.isfinite(a))) and bool(np.all(a == np.round(a)))


def _in_unit(a):
    a = np.asarray(a, dtype=np.float64)
    return a.size == 0 or (a.min() >= 0 and a.max() <= 1)


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _plain(value):
    """A numpy scalar or 0-d array as the Python value it holds."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _col(found, role):
    return found[role][1] if role in found else None


def _q(key):
    return "'%s'" % key


def _describe(value):
    arr = _numeric_array(value)
    if arr is not None:
        return "a %s array of shape %s" % (arr.dtype, arr.shape)
    if isinstance(value, dict):
        return "a dict with keys %s" % ", ".join(map(str, list(value)[:8]))
    if isinstance(value, (list, tuple)):
        return "a %s of %d items" % (type(value).__name__, len(value))
    return type(value).__name__
