"""torchvision calls: transforms (Resize, Pad, Normalize, ToTensor, functional.resize), io decoders, nms."""
from __future__ import annotations

from ..ops import Op, file_name, image_input


def _transform_params(*names):
    def params(a):
        transform = a.get("self")
        return {name: getattr(transform, name, None) for name in names}
    return params


def _functional_resize_params(a):
    return {"size": a.get("size"), "interpolation": a.get("interpolation", "BILINEAR (default)"),
            "max_size": a.get("max_size"), "antialias": a.get("antialias", True)}


def _read_params(a):
    return {"file": file_name(a.get("path")), "mode": a.get("mode")}


def _decode_image_source(a):
    return file_name(a.get("input"))


def _nms_inputs(a):
    named = {"boxes": a.get("boxes"), "scores": a.get("scores")}
    if "idxs" in a:
        named["idxs"] = a.get("idxs")
    return named


def _nms_params(a):
    return {"iou_threshold": a.get("iou_threshold"), "box_format": "xyxy"}


_T = "torchvision.transforms"
_F = "torchvision.transforms.functional"
_V2 = "torchvision.transforms.v2"  # v2 transforms take any inputs: the first one is the image

OPS = [
    Op("torchvision", "resize", "torchvision.transforms.Resize", [(_T, "Resize.forward")], ("self", "img"),
       image_input("img"), _transform_params("size", "interpolation", "max_size", "antialias")),
    Op("torchvision", "resize", "torchvision.transforms.functional.resize", [(_F, "resize")],
       ("img", "size", "interpolation", "max_size", "antialias"), image_input("img"), _functional_resize_params),
    Op("torchvision", "pad", "torchvision.transforms.Pad", [(_T, "Pad.forward")], ("self", "img"),
       image_input("img"), _transform_params("padding", "fill", "padding_mode")),
    Op("torchvision", "normalize", "torchvision.transforms.Normalize", [(_T, "Normalize.forward")],
       ("self", "tensor"), image_input("tensor"), _transform_params("mean", "std", "inplace")),
    Op("torchvision", "normalize", "torchvision.transforms.ToTensor", [(_T, "ToTensor.__call__")],
       ("self", "pic"), image_input("pic"), lambda a: {"scale": "uint8 / 255", "layout": "HWC -> CHW"},
       meta=lambda a: {"img": {"layout": "HWC"}, "out": {"layout": "CHW"}}),
    Op("torchvision", "resize", "torchvision.transforms.v2.Resize", [(_V2, "Resize.forward")], ("self", "img"),
       image_input("img"), _transform_params("size", "interpolation", "max_size", "antialias")),
    Op("torchvision", "pad", "torchvision.transforms.v2.Pad", [(_V2, "Pad.forward")], ("self", "img"),
       image_input("img"), _transform_params("padding", "fill", "padding_mode")),
    Op("torchvision", "normalize", "torchvision.transforms.v2.Normalize", [(_V2, "Normalize.forward")],
       ("self", "img"), image_input("img"), _transform_params("mean", "std", "inplace")),
    Op("torchvision", "decode", "torchvision.io.read_image",
       [("torchvision.io", "read_image"), ("torchvision.io.image", "read_image")],
       ("path", "mode", "apply_exif_orientation"), lambda a: {}, _read_params,
       source=lambda a: file_name(a.get("path")), meta=lambda a: {"out": {"layout": "CHW"}}),
    Op("torchvision", "decode", "torchvision.io.decode_image",
       [("torchvision.io", "decode_image"), ("torchvision.io.image", "decode_image")],
       ("input", "mode", "apply_exif_orientation"), lambda a: {},
       lambda a: {"file": _decode_image_source(a), "mode": a.get("mode")}, source=_decode_image_source,
       meta=lambda a: {"out": {"layout": "CHW"}}),
    Op("torchvision", "nms", "torchvision.ops.nms", [("torchvision.ops", "nms"), ("torchvision.ops.boxes", "nms")],
       ("boxes", "scores", "iou_threshold"), _nms_inputs, _nms_params),
    Op("torchvision", "nms", "torchvision.ops.batched_nms",
       [("torchvision.ops", "batched_nms"), ("torchvision.ops.boxes", "batched_nms")],
       ("boxes", "scores", "idxs", "iou_threshold"), _nms_inputs, _nms_params),
]
