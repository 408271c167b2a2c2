"""sophon-sail calls (API as documented by sophon-sail): Decoder, Bmcv resize/pad/convert_to, Engine.process."""
from __future__ import annotations

from ..ops import PASS, Op, file_name, image_input, named_values, plain

_decoder_files = {}  # id(Decoder) -> base name of the file it was opened on (sail does not expose it)
_MAX_DECODERS = 256


def _remember_decoder_file(a):
    """Decoder.__init__ records nothing; it only notes the file for the sample key of read()."""
    if len(_decoder_files) >= _MAX_DECODERS:
        _decoder_files.clear()
    _decoder_files[id(a.get("self"))] = file_name(a.get("file_path"))
    return PASS


def _decoder_source(a):
    return _decoder_files.get(id(a.get("self")))


def _alg(a, key="resize_alg"):
    value = a.get(key)
    return "BMCV_INTER_NEAREST (default)" if value is None else plain(value)


def _resize_params(a):
    return {"width": a.get("tar_w"), "height": a.get("tar_h"), "resize_alg": _alg(a), "antialias": False}


def _padding_params(a):
    padding = a.get("padding_in")
    fields = ("dst_crop_stx", "dst_crop_sty", "dst_crop_w", "dst_crop_h", "padding_r", "padding_g", "padding_b",
              "if_memset")
    return {"crop": [a.get(k) for k in ("crop_x0", "crop_y0", "crop_w", "crop_h")],
            "resize": [a.get("resize_w"), a.get("resize_h")], "resize_alg": _alg(a),
            "padding": {f: plain(getattr(padding, f, None)) for f in fields}}


def _convert_to_bound(a):
    """convert_to(input, output, alpha_beta) fills output; convert_to(input, alpha_beta) returns it."""
    if "alpha_beta" not in a and isinstance(a.get("output"), (tuple, list)):
        return a.get("output"), None
    return a.get("alpha_beta"), a.get("output")


def _convert_to_params(a):
    alpha_beta, _ = _convert_to_bound(a)
    return {"alpha_beta": alpha_beta}


def _convert_to_output(result, a):
    _, filled = _convert_to_bound(a)
    return {"out": filled if filled is not None else result}


def _process_output(result, a):
    filled = a.get("output_tensors")
    return named_values(filled if isinstance(filled, dict) else result, "out")


_S = "sophon.sail"

OPS = [
    Op("sail", "decode", "sail.Decoder.__init__", [(_S, "Decoder.__init__")],
       ("self", "file_path", "compressed", "tpu_id"), lambda a: {}, decide=_remember_decoder_file),
    Op("sail", "decode", "sail.Decoder.read", [(_S, "Decoder.read")], ("self", "handle", "image"), lambda a: {},
       lambda a: {"file": _decoder_source(a)}, output=lambda result, a: {"out": a.get("image")},
       source=_decoder_source),
    Op("sail", "resize", "sail.Bmcv.resize", [(_S, "Bmcv.resize")], ("self", "input", "tar_w", "tar_h", "resize_alg"),
       image_input("input"), _resize_params),
    Op("sail", "resize", "sail.Bmcv.vpp_resize", [(_S, "Bmcv.vpp_resize")],
       ("self", "input", "tar_w", "tar_h", "resize_alg"), image_input("input"), _resize_params),
    Op("sail", "pad", "sail.Bmcv.crop_and_resize_padding", [(_S, "Bmcv.crop_and_resize_padding")],
       ("self", "input", "crop_x0", "crop_y0", "crop_w", "crop_h", "resize_w", "resize_h", "padding_in",
        "resize_alg"), image_input("input"), _padding_params),
    Op("sail", "normalize", "sail.Bmcv.convert_to", [(_S, "Bmcv.convert_to")], ("self", "input", "output",
                                                                                 "alpha_beta"),
       image_input("input"), _convert_to_params, output=_convert_to_output),
    Op("sail", "infer", "sail.Engine.process", [(_S, "Engine.process")],
       ("self", "graph_name", "input_tensors", "output_tensors"),
       lambda a: named_values(a.get("input_tensors") or {}, "x"), lambda a: {"graph": a.get("graph_name")},
       output=_process_output),
]
