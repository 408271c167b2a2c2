"""A small classifier pipeline in the style of a PyTorch original: cv2 decode, resize, normalise.

Usage: python original.py IMAGE_DIR
"""
import os
import sys

import cv2
import numpy as np

import bmtrace

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


@bmtrace.trace_stage("decode", meta={"color": "BGR", "layout": "HWC"})
def decode(path):
    return cv2.imread(path, cv2.IMREAD_COLOR)


@bmtrace.trace_stage("resize")
def resize(img, size=(48, 40)):
    return cv2.resize(img, size, interpolation=cv2.INTER_LINEAR)


@bmtrace.trace_stage("normalize", meta={"layout": "CHW"})
def normalize(img):
    rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
    return ((rgb - MEAN) / STD).transpose(2, 0, 1)


@bmtrace.trace_stage("infer")
def infer(x):
    rng = np.random.default_rng(0)
    weights = rng.standard_normal((x.size, 5)).astype(np.float32) / np.sqrt(x.size)
    return x.reshape(-1) @ weights


@bmtrace.trace_stage("postprocess")
def postprocess(logits):
    e = np.exp(logits - logits.max())
    probs = e / e.sum()
    return {"label": int(probs.argmax()), "probs": probs}


def main(image_dir):
    for name in sorted(os.listdir(image_dir)):
        with bmtrace.sample(name):
            result = postprocess(infer(normalize(resize(decode(os.path.join(image_dir, name))))))
        print(name, result["label"])


if __name__ == "__main__":
    main(sys.argv[1])
