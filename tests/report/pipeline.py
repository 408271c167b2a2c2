"""A small real image-classification pipeline (cv2 + numpy), recorded with bmtrace, for report tests.

Six stages: decode -> resize -> to_rgb -> normalize -> infer -> postprocess. Side "B" can plant a
difference in one stage (resize with nearest-neighbour instead of bilinear, as ports often do), so
the report has a real first divergence that propagates downstream.
"""
from __future__ import annotations

import os

import numpy as np

import bmtrace

STAGES = ("decode", "resize", "to_rgb", "normalize", "infer", "postprocess")
MEAN = np.float32([0.485, 0.456, 0.406])
STD = np.float32([0.229, 0.224, 0.225])


def write_images(directory, n, size=96):
    """Write n distinct PNG test pictures (gradients with shapes) and return their paths."""
    import cv2

    os.makedirs(directory, exist_ok=True)
    paths = []
    yy, xx = np.mgrid[0:size, 0:size]
    for i in range(n):
        img = np.zeros((size, size, 3), np.uint8)
        img[..., 0] = (xx * 255 // size + 17 * i) % 256
        img[..., 1] = (yy * 255 // size + 31 * i) % 256
        img[..., 2] = ((xx + yy) * 127 // size + 7 * i) % 256
        cv2.circle(img, (size // 3 + i % 20, size // 2), size // 5, (255, 255, 255), -1)
        cv2.rectangle(img, (size // 2, size // 4), (size - 8, size // 2 + i % 16), (0, 0, 200), 2)
        path = os.path.join(directory, "img_%03d.png" % i)
        cv2.imwrite(path, img)
        paths.append(path)
    return paths


WEIGHTS = np.random.default_rng(0).standard_normal((3 * 8 * 8, 100)).astype(np.float32)  # 100 classes

# Module-level stage functions (not methods) so that isolation replay can import and call them.


@bmtrace.trace_stage("decode", meta={"color": "BGR", "layout": "HWC"})
def decode(path):
    import cv2

    return cv2.imread(path, cv2.IMREAD_COLOR)


@bmtrace.trace_stage("resize", meta={"color": "BGR", "layout": "HWC"})
def resize_linear(img, size):
    import cv2

    return cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR)


@bmtrace.trace_stage("resize", meta={"color": "BGR", "layout": "HWC"})
def resize_nearest(img, size):
    import cv2

    return cv2.resize(img, (size, size), interpolation=cv2.INTER_NEAREST)


@bmtrace.trace_stage("to_rgb", meta={"layout": "HWC"})
def to_rgb(img):
    import cv2

    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


@bmtrace.trace_stage("normalize", meta={"layout": "CHW"})
def normalize(img):
    x = (img.astype(np.float32) / 255.0 - MEAN) / STD
    return np.ascontiguousarray(x.transpose(2, 0, 1))


@bmtrace.trace_stage("normalize", meta={"layout": "CHW"})
def normalize_scaled(img):
    x = (img.astype(np.float32) / 255.0 - MEAN) / STD * np.float32(1.01)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


@bmtrace.trace_stage("infer")
def infer(x):
    import cv2

    pooled = cv2.resize(x.transpose(1, 2, 0), (8, 8), interpolation=cv2.INTER_AREA)
    return pooled.transpose(2, 0, 1).reshape(-1) @ WEIGHTS


@bmtrace.trace_stage("postprocess")
def postprocess(logits):
    e = np.exp(logits - logits.max())
    probs = e / e.sum()
    top = np.argsort(-probs)[:3]
    return {"labels": top.astype(np.int64), "scores": probs[top].astype(np.float32)}


def run_pipeline(path, planted=None, size=64):
    """One picture through the six stages; `planted` swaps in B's different resize or normalize."""
    resize = resize_nearest if planted == "resize" else resize_linear
    norm = normalize_scaled if planted == "normalize" else normalize
    return postprocess(infer(norm(to_rgb(resize(decode(path), size)))))


def record(run_dir, side, image_paths, planted=None, mode="full", size=64):
    """Record one side's run over the images (network input size x size) and return its path."""
    with bmtrace.run(run_dir, side=side, mode=mode, overwrite=True):
        for path in image_paths:
            with bmtrace.sample(os.path.basename(path)):
                run_pipeline(path, planted if side == "B" else None, size)
    return run_dir


def record_pair(directory, n_samples=3, planted="resize", mode="full", image_size=96, size=64):
    """Record runs A and B of the pipeline over n_samples pictures; returns (path_a, path_b)."""
    images = write_images(os.path.join(directory, "images"), n_samples, image_size)
    a = record(os.path.join(directory, "run_a"), "A", images, None, mode, size)
    b = record(os.path.join(directory, "run_b"), "B", images, planted, mode, size)
    return a, b


def make_doc(run_a, run_b):
    """The diff JSON document of two runs."""
    from bmtrace.diff import diff

    return diff(run_a, run_b).to_json()


def as_result(doc):
    """The DiffResult a (possibly edited) diff document stands for, as `report --diff-json` reads it."""
    from bmtrace.diff import DiffResult

    return DiffResult.from_json(doc)
