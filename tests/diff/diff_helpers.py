"""Helpers that record real runs through the public API for the diff tests.

Kept out of conftest.py so that test modules can import them explicitly.
"""
import zlib

import numpy as np
import bmtrace


def sample_image(key, size=(24, 32)):
    """A deterministic uint8 HWC image for a sample key (same key, same pixels, any process)."""
    rng = np.random.default_rng(zlib.crc32(str(key).encode()))
    return rng.integers(0, 256, size=size + (3,), dtype=np.uint8)


def make_pipeline(resize_shift=0, scale=255.0, logits_noise=0.0, fail_on=None, names=None):
    """A decode -> resize -> normalize -> infer pipeline with optional planted differences.

    Args:
        resize_shift: added to the resized uint8 image (a planted preprocessing difference).
        scale: divisor in normalize (255 in the original).
        logits_noise: added to the logits (a small runtime difference).
        fail_on: sample key whose infer call raises.
        names: stage name overrides, e.g. {"resize": "rsz"}.
    """
    names = dict({"decode": "decode", "resize": "resize", "normalize": "normalize",
                  "infer": "infer"}, **(names or {}))
    weights = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)

    @bmtrace.trace_stage(names["decode"])
    def decode(key):
        return sample_image(key)

    @bmtrace.trace_stage(names["resize"])
    def resize(img):
        small = img[::2, ::2]
        if resize_shift:
            small = (small.astype(np.int16) + resize_shift).clip(0, 255).astype(np.uint8)
        return small

    @bmtrace.trace_stage(names["normalize"])
    def normalize(img):
        return (img.astype(np.float32) / np.float32(scale)).transpose(2, 0, 1)

    @bmtrace.trace_stage(names["infer"])
    def infer(x, key):
        if key == fail_on:
            raise RuntimeError("device out of memory")
        logits = x.mean(axis=(1, 2)) @ weights
        return logits + np.float32(logits_noise)

    def run_sample(key):
        try:
            return infer(normalize(resize(decode(key))), key)
        except RuntimeError:
            return None

    return run_sample


def record(path, samples, pipeline=None, side=None, mode="full", **kwargs):
    """Record ``pipeline`` over ``samples`` (each inside bmtrace.sample) into run ``path``."""
    pipeline = pipeline or make_pipeline()
    with bmtrace.run(str(path), side=side, mode=mode, **kwargs):
        for key in samples:
            with bmtrace.sample(key):
                pipeline(key)
    return str(path)
