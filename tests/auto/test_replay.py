"""Auto-recorded calls can be redone from the trace (op + parameters), for replay and diff --isolate."""
import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms

import bmtrace
from bmtrace.auto.replay import replay_target

from .conftest import only


def test_cv2_resize_redone_from_its_trace_matches_the_recording(record, images):
    """Replaying cv2.resize from its recorded op and parameters reproduces the recorded output exactly."""
    import cv2

    src = cv2.imread(images[0])
    run = record(lambda: cv2.resize(src, (17, 9), interpolation=cv2.INTER_CUBIC))
    result = bmtrace.replay(run, "resize", replay_target(only(run, "resize").function))
    assert result.passed and len(result.samples) == 1


def test_transforms_resize_redone_on_a_pil_image(record, images):
    """transforms.Resize is rebuilt with its size, interpolation and antialias and gets a PIL image back."""
    image = Image.open(images[0]).convert("RGB")
    image.load()
    run = record(lambda: transforms.Resize((12, 16), antialias=True)(image))
    assert bmtrace.replay(run, "resize", replay_target(only(run, "resize").function)).passed


def test_normalize_redone_on_a_tensor(record):
    """Normalize is rebuilt with its mean and std."""
    x = torch.rand(3, 4, 4)
    run = record(lambda: transforms.Normalize((0.1, 0.2, 0.3), (0.5, 0.5, 0.5))(x))
    assert bmtrace.replay(run, "normalize", replay_target(only(run, "normalize").function)).passed


def test_an_inference_cannot_be_redone(record):
    """A model call is not in the trace: replay_target says so instead of guessing."""
    net = torch.nn.Linear(4, 2).eval()
    run = record(lambda: net(torch.rand(1, 4)))
    with pytest.raises(bmtrace.BmtraceError, match="holds no model"):
        replay_target(only(run, "infer").function)


def test_isolation_redoes_an_auto_recorded_stage_and_names_it(record, images):
    """diff --isolate on two --auto runs redoes A's recorded cv2.resize on B's input: the stage whose
    interpolation differs is found to introduce the error (this crashed when nothing was imported)."""
    import cv2

    src = cv2.imread(images[0])
    run_a = record(lambda: cv2.resize(src, (17, 9), interpolation=cv2.INTER_CUBIC), name="a")
    run_b = record(lambda: cv2.resize(src, (17, 9), interpolation=cv2.INTER_NEAREST), name="b")
    lines = []
    from bmtrace.replayer.isolate import isolate_stages

    result = bmtrace.diff(run_a.path, run_b.path, explain=False)
    isolate_stages(result, bmtrace.open_run(run_a.path), bmtrace.open_run(run_b.path), log=lines.append)
    entry = [e for e in result.stages if e.stage == "resize"][0]
    assert entry.introduces is True and entry.local["status"] != "unavailable"
    assert result.isolation["imported"] == []  # rebuilt from bmtrace's own table, nothing imported
    assert any("redoing stage resize" in line and "cv2.resize" in line for line in lines), lines
