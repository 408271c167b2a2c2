"""PIL images <-> numpy arrays plus their mode. PIL is only used when the program already imported it
(recording) or when a recorded image is rebuilt (replay)."""
from __future__ import annotations

import sys

import numpy as np

from .base import Codec
from .leaf import Leaf

_COLOR_OF_MODE = {"RGB": "RGB", "RGBA": "RGBA", "L": "GRAY", "BGR;24": "BGR", "YCbCr": "YCbCr"}
_CHANNELS_OF_MODE = {"RGB": 3, "RGBA": 4, "L": None}


class PilImageCodec(Codec):
    name = "pil_image"

    def encode(self, value, name, meta):
        module = type(value).__module__ or ""
        image_module = sys.modules.get("PIL.Image")
        if not module.startswith("PIL") or image_module is None or not isinstance(value, image_module.Image):
            return None
        arr = np.asarray(value)
        merged = {"source_type": "PIL.Image", "mode": value.mode, "layout": "HWC" if arr.ndim == 3 else "HW"}
        if value.mode in _COLOR_OF_MODE:
            merged["color"] = _COLOR_OF_MODE[value.mode]
        merged.update(meta)
        return Leaf.of_array(name, arr, merged)

    def decodes(self, leaf, meta):
        return leaf.kind == "array" and meta.get("source_type") == "PIL.Image"

    def decode(self, leaf, meta):
        """The image in the recorded mode when the array's shape fits it, else PIL's own guess."""
        from PIL import Image

        array = np.ascontiguousarray(leaf.load())
        return Image.fromarray(array, mode=meta.get("mode") if _mode_fits(array, meta) else None)


def _mode_fits(array, meta):
    mode = meta.get("mode")
    if mode not in _CHANNELS_OF_MODE:
        return False
    return array.ndim == 2 if mode == "L" else array.ndim == 3 and array.shape[2] == _CHANNELS_OF_MODE[mode]
