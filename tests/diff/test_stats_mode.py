"""Runs recorded in stats mode (no payloads) compare by content hash and statistics."""
import numpy as np

import bmtrace
from bmtrace.report.text import render
from bmtrace.compare import Status
from bmtrace import diff
from .diff_helpers import record


def _stages(result, name):
    return [e for e in result.stages if e.stage == name]


def test_identical_stats_runs_are_equal_by_hash(runs):
    """Bit-identical tensors are EQUAL from their hashes alone."""
    result = diff(runs("a", mode="stats"), runs("b", mode="stats"))
    assert result
    tensors = [t for e in result.stages for t in e.tensors if t.role == "output"]
    assert {t.basis for t in tensors} == {"hash"}
    assert {t.status for t in tensors} == {Status.EQUAL}


def test_integer_difference_in_stats_mode_diverges(runs):
    """A uint8 resize shifted by one differs by hash, so it diverges (integers must be equal)."""
    result = diff(runs("a", mode="stats"), runs("b", mode="stats", resize_shift=1))
    assert result.first_divergence.stage == "resize"
    out = [t for t in _stages(result, "resize")[0].tensors if t.name == "out"][0]
    assert out.basis == "sketch"  # stats-mode records carry a sketch (bmtrace.codecs.sketch)


def _ramp_program(offset, size=100):
    """A program whose infer stage outputs a 0..1 ramp shifted by ``offset``."""
    def run(key):
        with bmtrace.trace_stage("infer") as st:
            st.output(np.linspace(0, 1, size) + offset)
    return run


def test_large_float_difference_is_bounded_from_statistics(tmp_path):
    """Means 0.5 apart diverge, and the reported max abs diff is a lower bound (>= 0.5)."""
    result = diff(record(tmp_path / "a", ["s"], _ramp_program(0.0), mode="stats"),
                  record(tmp_path / "b", ["s"], _ramp_program(0.5), mode="stats"))
    (tensor,) = result.stages[0].tensors
    assert tensor.status == Status.DIVERGED
    assert tensor.max_abs_diff >= 0.5 - 1e-12
    assert tensor.max_abs_diff <= 0.5 + 1e-12


def test_tiny_float_difference_with_other_hash_is_unverified(tmp_path):
    """Statistics within atol but different contents are UNVERIFIED, never aligned, and say why."""
    # larger than a sketch: a sketch holding every element would make the comparison exact (CLOSE)
    result = diff(record(tmp_path / "a", ["s"], _ramp_program(0.0, 50000), mode="stats"),
                  record(tmp_path / "b", ["s"], _ramp_program(1e-5, 50000), mode="stats"))
    (tensor,) = result.stages[0].tensors
    assert tensor.status == Status.UNVERIFIED
    assert not result and result.verdict == "UNVERIFIED" and result.exit_code == 3
    assert any("full mode" in n for n in tensor.notes)


def test_nan_count_difference_diverges_in_stats_mode(tmp_path):
    """A NaN present on one side only diverges even without payloads."""

    def prog(value):
        def run(key):
            with bmtrace.trace_stage("infer") as st:
                st.output(np.array([1.0, 2.0, value]))
        return run

    result = diff(record(tmp_path / "a", ["s"], prog(3.0), mode="stats"),
                  record(tmp_path / "b", ["s"], prog(np.nan), mode="stats"))
    assert result.stages[0].tensors[0].status == Status.DIVERGED


def test_stats_run_against_full_run(runs):
    """A full run against a stats run compares by statistics where payloads are missing."""
    result = diff(runs("a"), runs("b", mode="stats", resize_shift=2))
    out = [t for t in _stages(result, "resize")[0].tensors if t.name == "out"][0]
    assert out.basis == "stats"
    assert result.first_divergence.stage == "resize"
    assert any("stats mode" in n for e in result.stages for n in e.notes)


def test_table_marks_statistical_bounds(runs):
    """In the table, a max abs diff known only from sampled values reads '>=' (a lower bound); one from a
    sketch that kept the whole tensor (the 10 logits) is exact and reads without it."""
    table = render(diff(runs("a", mode="stats"), runs("b", mode="stats", resize_shift=2, logits_noise=0.05)))
    rows = {line.split()[1] if line.startswith(">>") else line.split()[0]: line
            for line in table.splitlines() if "DIVERGED" in line}
    assert ">=0.0078" in rows["normalize"]  # 3x24x24 float32: 2.3 KB, sampled
    assert ">=" not in rows["infer"] and " 0.05" in rows["infer"]
