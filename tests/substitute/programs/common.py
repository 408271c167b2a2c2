"""What both test programs share: the synthetic images and the tiny linear model's weights."""
import numpy as np

N_SAMPLES = 4
SOURCE = 23   # source images are SOURCE x SOURCE; resized to SIZE x SIZE (a non-integer factor)
SIZE = 9
CLASSES = 10


def decode(i):
    """A smooth random RGB image (uint8 HWC): a coarse grid upsampled, so resizing methods differ mildly."""
    rng = np.random.default_rng(100 + i)
    coarse = rng.integers(0, 256, (6, 6, 3)).astype(np.float32)
    rows = np.linspace(0, 5, SOURCE)
    r0 = np.floor(rows).astype(int).clip(0, 4)
    t = (rows - r0)[:, None, None]
    img = coarse[r0] * (1 - t) + coarse[r0 + 1] * t
    t = (rows - r0)[None, :, None]
    img = img[:, r0] * (1 - t) + img[:, r0 + 1] * t
    img += rng.normal(0, 40, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def weights():
    return np.random.default_rng(7).normal(0, 1, (CLASSES, 3 * SIZE * SIZE)).astype(np.float32)
