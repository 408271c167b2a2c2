"""The reference program of the substitution tests: PIL resize, torch model and post-processing.

Run under BMTRACE_DIR (as `bmtrace record` does); prints one "SAMPLE top1 CLASS" line per sample.
"""
import sys

import numpy as np
import torch
from PIL import Image

import bmtrace
from common import N_SAMPLES, SIZE, decode, weights


@bmtrace.trace_stage("resize")
def resize(img):
    return img.resize((SIZE, SIZE), Image.BILINEAR)


def normalize(img):
    with bmtrace.trace_stage("normalize") as st:
        img = st.input(img=img)
        x = (np.asarray(img, dtype=np.float32) / 255.0 - 0.5) / 0.25
        return st.output(np.ascontiguousarray(x.transpose(2, 0, 1)[np.newaxis]))


@bmtrace.trace_stage("infer")
def infer(x):
    return x.reshape(1, -1) @ torch.from_numpy(weights()).T


@bmtrace.trace_stage("postprocess", kind="classification")
def postprocess(logits):
    return torch.softmax(logits, dim=1)


def main():
    for i in range(N_SAMPLES):
        with bmtrace.sample("img%d" % i):
            img = resize(Image.fromarray(decode(i)))
            x = torch.from_numpy(normalize(img))
            probs = postprocess(infer(x))
            print("img%d top1 %d" % (i, int(probs.argmax())))


if __name__ == "__main__":
    sys.exit(main())
