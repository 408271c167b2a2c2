"""OpenCV calls: decode, color, resize, pad, nms (names of integer constants looked up at call time)."""
from __future__ import annotations

import sys

from ..ops import Op, constant_name, file_name, image_input


def _cv2():
    return sys.modules.get("cv2")


def _imread_params(a):
    return {"file": file_name(a.get("filename")), "flags": constant_name(_cv2(), "IMREAD_", a.get("flags"),
                                                                           "IMREAD_COLOR (default)")}


def _imdecode_params(a):
    return {"flags": constant_name(_cv2(), "IMREAD_", a.get("flags"))}


def _decoded_meta(a):
    """OpenCV decodes to BGR (or GRAY with IMREAD_GRAYSCALE), height x width x channels."""
    cv2 = _cv2()
    grey = cv2 is not None and a.get("flags") == getattr(cv2, "IMREAD_GRAYSCALE", 0)
    return {"out": {"color": "GRAY" if grey else "BGR", "layout": "HWC"}}


def _hwc_meta(a):
    return {"layout": "HWC"} if getattr(a.get("src"), "ndim", 0) == 3 else None


def _video_output(result, a):
    ok, frame = result if isinstance(result, tuple) and len(result) == 2 else (False, None)
    return {"out": frame} if ok else None  # no frame (end of the video): nothing to record


def _cvtcolor_params(a):
    return {"code": constant_name(_cv2(), "COLOR_", a.get("code")), "dstCn": a.get("dstCn")}


def _resize_params(a):
    return {"dsize": a.get("dsize"), "fx": a.get("fx"), "fy": a.get("fy"),
            "interpolation": constant_name(_cv2(), "INTER_", a.get("interpolation"), "INTER_LINEAR"),
            "antialias": False}


def _border_params(a):
    return {"top": a.get("top"), "bottom": a.get("bottom"), "left": a.get("left"), "right": a.get("right"),
            "border_type": constant_name(_cv2(), "BORDER_", a.get("borderType")), "value": a.get("value")}


def _nms_inputs(a):
    return {"boxes": a.get("bboxes"), "scores": a.get("scores")}


def _nms_params(a):
    return {"score_threshold": a.get("score_threshold"), "iou_threshold": a.get("nms_threshold"),
            "eta": a.get("eta"), "top_k": a.get("top_k"), "box_format": "xywh"}


OPS = [
    Op("cv2", "decode", "cv2.imread", [("cv2", "imread")], ("filename", "flags"), lambda a: {},
       _imread_params, source=lambda a: file_name(a.get("filename")), meta=_decoded_meta),
    Op("cv2", "decode", "cv2.imdecode", [("cv2", "imdecode")], ("buf", "flags"), lambda a: {}, _imdecode_params,
       meta=_decoded_meta),
    Op("cv2", "decode", "cv2.VideoCapture.read", [("cv2", "VideoCapture.read")], ("self", "image"),
       lambda a: {}, output=_video_output, meta=lambda a: {"out": {"color": "BGR", "layout": "HWC"}}),
    Op("cv2", "color", "cv2.cvtColor", [("cv2", "cvtColor")], ("src", "code", "dst", "dstCn"),
       image_input("src"), _cvtcolor_params),
    Op("cv2", "resize", "cv2.resize", [("cv2", "resize")], ("src", "dsize", "dst", "fx", "fy", "interpolation"),
       image_input("src"), _resize_params, meta=_hwc_meta),
    Op("cv2", "pad", "cv2.copyMakeBorder", [("cv2", "copyMakeBorder")],
       ("src", "top", "bottom", "left", "right", "borderType", "dst", "value"), image_input("src"), _border_params,
       meta=_hwc_meta),
    Op("cv2", "nms", "cv2.dnn.NMSBoxes", [("cv2", "dnn.NMSBoxes")],
       ("bboxes", "scores", "score_threshold", "nms_threshold", "eta", "top_k"), _nms_inputs, _nms_params),
]
