"""Shared fixtures: a real photograph decoded by PIL and by cv2."""
import os

import numpy as np
import pytest


def _photo_path():
    matplotlib = pytest.importorskip("matplotlib")
    path = os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "sample_data",
                        "grace_hopper.jpg")
    if not os.path.exists(path):
        pytest.skip("matplotlib's sample photo grace_hopper.jpg is not installed")
    return path


@pytest.fixture(scope="session")
def photo_path():
    """Path of a real JPEG photograph (600x512) shipped with matplotlib."""
    return _photo_path()


@pytest.fixture(scope="session")
def photo_rgb(photo_path):
    """The photograph decoded by PIL: HWC uint8 RGB, as torchvision pipelines see it."""
    image = pytest.importorskip("PIL.Image")
    return np.array(image.open(photo_path).convert("RGB"))


@pytest.fixture(scope="session")
def photo_bgr(photo_path):
    """The photograph decoded by cv2.imread: HWC uint8 BGR, as ports see it."""
    cv2 = pytest.importorskip("cv2")
    return cv2.imread(photo_path, cv2.IMREAD_COLOR)


def causes(hints):
    """The cause names of a list of hints, in order."""
    return [h.cause for h in hints]
