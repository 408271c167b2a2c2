"""Diffing two runs: pairing (``align``), per-pair comparison (``pairs``), results (``result``) and the
orchestrating ``diff()`` (``engine``)."""
from .engine import build_rules, diff
from .result import DiffResult, FirstDivergence, StageSummary

__all__ = ["DiffResult", "FirstDivergence", "StageSummary", "build_rules", "diff"]
