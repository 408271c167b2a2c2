"""Time each bmtrace.explain diagnosis on a 1x3x224x224 pair and a 1080p (1x3x1080x1920) pair.

Run: python benchmarks/bench_explain.py   (best of 3 runs per row, torch threads = 1)
"""
import os
import time

import cv2
import matplotlib
import numpy as np
import torch
from PIL import Image

from bmtrace.explain import chain, explain_tensor_pair, nms, outputs, padding, precision, resize, rounding
from bmtrace.explain.engine import _aligned_samples

torch.set_num_threads(1)
path = os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "sample_data", "grace_hopper.jpg")
bgr = cv2.imread(path)
rgb = bgr[..., ::-1].copy()
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def norm(x):
    return ((x.astype(np.float32) / 255 - MEAN) / STD).transpose(2, 0, 1)[None]


def best_ms(fn, n=3):
    best, res = 1e9, None
    for _ in range(n):
        t = time.perf_counter()
        res = fn()
        best = min(best, time.perf_counter() - t)
    return best * 1e3, res


def names(hints):
    if hints is None:
        return []
    if not isinstance(hints, (list, tuple)):
        hints = [hints]
    if hints and isinstance(hints[0], list):
        hints = hints[0]
    return [h.cause for h in hints]


def row(label, fn, n=3):
    ms, res = best_ms(fn, n)
    print("  %-58s %8.1f ms  %s" % (label, ms, names(res)))


print("preload:", resize.preload())
big_bgr = cv2.resize(bgr, (1920, 1080), interpolation=cv2.INTER_CUBIC)
for label, h, w in (("1x3x224x224", 224, 224), ("1080p 1x3x1080x1920", 1080, 1920)):
    src_bgr = cv2.resize(bgr, (w, h)) if h == 224 else big_bgr
    src_rgb = src_bgr[..., ::-1].copy()
    a, b_swapped = norm(src_rgb), norm(src_bgr)
    noisy = a + np.random.default_rng(0).normal(0, 0.05, a.shape).astype(np.float32)
    print("==", label)
    row("chain: channel_order+normalization found", lambda: chain.diagnose(a, b_swapped))
    row("chain: layout (NCHW vs NHWC) found", lambda: chain.diagnose(a, np.ascontiguousarray(a.transpose(0, 2, 3, 1))))
    row("chain: nothing to find (noise)", lambda: chain.diagnose(a, noisy))
    lb_a = cv2.copyMakeBorder(src_rgb[h // 10:-h // 10], h // 10, h // 10, 0, 0, cv2.BORDER_CONSTANT, value=(114,) * 3)
    lb_b = cv2.copyMakeBorder(src_rgb[h // 10:-h // 10], h // 10, h // 10, 0, 0, cv2.BORDER_CONSTANT, value=(0,) * 3)
    row("padding: letterbox 114 vs 0 found", lambda: padding.diagnose(lb_a, lb_b))
    row("padding: shift search, nothing to find", lambda: padding.diagnose(a, noisy))
    half = a.astype(np.float16).astype(np.float32)
    sa = _aligned_samples(a, half, None, None)
    row("dtype_rounding: float16 found (incl. sampling)",
        lambda: rounding.diagnose(*_aligned_samples(a, half, None, None)[:2], np.float32, np.float32))
    row("precision: benign FP32 found (incl. sampling)",
        lambda: precision.diagnose(*_aligned_samples(a, a + 1e-6, None, None)[:2], True, True))
    row("explain_tensor_pair total, channel_order+normalization", lambda: explain_tensor_pair(a, b_swapped, stage="s", tensor="t", budget_s=10))
    row("explain_tensor_pair total, noise (every diagnosis runs)", lambda: explain_tensor_pair(a, noisy, stage="s", tensor="t", budget_s=10))
    row("explain_tensor_pair total, noise, budget_s=0.5", lambda: explain_tensor_pair(a, noisy, stage="s", tensor="t", budget_s=0.5))

print("== resize_method (input image -> output; every backend incl. torchvision loaded)")
for label, src, size in (("600x512 photo -> 224x224", rgb, (224, 224)), ("1080p -> 224x224", big_bgr[..., ::-1].copy(), (224, 224)),
                         ("1080p -> 640x640", big_bgr[..., ::-1].copy(), (640, 640))):
    pa = np.asarray(Image.fromarray(src).resize(size, Image.BILINEAR))
    pb = cv2.resize(src, size)
    noisy_a = np.clip(pa + np.random.default_rng(0).normal(0, 3, pa.shape), 0, 255).astype(np.uint8)
    noisy_b = np.clip(pb + np.random.default_rng(1).normal(0, 3, pb.shape), 0, 255).astype(np.uint8)
    row("%s: PIL vs cv2 found (stops at exact matches)" % label, lambda: resize.diagnose(pa, pb, {"i": src}, {"i": src}), 2)
    row("%s: no match, all 18 candidates" % label, lambda: resize.diagnose(noisy_a, noisy_b, {"i": src}, {"i": src}), 2)
    row("%s: no match, explain_tensor_pair budget 0.5" % label,
        lambda: explain_tensor_pair(noisy_a, noisy_b, stage="r", tensor="o", inputs_a={"i": src}, inputs_b={"i": src}, budget_s=0.5), 2)

print("== stage outputs")
rng = np.random.default_rng(0)
outs = {"o%d" % i: rng.normal(size=(1, 255, 80, 80)).astype(np.float32) for i in range(3)}
perm = {"o0": outs["o1"], "o1": outs["o2"], "o2": outs["o0"]}
row("output_order: 3 x 1x255x80x80 permuted", lambda: outputs.diagnose(outs, perm))
boxes = rng.uniform(0, 600, (300, 2)); boxes = np.concatenate([boxes, boxes + rng.uniform(20, 80, (300, 2))], 1)
scores = rng.uniform(0.2, 1, 300)
row("nms: 300 vs 290 boxes", lambda: nms.diagnose({"boxes": boxes, "scores": scores}, {"boxes": boxes[:290], "scores": scores[:290]}))
