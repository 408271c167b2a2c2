"""Comparing tensor pairs: metrics (pure numpy), tolerance rules, and result values.

Example:
    >>> import numpy as np
    >>> from bmtrace.compare import compare_arrays
    >>> r = compare_arrays(np.float32([1, 2]), np.float32([1, 2.0005]))
    >>> r.status, bool(r)
    ('close', True)
"""
from .metrics import ArrayMetrics, array_metrics, psnr
from .pairs import compare_arrays, compare_values, looks_like_image, pair_is_float
from .records import compare_records, compare_stats
from .results import StageComparison, Status, TensorComparison
from .tolerance import (
    Tolerance,
    ToleranceRules,
    load_config,
    load_map_file,
    parse_map_option,
    parse_tol_option,
)

__all__ = [
    "ArrayMetrics",
    "StageComparison",
    "Status",
    "TensorComparison",
    "Tolerance",
    "ToleranceRules",
    "array_metrics",
    "compare_arrays",
    "compare_records",
    "compare_stats",
    "compare_values",
    "load_config",
    "load_map_file",
    "looks_like_image",
    "pair_is_float",
    "parse_map_option",
    "parse_tol_option",
    "psnr",
]
