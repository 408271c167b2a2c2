"""bmtrace: find the first stage where two versions of a deep-learning program stop agreeing.

Decorate the stages of both programs, record a run of each, then diff the runs:

    @bmtrace.trace_stage("resize")
    def resize(img): ...

    with bmtrace.run("runs/original", side="original"):
        with bmtrace.sample("test.jpg"):
            predict("test.jpg")

``import bmtrace`` loads only the standard library, numpy and wrapt.
"""
__version__ = "0.1.0"

from .api import run, sample, start, stop, trace_stage
from .errors import BmtraceError
from .store.reader import open_run
# Bound after the bmtrace.diff package is imported, so the name is the function, not the package.
from .diff.engine import diff
from .diff.result import DiffResult


def auto(libs=None, sample_from=None):
    """Record calls of cv2/PIL/torchvision/torch/onnxruntime/sail as stages while a run is active; see bmtrace.auto."""
    from .auto import auto as _auto  # importing makes bmtrace.auto the (callable) package itself

    return _auto(libs, sample_from)


def replay(run, stage, fn=None, **options):
    """Feed a run's recorded inputs of ``stage`` into ``fn`` and compare with the recorded outputs."""
    from .replayer import replay as _replay

    return _replay(run, stage, fn, **options)


__all__ = sorted(["BmtraceError", "DiffResult", "auto", "diff", "open_run", "replay", "run", "sample", "start", "stop", "trace_stage"])
