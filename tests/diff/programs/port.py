"""The same pipeline as ported to the device: other stage code, threads, reversed sample order.

Usage: python port.py IMAGE_DIR [--resize nearest|linear]
The default nearest-neighbour resize is the planted difference the end-to-end test must find.
"""
import argparse
import os
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

import bmtrace

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
INTERPOLATION = {"nearest": cv2.INTER_NEAREST, "linear": cv2.INTER_LINEAR}


class Pipeline:
    def __init__(self, interpolation):
        self.interpolation = interpolation

    @bmtrace.trace_stage("decode", meta={"color": "BGR", "layout": "HWC"})
    def decode(self, path):
        data = np.fromfile(path, dtype=np.uint8)
        return cv2.imdecode(data, cv2.IMREAD_COLOR)

    @bmtrace.trace_stage("resize")
    def resize(self, img, size=(48, 40)):
        return cv2.resize(img, size, interpolation=self.interpolation)

    @bmtrace.trace_stage("normalize", meta={"layout": "CHW"})
    def normalize(self, img):
        # The port normalises in one affine step, as a device convert_to would.
        rgb = img[..., ::-1].astype(np.float32)
        return ((rgb / 255.0 - MEAN) / STD).transpose(2, 0, 1)

    @bmtrace.trace_stage("infer")
    def infer(self, x):
        weights = np.random.default_rng(0).standard_normal((x.size, 5)).astype(np.float32)
        return x.reshape(-1) @ (weights / np.sqrt(x.size))

    @bmtrace.trace_stage("postprocess")
    def postprocess(self, logits):
        e = np.exp(logits - logits.max())
        probs = e / e.sum()
        return {"label": int(probs.argmax()), "probs": probs}

    def run(self, path):
        with bmtrace.sample(os.path.basename(path)):
            return self.postprocess(self.infer(self.normalize(self.resize(self.decode(path)))))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("image_dir")
    parser.add_argument("--resize", choices=sorted(INTERPOLATION), default="nearest")
    args = parser.parse_args()
    pipeline = Pipeline(INTERPOLATION[args.resize])
    paths = [os.path.join(args.image_dir, n) for n in sorted(os.listdir(args.image_dir))][::-1]
    with ThreadPoolExecutor(3) as pool:
        for path, result in zip(paths, pool.map(pipeline.run, paths)):
            print(os.path.basename(path), result["label"])


if __name__ == "__main__":
    main()
