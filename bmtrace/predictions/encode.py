"""Record prediction lists as a few columns instead of thousands of scalar leaves.

A COCO result list of 696 dicts flattens into ~4,000 leaves and runs past the codec's leaf cap;
as columns it is four arrays: bbox (n, 4), score (n,), category_id (n,), image_id (n,).
``decode_predictions`` rebuilds the original list (same keys, key order and Python types).

Runs on the recording path: standard library and numpy only, Python 3.8.
"""
import numpy as np

BOX_KEYS = ("bbox", "boxes", "box", "bboxes")
_CONVENTION = {"bbox": "xywh", "box": "xywh", "boxes": "xyxy", "bboxes": "xyxy"}
_ROLES = (("scores", ("score", "scores", "confidence", "conf")),
          ("classes", ("category_id", "labels", "label", "class", "class_id", "cls")),
          ("groups", ("image_id", "img_id", "file_name")))
MIN_RECORDS = 1


def encode_predictions(value):
    """``(columns, meta)`` for a list of COCO dicts or of torchvision detection dicts; None otherwise.

    columns: dict name -> np.ndarray. meta: {"kind": "detections", "box_format": ..., "box_format_source":
    "convention", "columns": {role: name}, "encoding": "records" | "per_image", ...}: everything
    decode_predictions needs to rebuild the value. None means "not predictions: flatten as usual".
    """
    if not isinstance(value, list) or len(value) < MIN_RECORDS or not all(isinstance(v, dict) for v in value):
        return None
    keys = list(value[0].keys())
    box_key = next((k for k in keys if k in BOX_KEYS), None)
    if box_key is None or any(list(v.keys()) != keys for v in value):
        return None
    try:
        first_box = np.asarray(value[0][box_key])
    except Exception:
        return None
    if first_box.ndim == 1 and first_box.shape[0] == 4:
        return _encode_records(value, keys, box_key)
    if first_box.ndim == 2 and first_box.shape[-1] == 4:
        return _encode_per_image(value, keys, box_key)
    return None


def _encode_records(records, keys, box_key):
    columns, types = {}, {}
    for key in keys:
        items = [r[key] for r in records]
        if key == box_key:
            array, kind, container = _box_column(items)
            if array is None:
                return None
            bbox_container = container
            flat = [v for item in items for v in item] if kind == "mixed" else None
        else:
            array, kind = _scalar_column(items)
            if array is None:
                return None
            flat = items if kind == "mixed" else None
        types[key] = kind
        columns[key] = array
        if flat is not None:
            mask_name = key + ".is_int"
            if mask_name in keys:
                return None
            columns[mask_name] = np.asarray([type(v) is int for v in flat], dtype=bool).reshape(array.shape)
    meta = _meta(keys, box_key, "records")
    meta.update({"keys": keys, "py_types": types, "bbox_container": bbox_container, "count": len(records)})
    return columns, meta


def _encode_per_image(images, keys, box_key):
    arrays = {key: [] for key in keys}
    counts = []
    source = None
    for image in images:
        n = None
        for key in keys:
            try:
                array = np.asarray(image[key])  # CPU torch tensors convert through __array__
            except Exception:
                return None
            if array.dtype.kind not in "biuf" or array.ndim < 1:
                return None
            if n is None:
                n = len(array)
            elif len(array) != n:
                return None
            arrays[key].append(array)
            source = source or _type_name(image[key])
        counts.append(n)
    columns = {}
    for key in keys:
        try:
            columns[key] = np.concatenate(arrays[key])
        except ValueError:
            return None
    if "image_index" in columns:
        return None
    columns["image_index"] = np.repeat(np.arange(len(images), dtype=np.int64), counts)
    meta = _meta(keys, box_key, "per_image")
    meta["columns"]["groups"] = "image_index"
    meta.update({"keys": keys, "counts": counts, "source_type": source})
    return columns, meta


def decode_predictions(columns, meta):
    """The list encode_predictions was given, rebuilt from its columns and meta (per-image: numpy arrays)."""
    keys = meta["keys"]
    if meta.get("encoding") == "per_image":
        out, start = [], 0
        for n in meta["counts"]:
            out.append(dict((key, np.asarray(columns[key][start:start + n])) for key in keys))
            start += n
        return out
    types = meta.get("py_types", {})
    container = {"list": list, "tuple": tuple}.get(meta.get("bbox_container"))
    box_key = meta["columns"]["boxes"]
    records = [dict() for _ in range(int(meta["count"]))]
    for key in keys:
        values = _python_values(np.asarray(columns[key]), types.get(key), columns.get(key + ".is_int"))
        for record, item in zip(records, values):
            if key == box_key and container is not None:
                item = container(item)
            elif key == box_key:
                item = np.asarray(item)
            record[key] = item
    return records


def _meta(keys, box_key, encoding):
    roles = {"boxes": box_key}
    for role, names in _ROLES:
        key = next((k for k in names if k in keys and k != box_key), None)
        if key is not None:
            roles[role] = key
    return {"kind": "detections", "box_format": _CONVENTION[box_key], "box_format_source": "convention",
            "columns": roles, "encoding": encoding}


def _box_column(items):
    """(n, 4) array, Python type of the numbers, container ("list"/"tuple"/"array"); None if not boxes."""
    first = items[0]
    container = "list" if isinstance(first, list) else "tuple" if isinstance(first, tuple) else "array"
    if container == "array" and not isinstance(first, np.ndarray):
        return None, None, None
    flat = []
    for item in items:
        if not isinstance(item, (list, tuple, np.ndarray)) or len(item) != 4:
            return None, None, None
        if container != "array" and type(item).__name__ != container:
            return None, None, None
        flat.extend(item.tolist() if isinstance(item, np.ndarray) else item)
    if container == "array":
        try:
            return np.stack(items).astype(items[0].dtype, copy=False).reshape(-1, 4), "numpy", container
        except ValueError:
            return None, None, None
    array, kind = _scalar_column(flat)
    if array is None or array.dtype.kind not in "iuf":
        return None, None, None
    return array.reshape(-1, 4), kind, container


def _scalar_column(items):
    """A 1-D array of Python or numpy scalars and the kind needed to rebuild them; (None, None) otherwise."""
    types = set(type(item) for item in items)
    if types <= {bool}:
        return np.asarray(items, dtype=bool), "bool"
    if types <= {int}:
        try:
            return np.asarray(items, dtype=np.int64), "int"
        except OverflowError:
            return None, None
    if types <= {float}:
        return np.asarray(items, dtype=np.float64), "float"
    if types <= {int, float}:  # e.g. max(0, x) left an int among floats: floats, plus which were ints
        return np.asarray(items, dtype=np.float64), "mixed"
    if types <= {str}:
        return np.asarray(items, dtype=str), "str"
    if len(types) == 1 and issubclass(next(iter(types)), np.generic):
        array = np.asarray(items)
        return (array, "numpy") if array.dtype.kind in "biuf" else (None, None)
    return None, None


def _python_values(array, kind, is_int=None):
    if kind == "mixed":
        flat_mask = np.asarray(is_int).reshape(-1).tolist()
        flat = [int(v) if ints else float(v) for v, ints in zip(array.reshape(-1).tolist(), flat_mask)]
        return flat if array.ndim == 1 else [flat[i:i + array.shape[1]] for i in range(0, len(flat), array.shape[1])]
    if kind in ("int", "float", "bool", "str"):
        return array.tolist()
    return list(array)


def _type_name(value):
    cls = type(value)
    return "%s.%s" % (cls.__module__, cls.__name__)
