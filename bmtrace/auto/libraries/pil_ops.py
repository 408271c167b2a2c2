"""Pillow calls: decode (the first real load of an opened file), convert (color), resize."""
from __future__ import annotations

import sys

from ..ops import GUARD, Op, file_name, image_input, plain

_NEAREST_ONLY_MODES = ("1", "P")  # Pillow always resizes these with NEAREST


def _decodes(a):
    """ImageFile.load decodes only while tiles are pending; later calls just return the pixels."""
    return None if getattr(a.get("self"), "tile", None) else GUARD


def _load_params(a):
    image = a.get("self")
    return {"file": file_name(getattr(image, "filename", None)), "format": getattr(image, "format", None),
            "mode": getattr(image, "mode", None), "size": getattr(image, "size", None)}


def _convert_params(a):
    return {"from_mode": getattr(a.get("self"), "mode", None), "mode": a.get("mode"),
            "matrix": a.get("matrix") is not None}


def _resample_name(image, resample):
    image_module = sys.modules.get("PIL.Image")
    if resample is None:
        resample = 0 if getattr(image, "mode", None) in _NEAREST_ONLY_MODES else 3
    try:
        return image_module.Resampling(resample).name
    except Exception:
        return plain(resample)


def _resize_params(a):
    resample = _resample_name(a.get("self"), a.get("resample"))
    return {"size": a.get("size"), "resample": resample, "antialias": resample != "NEAREST",
            "box": a.get("box"), "reducing_gap": a.get("reducing_gap"), "from_size": getattr(a.get("self"), "size", None)}


def _decoded_meta(a):
    return {"out": {"color": getattr(a.get("self"), "mode", None), "layout": "HWC"}}


def _convert_meta(a):
    return {"img": {"color": getattr(a.get("self"), "mode", None)}, "out": {"color": a.get("mode")}}


OPS = [
    Op("PIL", "decode", "PIL.Image.open", [("PIL.ImageFile", "ImageFile.load")], ("self",), lambda a: {},
       _load_params, output=lambda result, a: {"out": a.get("self")},
       source=lambda a: file_name(getattr(a.get("self"), "filename", None)), decide=_decodes,
       meta=_decoded_meta),
    Op("PIL", "color", "PIL.Image.Image.convert", [("PIL.Image", "Image.convert")],
       ("self", "mode", "matrix", "dither", "palette", "colors"), image_input("self"), _convert_params,
       meta=_convert_meta),
    Op("PIL", "resize", "PIL.Image.Image.resize", [("PIL.Image", "Image.resize")],
       ("self", "size", "resample", "box", "reducing_gap"), image_input("self"), _resize_params),
]
