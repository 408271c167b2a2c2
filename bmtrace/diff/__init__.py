"""Diffing two runs: pairing (``align``), per-pair comparison (``pairs``), results (``result``) and the
orchestrating ``diff()`` (``engine``)."""
from .engine import build_rules, diff
from .result import DiffResult, DiffWarning, FirstDivergence, StageSummary

__all__ = ["DiffResult", "DiffWarning", "FirstDivergence", "StageSummary", "build_rules", "diff"]
