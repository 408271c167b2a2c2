"""Per cause: the smallest planted difference bmtrace.explain still names, and its time per pair.

A ladder that never fails reports its last (weakest) rung: the true limit is smaller.
Each row plants one cause with a strength knob on real library output (cv2, PIL, torchvision,
numpy), walks the knob down a ladder, and reports the weakest setting at which the cause is still
the hint given, with the pair's max abs diff there, and the time explain_tensor_pair takes on
that pair (best of 3, budget 10 s so nothing is skipped) and the diagnosis alone.

Run: python benchmarks/bench_explain.py   (torch threads = 1; prints the load average: timings on a
busy machine are inflated)
"""
import json
import os
import time

import cv2
import matplotlib
import numpy as np
import torch
import torchvision.ops as ops
from PIL import Image

from bmtrace.compare.representation import find_mapping
from bmtrace.explain import Evidence, catalogue, explain_stage_outputs, explain_tensor_pair, resize

torch.set_num_threads(1)
PATH = os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "sample_data", "grace_hopper.jpg")
BGR = cv2.imread(PATH)
RGB = BGR[..., ::-1].copy()
SMALL = cv2.resize(RGB, (224, 224), interpolation=cv2.INTER_AREA)
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
ENTRIES = {e.name: e for e in catalogue.PAIR}
STAGE_ENTRIES = {e.name: e for e in catalogue.STAGE}


def norm(x, mean=MEAN, std=STD):
    return ((x.astype(np.float32) / 255 - mean) / std).transpose(2, 0, 1)[None].astype(np.float32)


def best_ms(fn, n=3):
    best = 1e9
    for _ in range(n):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best * 1e3


def max_abs(a, b):
    try:
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        if a.shape != b.shape:
            return "shape %s vs %s" % (a.shape, b.shape)
        d = np.abs(a - b)
        d = d[np.isfinite(d)]
        return "%.3g" % (d.max() if d.size else float("nan"))
    except Exception:
        return "-"


class Case:
    """One cause: make(knob) -> (a, b, kwargs); knobs from strong to weak."""

    def __init__(self, cause, knob, knobs, make, entry, stage_level=False):
        self.cause, self.knob, self.knobs, self.make, self.entry = cause, knob, knobs, make, entry
        self.stage_level = stage_level

    def hints(self, a, b, kw):
        if self.stage_level:
            return explain_stage_outputs(a, b, stage="s", budget_s=10, **kw)
        return explain_tensor_pair(a, b, stage="s", tensor="t", budget_s=10, **kw)

    def run(self):
        smallest = None
        for knob in self.knobs:
            a, b, kw = self.make(knob)
            if self.cause in [h.cause for h in self.hints(a, b, kw)]:
                smallest = (knob, a, b, kw)
            else:
                break
        if smallest is None:
            return [self.cause, self.knob, "not detected", "-", "-", "-"]
        knob, a, b, kw = smallest
        total = best_ms(lambda: self.hints(a, b, kw))
        entries = STAGE_ENTRIES if self.stage_level else ENTRIES
        entry = entries[self.entry]

        def alone():
            if self.stage_level:
                ev = Evidence.with_budget(10, stage="s", outputs_a=a, outputs_b=b, **kw)
            else:
                ev = Evidence.with_budget(10, stage="s", tensor="t", a=a, b=b, **kw)
            entry.run(ev)
        diag = best_ms(alone)
        diff = "-" if self.stage_level else max_abs(a, b)
        return [self.cause, self.knob, "%g" % knob if isinstance(knob, float) else str(knob), diff,
                "%.1f" % total, "%.1f" % diag]


# --- cases --------------------------------------------------------------------------------------

def saturated(s):
    grey = cv2.cvtColor(cv2.cvtColor(SMALL, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB).astype(np.float32)
    return np.clip(grey + s * (SMALL - grey), 0, 255).astype(np.uint8)


def channel_order(s):
    a = saturated(s)
    return a, a[..., ::-1].copy(), {}


def layout(n):
    a = SMALL[:n, :n]
    return a, a.reshape(3, n, n), {}


def value_scale(eps):
    a = norm(SMALL)
    return a, (a * np.float32(1 + eps)).astype(np.float32), {}


def normalization(delta):
    return norm(SMALL), norm(SMALL, mean=MEAN + np.float32(delta)), {}


def resize_method(ratio):
    size = (int(round(SMALL.shape[1] * ratio)), int(round(SMALL.shape[0] * ratio)))
    a = np.asarray(Image.fromarray(SMALL).resize(size, Image.BILINEAR))
    b = cv2.resize(SMALL, size, interpolation=cv2.INTER_LINEAR)
    return a, b, {"inputs_a": {"img": SMALL}, "inputs_b": {"img": SMALL}}


def letterbox(img, value=114, new=256, auto=False, stride=32, top_left=False):
    h, w = img.shape[:2]
    r = min(new / h, new / w)
    nw, nh = int(round(w * r)), int(round(h * r))
    dw, dh = new - nw, new - nh
    if auto:
        dw, dh = dw % stride, dh % stride
    img = cv2.resize(img, (nw, nh))
    top, left = (0, 0) if top_left else (dh // 2, dw // 2)
    return cv2.copyMakeBorder(img, top, dh - top, left, dw - left, cv2.BORDER_CONSTANT, value=(value,) * 3)


def padding(delta):
    src = RGB[:, :400]
    return letterbox(src, 114), letterbox(src, 114 - int(delta)), {}


def letterbox_shape(stride):
    src = RGB[:, :380]
    return letterbox(src, new=640, auto=True, stride=32), letterbox(src, new=640, auto=True, stride=stride), {}


def dtype_rounding(scale):
    a = cv2.resize(SMALL.astype(np.float32), (200, 180), interpolation=cv2.INTER_CUBIC).clip(0, 255) * scale
    return a, a.astype(np.uint8), {}


def precision_case(kind):
    a = norm(SMALL)
    b = torch.from_numpy(a).to(getattr(torch, kind)).float().numpy() if kind != "float32+1ulp" else \
        np.nextafter(a, np.float32(np.inf))
    conv = torch.nn.Conv2d(3, 8, 3)
    torch.manual_seed(0)
    with torch.no_grad():
        fa = conv(torch.from_numpy(a)).numpy()
        fb = conv.to(getattr(torch, kind))(torch.from_numpy(a).to(getattr(torch, kind))).float().numpy()
    return fa, fb, {}


def detections(n_boxes=60, seed=5):
    rng = np.random.default_rng(seed)
    x1 = rng.uniform(-20, 600, n_boxes)
    y1 = rng.uniform(40, 460, n_boxes)
    boxes = np.stack([x1, y1, x1 + rng.uniform(30, 120, n_boxes), y1 + rng.uniform(30, 120, n_boxes)], 1)
    return np.concatenate([boxes, rng.uniform(0.3, 0.9, (n_boxes, 1)), np.zeros((n_boxes, 1))], 1)


def box_clip(px):
    det = detections()
    a, b = det.copy(), det.copy()
    a[:, [0, 2]] = a[:, [0, 2]].clip(0, 600)
    b[:, [0, 2]] = b[:, [0, 2]].clip(0, 600 - px)
    a[:, [1, 3]] = a[:, [1, 3]].clip(0, 512)
    b[:, [1, 3]] = b[:, [1, 3]].clip(0, 512 - px)
    return a, b, {}


def box_offset(px):
    det = detections()
    det[:, :4] = det[:, :4].clip(1, 590)
    b = det.copy()
    b[:, [0, 2]] += px
    return det, b, {}


def candidates(seed=3):
    rng = np.random.default_rng(seed)
    boxes, scores = [], []
    for cx, cy in ((80, 90), (220, 120), (150, 260), (300, 300), (60, 330), (400, 200)):
        for _ in range(8):
            w, h = rng.uniform(50, 70), rng.uniform(50, 70)
            x, y = cx + rng.normal(0, 9), cy + rng.normal(0, 9)
            boxes.append([x - w / 2, y - h / 2, x + w / 2, y + h / 2])
            scores.append(rng.uniform(0.001, 0.95))
    return np.array(boxes, np.float32), np.array(scores, np.float32)


def thresholds(gap):
    boxes, scores = candidates()

    def post(conf):
        keep = scores >= conf
        idx = ops.nms(torch.from_numpy(boxes[keep]), torch.from_numpy(scores[keep]), 0.45).numpy()
        return np.concatenate([boxes[keep][idx], scores[keep][idx, None], np.zeros((len(idx), 1))], 1)
    return post(0.25), post(0.25 - gap), {}


def nonfinite(n):
    x = np.random.default_rng(0).normal(0, 20, (8, 1000)).astype(np.float32)
    x.ravel()[:n] = 95.0  # exp(95) overflows float32
    a = torch.softmax(torch.from_numpy(x), 1).numpy()
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(x)
        b = e / e.sum(1, keepdims=True)
    return a, b, {"inputs_a": {"x": x}, "inputs_b": {"x": x}}


def double_normalization(_):
    a = norm(SMALL)
    b = ((a.transpose(0, 2, 3, 1) - MEAN) / STD).transpose(0, 3, 1, 2).astype(np.float32)
    return a, b, {}


def input_scale(scale):
    a = norm(SMALL)
    b = np.clip(np.rint(a * scale), -128, 127).astype(np.int8)
    return a, b, {"model_b": {"inputs": [{"name": "x", "dtype": "int8", "scale": scale}]}}


def decoder(alpha):
    bgr = cv2.resize(BGR, (256, 256), interpolation=cv2.INTER_AREA)
    yuv = cv2.cvtColor(cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420), cv2.COLOR_YUV2BGR_I420)
    b = np.clip(np.rint(bgr + alpha * (yuv.astype(np.float32) - bgr)), 0, 255).astype(np.uint8)
    return bgr, b, {}


def json_rounding(decimals):
    det = detections()
    b = det.copy()
    b[:, :4] = np.round(det[:, :4], int(decimals))
    return det, b, {}


def scramble(n):
    a = SMALL[:n, :n + 1]
    h, w, _ = a.shape
    return a, np.ascontiguousarray(a.reshape(w, h, 3).transpose(1, 0, 2)), {}


def output_order(noise):
    rng = np.random.default_rng(0)
    outs = {"o%d" % i: rng.normal(size=(1, 255, 20, 20)).astype(np.float32) for i in range(3)}
    perm = {"o0": outs["o1"] + noise * rng.normal(size=outs["o1"].shape).astype(np.float32),
            "o1": outs["o2"], "o2": outs["o0"]}
    return outs, perm, {}


CASES = [
    Case("channel_order", "colour saturation s (A = grey + s*(colour-grey))", [1.0, 0.3, 0.1, 0.03, 0.01, 0.003], channel_order, "structure"),
    Case("layout", "image side n (HWC reshaped to CHW)", [64, 16, 8, 4, 2], layout, "structure"),
    Case("value_scale", "eps in B = A*(1+eps)", [1.0, 0.1, 0.01, 0.001, 1e-4], value_scale, "value"),
    Case("normalization", "mean offset delta (0..1 units)", [0.1, 0.01, 0.001, 1e-4, 1e-5], normalization, "value"),
    Case("resize_method", "resize ratio (PIL bilinear vs cv2 linear)", [0.5, 0.8, 0.9, 0.95, 0.99], resize_method, "resize_method"),
    Case("padding", "pad value 114 vs 114-d", [114.0, 50.0, 10.0, 2.0, 1.0], padding, "padding"),
    Case("padding", "box offset px (boxes)", [1.0, 0.1, 0.01, 0.001], box_offset, "box_clip"),
    Case("letterbox_shape", "stride of B (A: 32)", [128, 64], letterbox_shape, "letterbox_shape"),
    Case("dtype_rounding", "pixel scale (astype truncation)", [1.0, 0.1, 0.02], dtype_rounding, "dtype_rounding"),
    Case("precision", "compute dtype of B's conv", ["bfloat16", "float16"], precision_case, "precision"),
    Case("box_clip", "clip bound difference px", [20.0, 5.0, 1.0, 0.5, 0.1], box_clip, "box_clip"),
    Case("thresholds", "conf threshold gap", [0.2, 0.05, 0.02, 0.01, 0.005], thresholds, "thresholds"),
    Case("nonfinite", "overflowing logits (of 8000)", [100, 10, 1], nonfinite, "nonfinite"),
    Case("double_normalization", "second ImageNet pass", ["x2"], double_normalization, "double_normalization"),
    Case("input_scale", "int8 input scale", [50.0, 10.0, 2.0], input_scale, "input_scale"),
    Case("decoder", "blend alpha toward the YUV420 decode", [1.0, 0.5, 0.3, 0.2, 0.1], decoder, "decoder"),
    Case("json_rounding", "decimals kept", [1, 3, 5, 6], json_rounding, "json_rounding"),
    Case("layout", "scramble: view(W,H,3).permute(1,0,2), side n", [64, 16, 4], scramble, "scramble"),
    Case("output_order", "noise on one permuted output (sigma)", [0.0, 0.05, 0.1, 0.2], output_order, "output_order", stage_level=True),
]


def find_mapping_rows():
    rows = []
    big_bgr = cv2.resize(BGR, (1920, 1080))
    big_rgb = big_bgr[..., ::-1].copy()
    for label, a, b in (
            ("224 BGR vs RGB", SMALL, SMALL[..., ::-1].copy()),
            ("1080p BGR vs RGB", big_rgb, big_bgr),
            ("1080p HWC uint8 vs 1x3xHxW BGR /255 float32", big_rgb,
             np.ascontiguousarray(big_bgr.transpose(2, 0, 1))[None].astype(np.float32) / 255),
            ("1080p real difference (no mapping)", big_rgb, cv2.GaussianBlur(big_rgb, (3, 3), 0)),
            ("1080p reshape scramble (no mapping)", big_rgb, big_rgb.reshape(1, 3, 1080, 1920))):
        ms = best_ms(lambda: find_mapping(a, b))
        m = find_mapping(a, b)
        rows.append((label, "%.1f" % ms, m.describe() if m else "None"))
    return rows


def table(header, rows):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "  ".join(str(v).ljust(w) for v, w in zip(r, widths))
    print(line(header))
    print(line(["-" * w for w in widths]))
    for r in rows:
        print(line(r))


def main():
    print("load average: %s; backends: %s" % (" ".join("%.1f" % v for v in os.getloadavg()), resize.preload()))
    rows = [case.run() for case in CASES]
    table(["cause", "knob", "smallest detected", "max abs diff there", "explain ms", "diagnosis ms"], rows)
    print()
    table(["find_mapping", "ms", "result"], find_mapping_rows())
    return rows


if __name__ == "__main__":
    main()
