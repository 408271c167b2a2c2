"""Two small real programs that differ only in their resize stage (the vendor's case in miniature)."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

COMMON = '''
import sys
import numpy as np
import bmtrace

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


@bmtrace.trace_stage("normalize")
def normalize(img):
    arr = np.asarray(img, dtype=np.float32) / 255.0
    return ((arr - MEAN) / STD).transpose(2, 0, 1)[None]
'''

PROGRAM_A = COMMON + '''
from PIL import Image
from torchvision import transforms

_resize = transforms.Resize((64, 64))


@bmtrace.trace_stage("resize")
def resize(img):
    return _resize(img)


def main(image_path, run_dir):
    pixels = np.load(image_path)
    with bmtrace.run(run_dir, side="original"):
        with bmtrace.sample("scene.npy"):
            normalize(resize(Image.fromarray(pixels)))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
'''

PROGRAM_B = COMMON + '''
import cv2


@bmtrace.trace_stage("resize")
def resize(img):
    return cv2.resize(img, (64, 64), interpolation=cv2.INTER_LINEAR)


def main(image_path, run_dir):
    pixels = np.load(image_path)
    with bmtrace.run(run_dir, side="port"):
        with bmtrace.sample("scene.npy"):
            normalize(resize(pixels))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
'''


def scene(height=240, width=320, seed=0):
    """A textured RGB scene: fine stripes and noise make antialiasing matter."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    stripes = 127 + 120 * np.sin(xx * 0.9) * np.cos(yy * 0.7)
    img = np.stack([stripes, 255 - stripes, (xx * 255 // width)], axis=-1) + rng.normal(0, 8, (height, width, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def resize_pair(tmp_path_factory):
    """Record program A (torchvision Resize on PIL) and program B (cv2.resize); return their paths."""
    pytest.importorskip("torchvision")
    pytest.importorskip("cv2")
    root = tmp_path_factory.mktemp("resize_pair")
    np.save(root / "scene.npy", scene())
    paths = {}
    for side, source in (("a", PROGRAM_A), ("b", PROGRAM_B)):
        program = root / ("program_%s.py" % side)
        program.write_text(textwrap.dedent(source))
        subprocess.run([sys.executable, str(program), str(root / "scene.npy"), str(root / ("run_" + side))],
                       check=True)
        paths[side] = program
        paths["run_" + side] = root / ("run_" + side)
    return paths
