"""PIL images -> numpy arrays plus their mode; only called when PIL is already imported."""
from __future__ import annotations

import numpy as np

_COLOR_OF_MODE = {"RGB": "RGB", "RGBA": "RGBA", "L": "GRAY", "BGR;24": "BGR", "YCbCr": "YCbCr"}


def pil_to_array(image):
    arr = np.asarray(image)
    meta = {"source_type": "PIL.Image", "mode": image.mode, "layout": "HWC" if arr.ndim == 3 else "HW"}
    if image.mode in _COLOR_OF_MODE:
        meta["color"] = _COLOR_OF_MODE[image.mode]
    return arr, meta, None
