"""``capture_bmrt_io``: record what libbmrt itself fed and got for one inference.

libbmrt writes its BMRT_SAVE_IO_TENSORS dumps into the current directory of the process running
the model and overwrites them on every launch (SOPHON.md). The context manager turns the variable
on for the block, moves any older dumps out of the way first (so a stale file is never taken for
this launch), records the dumps of the last launch in the block when it exits, and then puts the
directory back as it was.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from typing import Optional

from .bmodel import read_bmodel
from .bmrt_import import INPUT_DUMP, OUTPUT_DUMP, load_bmrt_dumps, record_bmrt_dumps

ENV_VAR = "BMRT_SAVE_IO_TENSORS"


class BmrtCapture:
    """What a capture_bmrt_io block saw; filled in when the block exits."""

    def __init__(self, bmodel_path: str, dump_dir: str):
        self.bmodel_path = bmodel_path
        self.dump_dir = dump_dir
        self.inputs = None    # OrderedDict name -> array, bmodel order (None: no dump appeared)
        self.outputs = None
        self.recorded = False

    @property
    def launched(self) -> bool:
        """True when the runtime wrote dumps during the block."""
        return self.inputs is not None or self.outputs is not None


def _warn(message):
    print("bmtrace: %s" % message, file=sys.stderr)


@contextlib.contextmanager
def capture_bmrt_io(bmodel, stage: str = "infer", sample: Optional[str] = None, net: Optional[str] = None,
                    chdir: bool = False, keep_dumps: bool = False):
    """Turn on BMRT_SAVE_IO_TENSORS for one inference and record the runtime's own IO as ``stage``.

    Args:
        bmodel: the .bmodel the runtime runs (for names, shapes and quantisation).
        stage: stage name of the record.
        sample: sample key of the record; default the enclosing ``bmtrace.sample``.
        net: network name; default the only one.
        chdir: run the block in a fresh temporary directory (dumps never touch your folder; only
            safe when the block does not open relative paths).
        keep_dumps: leave this launch's dump files in the directory instead of restoring it.
    Yields:
        a :class:`BmrtCapture`; its ``inputs``/``outputs`` are set after the block.

    Only the last launch inside the block is captured (the runtime overwrites its dumps). The
    runtime must run in this process, or in a child started inside the block, or through
    :class:`~bmtrace.sophon.runner.BmodelRunner` (which forwards the variable to its worker).

    Example::

        with bmtrace.sophon.capture_bmrt_io("resnet18_fp32_1b.bmodel", stage="infer"):
            outputs = engine.process(graph, {input_name: image})
    """
    model = read_bmodel(bmodel)
    origin = os.getcwd()
    stash = tempfile.mkdtemp(prefix="bmtrace-bmrt-stash-")
    dump_dir = tempfile.mkdtemp(prefix="bmtrace-bmrt-") if chdir else origin
    stashed = []
    for name in (INPUT_DUMP, OUTPUT_DUMP):
        path = os.path.join(dump_dir, name)
        if os.path.exists(path):
            shutil.move(path, os.path.join(stash, name))
            stashed.append(name)
    previous = os.environ.get(ENV_VAR)
    os.environ[ENV_VAR] = "1"
    if chdir:
        os.chdir(dump_dir)
    capture = BmrtCapture(model.path, dump_dir)
    failed = False
    try:
        yield capture
    except BaseException:
        failed = True
        raise
    finally:
        if chdir:
            os.chdir(origin)
        if previous is None:
            os.environ.pop(ENV_VAR, None)
        else:
            os.environ[ENV_VAR] = previous
        in_path = os.path.join(dump_dir, INPUT_DUMP)
        out_path = os.path.join(dump_dir, OUTPUT_DUMP)
        in_path = in_path if os.path.exists(in_path) else None
        out_path = out_path if os.path.exists(out_path) else None
        try:
            if not failed:
                _collect(capture, model, in_path, out_path, net, stage, sample)
        finally:
            for path in (in_path, out_path):
                if path and not keep_dumps:
                    os.remove(path)
            for name in stashed:
                target = os.path.join(dump_dir, name)
                if not os.path.exists(target):
                    shutil.move(os.path.join(stash, name), target)
            shutil.rmtree(stash, ignore_errors=True)
            if chdir and not keep_dumps:
                shutil.rmtree(dump_dir, ignore_errors=True)


def _collect(capture, model, in_path, out_path, net, stage, sample):
    from .. import _state

    if in_path is None and out_path is None:
        _warn("capture_bmrt_io(%s): the runtime wrote no %s/%s in %s during the block; was the model "
              "launched in this process (or a child started inside the block)?"
              % (os.path.basename(model.path), INPUT_DUMP, OUTPUT_DUMP, capture.dump_dir))
        return
    try:
        if _state.recorder is None and not _state.env_pending:
            capture.inputs, capture.outputs, _ = load_bmrt_dumps(model, in_path, out_path, net)
            return
        scope = contextlib.nullcontext()
        if sample is not None:
            from ..api import sample as sample_scope

            scope = sample_scope(sample)
        with scope:
            capture.inputs, capture.outputs = record_bmrt_dumps(model, in_path, out_path, net=net, stage=stage)
        capture.recorded = True
    except Exception as exc:
        # Tracing must not break the user's pipeline: report and go on (strict runs re-raise).
        if _state.recorder is not None and getattr(_state.recorder, "strict", False):
            raise
        _warn("capture_bmrt_io could not record the dumps: %s" % exc)
