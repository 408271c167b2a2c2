"""resize_method: which resize implementation reproduces each side's output from its input image.

cv2 and PIL are imported lazily through bmtrace._deps.require; a missing one only removes its
candidates. torchvision candidates are used when torchvision is already imported (or after
preload()), because importing torch takes seconds and would blow a per-pair budget.
"""
from __future__ import annotations

import sys
import time

import numpy as np

from .._deps import require
from ..errors import MissingDependencyError
from ._arrays import residuals
from .hint import Hint
from .structure import squeeze

# For 8-bit outputs, a mean abs diff up to half a level still "matches" (LSB rounding differences,
# e.g. PIL vs torchvision antialiased bilinear differ by 0.09 on average); float outputs scale this.
MATCH_LEVELS = 0.5
# Candidates within this many levels of the best are reported as equivalent alternatives.
TIE_LEVELS = 0.02


def preload():
    """Import the optional resize backends now (torchvision takes seconds), outside any budget.

    Returns the names of the backends that are available.
    """
    found = []
    for module, name in (("cv2", "cv2"), ("PIL.Image", "PIL"),
                         ("torchvision.transforms.functional", "torchvision")):
        if _optional(module) is not None:
            found.append(name)
    return found


def _optional(module):
    """The module, or None when it is not installed (its candidates are then skipped)."""
    # setup.cfg extras: cv2 and PIL come with [imaging], torch and torchvision with [torch].
    extra = "torch" if module.startswith("torch") else "imaging"
    try:
        return require(module, extra=extra, feature="the resize_method diagnosis")
    except MissingDependencyError:
        return None


def _cv2_candidates():
    cv2 = _optional("cv2")
    if cv2 is None:
        return []
    out = []
    for flag in ("INTER_LINEAR", "INTER_NEAREST", "INTER_AREA", "INTER_CUBIC", "INTER_NEAREST_EXACT",
                 "INTER_LANCZOS4", "INTER_LINEAR_EXACT"):
        if not hasattr(cv2, flag):
            continue
        code = getattr(cv2, flag)

        def run(img, size, code=code):
            if img.dtype == np.float64:
                img = img.astype(np.float32)
            if code == getattr(cv2, "INTER_LINEAR_EXACT", None) and img.dtype != np.uint8:
                return None
            res = cv2.resize(img, (size[1], size[0]), interpolation=code)
            return res[:, :, None] if res.ndim == 2 else res
        out.append(("cv2 " + flag, run))
    return out


def _pil_candidates():
    image = _optional("PIL.Image")
    if image is None:
        return []
    resampling = getattr(image, "Resampling", image)
    out = []
    for name in ("BILINEAR", "BICUBIC", "NEAREST", "LANCZOS", "BOX"):
        code = getattr(resampling, name)

        def run(img, size, code=code):
            if img.dtype == np.uint8 and img.shape[2] in (1, 3, 4):
                pil = image.fromarray(img[:, :, 0] if img.shape[2] == 1 else img)
                res = np.asarray(pil.resize((size[1], size[0]), code))
                return res[:, :, None] if res.ndim == 2 else res
            # Float images: PIL resizes single-channel "F" images, one channel at a time.
            chans = [np.asarray(image.fromarray(np.ascontiguousarray(img[:, :, c], np.float32), "F")
                                .resize((size[1], size[0]), code)) for c in range(img.shape[2])]
            return np.stack(chans, axis=2)
        out.append(("PIL " + name.lower(), run))
    return out


def _torchvision_candidates():
    if "torchvision" not in sys.modules:
        return []
    tf = _optional("torchvision.transforms.functional")
    torch = _optional("torch")
    if tf is None or torch is None:
        return []
    modes = tf.InterpolationMode
    out = []
    for mode, antialias in ((modes.BILINEAR, True), (modes.BILINEAR, False), (modes.BICUBIC, True),
                            (modes.BICUBIC, False), (modes.NEAREST, False), (modes.NEAREST_EXACT, False)):
        def run(img, size, mode=mode, antialias=antialias):
            data = img if img.dtype == np.uint8 else img.astype(np.float32)
            t = torch.from_numpy(np.ascontiguousarray(data.transpose(2, 0, 1)))
            res = tf.resize(t, [size[0], size[1]], interpolation=mode, antialias=antialias)
            return res.numpy().transpose(1, 2, 0)
        label = "torchvision Resize %s" % mode.value
        if mode in (modes.BILINEAR, modes.BICUBIC):
            label += " antialias=%s" % antialias
        out.append((label, run))
    return out


def _as_hwc(x, meta=None):
    """(H, W, C) view and layout letters of an image-like array, or (None, None)."""
    s, letters = squeeze(x, meta)
    if letters == "HW":
        return s[:, :, None], letters
    if letters in ("HWC", "CHW"):
        order = (letters.index("H"), letters.index("W"), letters.index("C"))
        return np.transpose(s, order), letters
    return None, None


def _input_image(inputs, out_hwc):
    """The stage input that looks like the image being resized into out_hwc, as HWC."""
    best = None
    for name, value in (inputs or {}).items():
        try:
            arr = np.asarray(value)
        except Exception:
            continue
        if arr.dtype.kind not in "uif" or arr.ndim < 2:
            continue
        img, _ = _as_hwc(arr)
        if img is None or img.shape[2] != out_hwc.shape[2]:
            continue
        if img.shape[:2] == out_hwc.shape[:2]:
            continue  # same size: not a resize input
        if best is None or img.size > best[1].size:
            best = (name, img)
    return best


def _levels(out):
    """How many units one 8-bit level is worth in this output's scale."""
    if out.dtype.kind in "ui":
        return 1.0
    hi = float(np.max(np.abs(out))) if out.size else 1.0
    return 1.0 if hi > 2 else 1.0 / 255.0


class _Match:
    def __init__(self, scores, level):
        # scores: label -> (mean abs diff, fraction exactly equal)
        self.scores = scores
        ordered = sorted(scores.items(), key=lambda kv: kv[1][0])
        self.best_label, (self.best_mean, self.best_exact) = ordered[0] if ordered else (None, (np.inf, 0))
        self.matched = self.best_mean <= MATCH_LEVELS * level
        self.ties = [k for k, v in ordered[1:] if v[0] <= self.best_mean + TIE_LEVELS * level]


# Most common first, so a tight budget still tries what ports and originals usually use.
PRIORITY = ("cv2 INTER_LINEAR", "PIL bilinear", "cv2 INTER_NEAREST", "torchvision Resize bilinear "
            "antialias=True", "torchvision Resize bilinear antialias=False", "cv2 INTER_AREA",
            "cv2 INTER_CUBIC", "PIL bicubic", "torchvision Resize bicubic antialias=True",
            "torchvision Resize bicubic antialias=False", "PIL nearest", "PIL lanczos", "PIL box",
            "cv2 INTER_NEAREST_EXACT", "torchvision Resize nearest", "torchvision Resize nearest-exact",
            "cv2 INTER_LANCZOS4", "cv2 INTER_LINEAR_EXACT")


def _prioritised(candidates):
    rank = {label: i for i, label in enumerate(PRIORITY)}
    return sorted(candidates, key=lambda c: rank.get(c[0], len(PRIORITY)))


def _compare(res, out):
    if res is None or res.shape != out.shape:
        return None
    d = np.abs(res.astype(np.float32) - out.astype(np.float32))
    return float(d.mean()), float(np.mean(d == 0))


def _score_sides(candidates, sides, deadline):
    """Score every candidate on each side's (input, output); each input is resized once per size.

    Stops early when every side already has an exact candidate, or when the deadline passes.
    Returns ([_Match per side], stopped_early).
    """
    scores = [{} for _ in sides]
    cache = {}
    stopped = False
    slowest = 0.0
    for label, run in candidates:
        # Skip the rest when even the slowest candidate so far would not fit in what is left.
        if deadline is not None and all(scores) and time.perf_counter() + slowest > deadline:
            stopped = True
            break
        started = time.perf_counter()
        for k, (img, out) in enumerate(sides):
            work = img.astype(np.float32) if out.dtype.kind == "f" and img.dtype.kind != "f" else img
            key = (id(img), work.dtype.str, out.shape[:2])
            if (label, key) not in cache:
                try:
                    cache[label, key] = run(work, out.shape[:2])
                except Exception:  # a backend refusing this dtype/size is not a diagnosis failure
                    cache[label, key] = None
            score = _compare(cache[label, key], out)
            if score is not None:
                scores[k][label] = score
        slowest = max(slowest, time.perf_counter() - started)
        if all(any(v[1] == 1.0 for v in side.values()) for side in scores):
            stopped = True
            break
    return [_Match(side, _levels(out)) for side, (_, out) in zip(scores, sides)], stopped


def _describe(label, img, out):
    # PIL's bilinear/bicubic/lanczos always filter over the whole footprint when shrinking.
    shrinking = out.shape[0] < img.shape[0] or out.shape[1] < img.shape[1]
    if shrinking and label in ("PIL bilinear", "PIL bicubic", "PIL lanczos"):
        return label + " (antialias)"
    return label


def _retry_reversed(candidates, match, img, out, deadline):
    """The side's match on its channel-reversed input, when the plain input matched nothing.

    A port may resize the BGR image cv2 decoded and convert to RGB afterwards; resizing is per
    channel, so that equals resizing the reversed (RGB) image.
    """
    if match.matched or img.shape[2] != 3 or (deadline is not None and time.perf_counter() > deadline):
        return match, False
    (again,), _ = _score_sides(candidates, [(np.ascontiguousarray(img[:, :, ::-1]), out)], deadline)
    return (again, True) if again.matched else (match, False)


def diagnose_images(a, b, inputs_a, inputs_b, meta_a=None, meta_b=None, deadline=None, mapping=None):
    """resize_method hints: which implementation each side's resize matches, when they differ.

    mapping: a representation Mapping carried from upstream (e.g. B is BGR), used to name the
    image a side resized when it matches only on its channel-reversed input.
    """
    out_a, letters_a = _as_hwc(a, meta_a)
    out_b, letters_b = _as_hwc(b, meta_b)
    if out_a is None or out_b is None:
        return []
    found_a, found_b = _input_image(inputs_a, out_a), _input_image(inputs_b, out_b)
    if found_a is None or found_b is None:
        return []
    candidates = _cv2_candidates() + _pil_candidates() + _torchvision_candidates()
    if not candidates:
        return []  # no imaging backend installed: stay silent rather than guess
    img_b = found_a[1] if np.array_equal(found_a[1], found_b[1]) else found_b[1]
    (match_a, match_b), stopped = _score_sides(_prioritised(candidates),
                                               [(found_a[1], out_a), (img_b, out_b)], deadline)
    ordered = _prioritised(candidates)
    match_a, reversed_a = _retry_reversed(ordered, match_a, found_a[1], out_a, deadline)
    match_b, reversed_b = _retry_reversed(ordered, match_b, img_b, out_b, deadline)
    if not (match_a.matched or match_b.matched):
        return []
    if match_a.best_label == match_b.best_label:
        return []
    # Same method in disguise: one side's best is an exact alternative of the other's.
    if match_a.matched and match_b.best_label in [match_a.best_label] + match_a.ties:
        return []
    if match_b.matched and match_a.best_label in [match_b.best_label] + match_b.ties:
        return []

    def phrase(side, match, img, out):
        if not match.matched:
            return "%s matches none of the candidates (closest: %s, mean abs diff %.2f)" % (
                side, _describe(match.best_label, img, out), match.best_mean)
        text = "%s matches %s" % (side, _describe(match.best_label, img, out))
        if (reversed_a if side == "A" else reversed_b):
            colour = getattr(mapping, "color_b" if side == "B" else "color_a", None) if mapping else None
            text += (" on the %s image" % colour if colour else
                     " on its input with the channels reversed (it converts the colour afterwards)")
        if match.ties:
            text += " (or %s)" % ", ".join(_describe(t, img, out) for t in match.ties)
        return text
    message = "%s, %s" % (phrase("A", match_a, found_a[1], out_a), phrase("B", match_b, found_b[1], out_b))
    if match_a.matched:
        message += ": make the port resize like the original (%s)" % _describe(
            match_a.best_label, found_a[1], out_a)
        if "NEAREST" in (match_b.best_label or "") and match_b.matched:
            message += "; sail Bmcv.resize defaults to BMCV_INTER_NEAREST"
    before_max, before_rms = residuals(out_a, out_b)
    details = {
        "a_input": found_a[0], "b_input": found_b[0],
        "a_method": match_a.best_label if match_a.matched else None,
        "b_method": match_b.best_label if match_b.matched else None,
        "a_scores": {k: [round(v[0], 4), round(v[1], 4)] for k, v in match_a.scores.items()},
        "b_scores": {k: [round(v[0], 4), round(v[1], 4)] for k, v in match_b.scores.items()},
        "scores_are": "mean abs diff, fraction exactly equal",
        "stopped_early": stopped,
        "a_channels_reversed": reversed_a, "b_channels_reversed": reversed_b,
        "before_max_abs": before_max, "before_rms": before_rms,
    }
    residual = None
    if match_a.matched and found_a[1].shape == found_b[1].shape:
        # What would be left if the port used the original's method on its own input.
        run = dict(candidates)[match_a.best_label]
        work = found_b[1].astype(np.float32) if out_a.dtype.kind == "f" else found_b[1]
        try:
            redone = run(work, out_a.shape[:2])
        except Exception:
            redone = None
        if redone is not None and redone.shape == out_a.shape:
            redone = redone.astype(out_a.dtype)
            residual, after_rms = residuals(redone, out_a)
            details.update(after_max_abs=residual, after_rms=after_rms)
            if redone.shape[2] == 3:
                # The port's input may be BGR where the original's is RGB: that is a separate
                # channel_order cause, so measure this one with channels aligned.
                flipped_max, flipped_rms = residuals(redone[:, :, ::-1], out_a)
                if flipped_rms < 0.5 * after_rms:
                    residual = flipped_max
                    details.update(after_max_abs=flipped_max, after_rms=flipped_rms,
                                   after_with_channels_reversed=True)
    confidence = 0.9 if match_a.matched and match_b.matched else 0.6
    return [Hint("resize_method", message, confidence, residual, details)]


RESIZE_PARAMS = ("interpolation", "antialias", "resample", "interp", "mode")


def _recorded(ev, side):
    return {k: v for k, v in ev.params(side).items() if k in RESIZE_PARAMS}


def diagnose(ev):
    """resize_method hints: which implementation each side's resize matches, when they differ.

    The calls' recorded parameters (auto-traced stages record interpolation/antialias) are added
    to the hint, and name the difference on their own when the imaging backends cannot.
    """
    if ev.xa is None or ev.xb is None:
        return []
    rec_a, rec_b = _recorded(ev, "a"), _recorded(ev, "b")
    hints = []
    if ev.inputs_a is not None and ev.inputs_b is not None:
        hints = diagnose_images(ev.xa, ev.xb, ev.inputs_a, ev.inputs_b, ev.meta_a, ev.meta_b,
                                ev.deadline, ev.inherited.mapping)
    differing = {k: (rec_a.get(k), rec_b.get(k)) for k in set(rec_a) | set(rec_b)
                 if rec_a.get(k) != rec_b.get(k)}
    if hints:
        if rec_a or rec_b:
            hints[0].details.update(params_a=rec_a, params_b=rec_b)
        versions = ev.version_differences(("cv2", "PIL", "torchvision"))
        if versions:
            hints[0].details["versions"] = versions
        return hints
    if differing and ev.xa.shape == ev.xb.shape:
        words = ", ".join("%s %s vs %s" % (k, a, b) for k, (a, b) in sorted(differing.items()))
        return [Hint("resize_method", "the recorded resize parameters differ (A vs B: %s): resize the "
                     "port like the original" % words, 0.5, None,
                     {"params_a": rec_a, "params_b": rec_b, "from": "recorded parameters"})]
    return []
