"""The port of original.py: numpy everywhere, OpenCV resize (or PIL with --resize pil), a `with`-block
normalize that swaps channels with --swap, and a model stage with other parameter names.

Usage: python port.py [--resize cv2|pil] [--swap] [--marker FILE]
(--marker FILE: touch FILE when run, so tests can tell whether a recorded command was executed)
"""
import argparse
import sys

import cv2
import numpy as np
from PIL import Image

import bmtrace
from common import N_SAMPLES, SIZE, decode, weights

ARGS = None


@bmtrace.trace_stage("resize")
def resize(img):
    if ARGS.resize == "pil":
        return np.asarray(Image.fromarray(img).resize((SIZE, SIZE), Image.BILINEAR))
    return cv2.resize(img, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR)


def normalize(img):
    with bmtrace.trace_stage("normalize") as st:
        img = st.input(img=img)
        if ARGS.swap:
            img = img[..., ::-1]  # the planted bug: BGR fed to an RGB model
        x = (img.astype(np.float32) / 255.0 - 0.5) / 0.25
        return st.output(np.ascontiguousarray(x.transpose(2, 0, 1)[np.newaxis]))


@bmtrace.trace_stage("infer")
def predict(input_img, img_num):
    return (input_img.reshape(img_num, -1) @ weights().T).astype(np.float32)


@bmtrace.trace_stage("postprocess", kind="classification")
def postprocess(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--resize", choices=("cv2", "pil"), default="cv2")
    parser.add_argument("--swap", action="store_true")
    parser.add_argument("--marker")
    ARGS = parser.parse_args()
    if ARGS.marker:
        open(ARGS.marker, "w").close()
    for i in range(N_SAMPLES):
        with bmtrace.sample("img%d" % i):
            img = resize(decode(i))
            probs = postprocess(predict(normalize(img), 1))
            print("img%d top1 %d" % (i, int(probs.argmax())))


if __name__ == "__main__":
    sys.exit(main())
