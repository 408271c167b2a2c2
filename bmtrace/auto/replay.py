"""Redo an auto-recorded library call from its trace: the op and the parameters recorded with it.

``replay_target(call.function)`` returns a function of the recorded input (``img``) that calls the
same library op with the same parameters, so ``bmtrace.replay`` and ``diff --isolate`` can feed it
the other run's inputs. Inferences cannot be redone: the trace holds no model weights.
"""
from __future__ import annotations

from ..errors import ReplayError


def replay_target(identity):
    """A callable ``fn(img)`` redoing the recorded op; ReplayError says why when it cannot be redone."""
    op = (identity or {}).get("op")
    builder = _BUILDERS.get(op)
    if builder is None:
        raise ReplayError("the auto-recorded call %s cannot be redone from the trace (%s); replay a function of "
                          "your own: bmtrace replay RUN --stage STAGE --call file.py:function"
                          % (op, "the trace holds no model" if identity and identity.get("stage_kind") == "infer"
                             else "no replay is known for this op"))
    params = identity.get("params") or {}
    try:
        fn = builder(params)
    except Exception as exc:
        raise ReplayError("cannot rebuild %s from its recorded parameters %r: %s: %s"
                          % (op, params, type(exc).__name__, exc)) from None
    fn.__name__ = "replay_" + op.replace(".", "_")
    fn.__qualname__ = fn.__name__
    return fn


def _first(name):
    """The first of aliases recorded as "NAME|ALIAS"."""
    return str(name).split("|")[0].split(" ")[0]


def _cv2_constant(name):
    import cv2

    return getattr(cv2, _first(name))


def _cv2_resize(p):
    import cv2

    dsize = tuple(p["dsize"]) if p.get("dsize") else (0, 0)
    interpolation = _cv2_constant(p.get("interpolation") or "INTER_LINEAR")
    fx, fy = p.get("fx") or 0, p.get("fy") or 0

    def replay(img):
        return cv2.resize(img, dsize, fx=fx, fy=fy, interpolation=interpolation)
    return replay


def _cv2_cvtcolor(p):
    import cv2

    code = _cv2_constant(p["code"])

    def replay(img):
        return cv2.cvtColor(img, code)
    return replay


def _cv2_border(p):
    import cv2

    sides = [p["top"], p["bottom"], p["left"], p["right"]]
    border = _cv2_constant(p["border_type"])
    value = p.get("value")

    def replay(img):
        return cv2.copyMakeBorder(img, *sides, border, value=value)
    return replay


def _interpolation_mode(name):
    from torchvision.transforms import InterpolationMode

    return InterpolationMode[_first(name).upper()] if name else InterpolationMode.BILINEAR


def _tv_resize(p):
    from torchvision import transforms

    transform = transforms.Resize(p["size"], _interpolation_mode(p.get("interpolation")), p.get("max_size"),
                                  p.get("antialias", True))

    def replay(img):
        return transform(img)
    return replay


def _tv_functional_resize(p):
    from torchvision.transforms import functional

    mode = _interpolation_mode(p.get("interpolation"))

    def replay(img):
        return functional.resize(img, p["size"], mode, p.get("max_size"), p.get("antialias", True))
    return replay


def _tv_pad(p):
    from torchvision import transforms

    transform = transforms.Pad(p["padding"], p.get("fill", 0), p.get("padding_mode", "constant"))

    def replay(img):
        return transform(img)
    return replay


def _tv_normalize(p):
    from torchvision import transforms

    transform = transforms.Normalize(p["mean"], p["std"])

    def replay(img):
        return transform(img)
    return replay


def _tv_to_tensor(p):
    from torchvision import transforms

    transform = transforms.ToTensor()

    def replay(img):
        return transform(img)
    return replay


def _pil_resize(p):
    from PIL import Image

    resample = Image.Resampling[_first(p["resample"])]
    box = tuple(p["box"]) if p.get("box") else None

    def replay(img):
        return img.resize(tuple(p["size"]), resample, box, p.get("reducing_gap"))
    return replay


def _pil_convert(p):
    def replay(img):
        return img.convert(p["mode"])
    return replay


def _interpolate(p):
    import torch

    def replay(img):
        return torch.nn.functional.interpolate(img, size=p.get("size"), scale_factor=p.get("scale_factor"),
                                               mode=p.get("mode", "nearest"), align_corners=p.get("align_corners"),
                                               antialias=bool(p.get("antialias")))
    return replay


_BUILDERS = {
    "cv2.resize": _cv2_resize,
    "cv2.cvtColor": _cv2_cvtcolor,
    "cv2.copyMakeBorder": _cv2_border,
    "torchvision.transforms.Resize": _tv_resize,
    "torchvision.transforms.functional.resize": _tv_functional_resize,
    "torchvision.transforms.Pad": _tv_pad,
    "torchvision.transforms.Normalize": _tv_normalize,
    "torchvision.transforms.ToTensor": _tv_to_tensor,
    "PIL.Image.Image.resize": _pil_resize,
    "PIL.Image.Image.convert": _pil_convert,
    "torch.nn.functional.interpolate": _interpolate,
}
