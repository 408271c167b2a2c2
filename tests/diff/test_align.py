"""Pairing calls by (sample, stage, occurrence) and tensors by name, on recorded runs."""
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import bmtrace
from bmtrace.report.text import render
from bmtrace.diff.align import MISSING, align, pair_samples
from bmtrace.compare import Status
from bmtrace import diff
from bmtrace.errors import AlignmentError, UsageError
from .diff_helpers import make_pipeline, record

SAMPLES = ["cat.jpg", "dog.jpg", "bus.jpg", "car.jpg"]


def test_samples_in_another_order_pair_by_key(runs):
    """B processing the samples in reverse order still aligns."""
    result = diff(runs("a", SAMPLES), runs("b", SAMPLES[::-1]))
    assert result, str(result)
    assert result.samples["paired"] == 4


def test_samples_processed_by_threads_pair_by_key(tmp_path):
    """B processing samples on 4 worker threads (interleaved records) still aligns."""
    pipeline = make_pipeline()
    a = record(tmp_path / "a", SAMPLES * 2, pipeline)

    def one(key):
        with bmtrace.sample(key):
            pipeline(key)

    with bmtrace.run(str(tmp_path / "b")):
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(one, SAMPLES * 2))
    result = diff(a, str(tmp_path / "b"))
    assert result, str(result)
    # each sample ran twice: both occurrences pair
    assert {e.occurrence for e in result.stages} == {0, 1}


def test_samples_from_threads_detect_a_planted_difference(tmp_path):
    """Threads do not mix samples up: only the planted sample diverges."""
    good, bad = make_pipeline(), make_pipeline(resize_shift=3)
    a = record(tmp_path / "a", SAMPLES, good)

    def one(key):
        with bmtrace.sample(key):
            (bad if key == "bus.jpg" else good)(key)

    with bmtrace.run(str(tmp_path / "b")):
        threads = [threading.Thread(target=one, args=(k,)) for k in SAMPLES]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    result = diff(a, str(tmp_path / "b"))
    assert {e.sample for e in result.stages if e.status == Status.DIVERGED} == {"bus.jpg"}


def test_repeated_stage_within_a_sample_pairs_by_occurrence(tmp_path):
    """The second call of a stage in a sample pairs with the other run's second call."""

    def prog(second):
        def run(key):
            for value in (1.0, second):
                with bmtrace.trace_stage("step") as st:
                    st.output(np.full(3, value))
        return run

    result = diff(record(tmp_path / "a", ["s"], prog(2.0)), record(tmp_path / "b", ["s"], prog(9.0)))
    assert [(e.occurrence, e.status) for e in result.stages] == [(0, "aligned"), (1, "diverged")]
    assert result.first_divergence.occurrence == 1


def test_stage_map_pairs_differently_named_stages(runs):
    """--map resize=rsz pairs A's resize with B's rsz."""
    a, b = runs("a"), runs("b", names={"resize": "rsz"})
    assert not diff(a, b)
    result = diff(a, b, stage_map={"resize": "rsz"})
    assert result, str(result)
    assert {e.stage_b for e in result.stages if e.stage == "resize"} == {"rsz"}


def test_map_file_pairs_stages(runs, tmp_path):
    """A mapping file does what --map does."""
    path = tmp_path / "stages.map"
    path.write_text("resize = rsz\ninfer = bmrt_infer\n")
    b = runs("b", names={"resize": "rsz", "infer": "bmrt_infer"})
    assert diff(runs("a"), b, map_file=str(path))


def test_map_to_a_missing_stage_warns(runs):
    """A map entry naming a stage B does not have is reported, listing B's stages."""
    result = diff(runs("a"), runs("b"), stage_map={"resize": "nope"})
    assert any("nope" in w and "decode" in w for w in result.warnings)


def test_map_sending_two_stages_to_one_is_a_usage_error(runs):
    """Two A stages cannot both pair with one B stage."""
    with pytest.raises(UsageError):
        diff(runs("a"), runs("b"), stage_map={"resize": "x", "decode": "x"})


def test_nothing_paired_lists_both_sides(tmp_path):
    """Disjoint stage names raise AlignmentError naming every stage and sample on both sides."""
    a = record(tmp_path / "a", ["cat.jpg"], make_pipeline())
    b = record(tmp_path / "b", ["cat.jpg"], make_pipeline(
        names={"decode": "d", "resize": "r", "normalize": "n", "infer": "i"}))
    with pytest.raises(AlignmentError) as info:
        diff(a, b)
    text = str(info.value)
    for name in ("decode", "resize", "normalize", "infer", "cat.jpg", "--map"):
        assert name in text
    assert "stages:  d, r, n, i" in text


def test_disjoint_samples_raise_alignment_error(tmp_path):
    """No sample in common is an AlignmentError too, listing the samples."""
    a = record(tmp_path / "a", ["cat.jpg"])
    b = record(tmp_path / "b", ["dog.png"])
    with pytest.raises(AlignmentError, match="dog.png"):
        diff(a, b)


def test_sample_keys_with_different_directories_pair_by_file_name(tmp_path):
    """'/data/a/cat.jpg' pairs with 'cat.jpg', with a warning saying so."""
    pipeline = make_pipeline()

    def by_name(key):
        return pipeline(key.rsplit("/", 1)[-1])

    a = record(tmp_path / "a", ["/data/val/cat.jpg", "/data/val/dog.jpg"], by_name)
    b = record(tmp_path / "b", ["cat.jpg", "dog.jpg"], pipeline)
    result = diff(a, b)
    assert result, str(result)
    assert any("file name" in w for w in result.warnings)


def test_pair_samples_keeps_none_as_a_real_key():
    """Records outside any sample (key None) pair with each other, not with missing samples."""
    warnings = []
    assert pair_samples([None, "x"], [None], warnings) == [(None, None), ("x", MISSING)]


def test_tensors_pair_by_name_regardless_of_order(tmp_path):
    """Named outputs recorded in another order still pair by name."""

    def prog(order):
        def run(key):
            with bmtrace.trace_stage("post") as st:
                values = {"boxes": np.zeros((2, 4)), "scores": np.ones(2)}
                st.output(**{k: values[k] for k in order})
        return run

    result = diff(record(tmp_path / "a", ["s"], prog(["boxes", "scores"])),
                  record(tmp_path / "b", ["s"], prog(["scores", "boxes"])))
    assert result
    assert not result.warnings


def test_tensors_with_different_names_pair_by_position_with_a_warning(tmp_path):
    """Unmatched names fall back to position, and the diff says so."""

    def prog(name):
        def run(key):
            with bmtrace.trace_stage("infer") as st:
                st.output(**{name: np.arange(4.0)})
        return run

    result = diff(record(tmp_path / "a", ["s"], prog("logits")),
                  record(tmp_path / "b", ["s"], prog("output0")))
    assert result
    (tensor,) = result.stages[0].tensors
    assert (tensor.name, tensor.name_b) == ("logits", "output0")
    assert any("position" in w and "logits=output0" in w for w in result.warnings)


def test_output_missing_on_one_side_is_reported_not_failed(tmp_path):
    """An output recorded only in A is reported in the row; the outputs that pair decide the stage."""

    def prog(with_scores):
        def run(key):
            with bmtrace.trace_stage("post") as st:
                st.output(boxes=np.zeros(4))
                if with_scores:
                    st.output(scores=np.ones(2))
        return run

    result = diff(record(tmp_path / "a", ["s"], prog(True)),
                  record(tmp_path / "b", ["s"], prog(False)))
    entry = result.stages[0]
    assert entry.status == Status.ALIGNED
    assert [t.status for t in entry.tensors] == ["equal", "only_in_a"]
    assert "output scores only in A" in render(result)


def test_call_with_no_output_in_common_diverges(tmp_path):
    """A call whose outputs are all missing on the other side is a divergence."""

    def prog(with_output):
        def run(key):
            with bmtrace.trace_stage("post") as st:
                st.input(x=np.zeros(2))
                if with_output:
                    st.output(boxes=np.zeros(4))
        return run

    result = diff(record(tmp_path / "a", ["s"], prog(True)), record(tmp_path / "b", ["s"], prog(False)))
    assert result.stages[0].status == Status.DIVERGED



def test_extra_input_on_one_side_does_not_fail_the_stage(tmp_path):
    """B passing an extra argument is reported but the stage stays aligned."""

    def prog(extra):
        def run(key):
            with bmtrace.trace_stage("resize") as st:
                st.input(img=np.zeros(4))
                if extra:
                    st.input(interpolation=1)
                st.output(np.zeros(2))
        return run

    result = diff(record(tmp_path / "a", ["s"], prog(False)),
                  record(tmp_path / "b", ["s"], prog(True)))
    entry = result.stages[0]
    assert entry.status == Status.ALIGNED
    assert [t.status for t in entry.tensors if t.role == "input"] == ["equal", "only_in_b"]


def test_align_orders_pairs_by_run_a(runs):
    """Pairs follow run A's samples and recording order."""
    run_a = bmtrace.open_run(runs("a", ["x.jpg", "y.jpg"]))
    run_b = bmtrace.open_run(runs("b", ["y.jpg", "x.jpg"]))
    pairs = align(run_a, run_b).pairs
    assert [(p.sample, p.stage) for p in pairs[:5]] == [
        ("x.jpg", "decode"), ("x.jpg", "resize"), ("x.jpg", "normalize"), ("x.jpg", "infer"),
        ("y.jpg", "decode")]


def test_map_away_from_a_shared_name_does_not_pair_the_namesake(tmp_path):
    """--map resize=resize_v2 pairs A's resize with B's resize_v2, not with B's old resize."""

    def prog(stages):
        def run(key):
            for name, value in stages:
                with bmtrace.trace_stage(name) as st:
                    st.output(np.full(2, value))
        return run

    a = record(tmp_path / "a", ["s"], prog([("resize", 1.0)]))
    b = record(tmp_path / "b", ["s"], prog([("resize", 9.0), ("resize_v2", 1.0)]))
    result = diff(a, b, stage_map={"resize": "resize_v2"})
    statuses = {(e.stage, e.stage_b): e.status for e in result.stages}
    assert statuses[("resize", "resize_v2")] == Status.ALIGNED
    assert statuses[("resize (run B)", "resize")] == Status.ONLY_IN_B
