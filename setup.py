"""Metadata lives in setup.cfg; this file declares the one optional C extension.

``bmtrace.compare._fused`` computes a tensor pair's metrics in one pass (about 3x the numpy sweep).
It is optional: without a C compiler the build skips it and ``bmtrace diff`` takes the numpy path,
which sums products in float32 (less accurate; wrong where float32 products overflow or underflow).
The recording path never uses it.
"""
from setuptools import Extension, setup

setup(ext_modules=[
    Extension(
        "bmtrace.compare._fused",
        ["bmtrace/compare/_fused.c"],
        # No fused multiply-add: min atol's d - |x| * rtol must round as numpy rounds it.
        extra_compile_args=["-ffp-contract=off"],
        optional=True,
    ),
])
