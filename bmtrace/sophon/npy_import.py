"""Turn hand-saved ``.npy``/``.npz`` files (the vendor guide's manual method) into a run.

Sophgo's FP32 alignment guide has users ``np.save('img_resize_cv.npy', ...)`` after each operation of
the port. ``import_npy`` makes each such file the output of a named stage, so those files can be
diffed against a recorded run at once. Files mapped to the same stage (with different tensor names)
become one call of that stage.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from typing import Iterable, List, Optional, Tuple

import numpy as np

from ..errors import ImportDataError, UsageError


def parse_mapping(spec: str) -> Tuple[str, str, str]:
    """"FILE=STAGE" or "FILE=STAGE:NAME" -> (file, stage, tensor name; default "out")."""
    path, sep, target = spec.rpartition("=")
    if not sep or not path or not target:
        raise UsageError("expected FILE=STAGE (e.g. img_resize_cv.npy=resize), got %r" % spec)
    stage, _, name = target.partition(":")
    if not stage:
        raise UsageError("empty stage name in %r" % spec)
    return path, stage, name or "out"


def load_file(path: str, name: str) -> "OrderedDict[str, np.ndarray]":
    """{tensor name: array}: a .npy gives ``name``; a .npz gives ``name.key`` per array (or its keys
    when name is the default "out")."""
    try:
        with open(path, "rb") as fh:
            loaded = np.load(fh, allow_pickle=False)
            if isinstance(loaded, np.lib.npyio.NpzFile):
                with loaded:
                    items = [(k, loaded[k]) for k in loaded.files]
                if not items:
                    raise ImportDataError("%s holds no arrays" % path)
                return OrderedDict((k if name == "out" else "%s.%s" % (name, k), v) for k, v in items)
            return OrderedDict([(name, loaded)])
    except OSError as exc:
        raise ImportDataError("cannot read %s: %s" % (path, exc.strerror or exc)) from None
    except ValueError as exc:
        # allow_pickle=False refuses object arrays; other ValueErrors mean a damaged file.
        raise ImportDataError("%s is not a plain numpy array file (%s); save arrays with np.save"
                              % (path, exc)) from None


def import_npy(run_path, mappings: Iterable, *, side: Optional[str] = None, sample: Optional[str] = None):
    """Append hand-saved arrays to run ``run_path`` (created if missing), one call per stage.

    Args:
        mappings: "FILE=STAGE[:NAME]" strings or (file, stage[, name]) tuples, in stage order.
        side: side label when the run is created.
        sample: sample key for all the calls.
    Returns:
        list of (stage, [tensor names]) in the order recorded.

    Example::

        import_npy("runs/port", ["img_read_cv.npy=read", "img_resize_cv.npy=resize"], side="port",
                   sample="test.jpg")
    """
    import bmtrace

    stages = OrderedDict()
    for item in mappings:
        if isinstance(item, str):
            path, stage, name = parse_mapping(item)
        else:
            path, stage, name = (tuple(item) + ("out",))[:3]
        arrays = load_file(path, name)
        target = stages.setdefault(stage, OrderedDict())
        for key, value in arrays.items():
            if key in target:
                raise UsageError("stage %r gets tensor %r twice (from %s); name them: FILE=%s:NAME"
                                 % (stage, key, path, stage))
            target[key] = (value, os.path.abspath(path))
    if not stages:
        raise UsageError("give at least one FILE=STAGE mapping")
    run_path = os.fspath(run_path)
    exists = os.path.isfile(os.path.join(run_path, "run.json"))
    bmtrace.start(run_path, side=side, append=exists)
    recorded: List[Tuple[str, List[str]]] = []
    try:
        with bmtrace.sample(sample):
            for stage, tensors in stages.items():
                meta = {"source": "npy"}
                meta.update({key: {"source_file": src} for key, (_, src) in tensors.items()})
                with bmtrace.trace_stage(stage, meta=meta) as st:
                    st.output(**{key: value for key, (value, _) in tensors.items()})
                recorded.append((stage, list(tensors)))
    finally:
        bmtrace.stop()
    return recorded
