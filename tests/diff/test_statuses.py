"""Every stage status and the first divergence, on runs recorded with the public API."""
import numpy as np

import bmtrace
from bmtrace.report.text import render
from bmtrace.compare import Status
from bmtrace import diff


def test_identical_programs_are_aligned(runs):
    """Two runs of the same pipeline pass, with no first divergence."""
    result = diff(runs("a"), runs("b"))
    assert result
    assert result.first_divergence is None
    assert {e.status for e in result.stages} == {Status.ALIGNED}


def test_planted_resize_difference_is_the_first_divergence(runs):
    """A +1 shift planted in resize makes resize, not a later stage, the first divergence."""
    result = diff(runs("a"), runs("b", resize_shift=1))
    assert not result
    first = result.first_divergence
    assert (first.stage, first.sample, first.tensor) == ("resize", "a.jpg", "out")


def test_stages_before_the_divergence_stay_aligned(runs):
    """decode is aligned in every sample when only resize differs."""
    result = diff(runs("a"), runs("b", resize_shift=1))
    assert all(e.status == Status.ALIGNED for e in result.stages if e.stage == "decode")
    assert all(e.status == Status.DIVERGED for e in result.stages if e.stage == "resize")


def test_small_float_noise_within_atol_is_aligned(runs):
    """Logits off by 5e-4 pass the default float tolerance of 1e-3."""
    assert diff(runs("a"), runs("b", logits_noise=5e-4))


def test_float_noise_above_atol_diverges_and_atol_option_accepts_it(runs):
    """Logits off by 0.01 diverge by default and pass with atol=0.02."""
    a, b = runs("a"), runs("b", logits_noise=0.01)
    result = diff(a, b)
    assert result.first_divergence.stage == "infer"
    assert diff(a, b, atol=0.02)


def test_per_stage_tolerance_overrides(runs):
    """tol={"resize": 1, "normalize": 0.005} lets a one-LSB resize shift pass downstream too."""
    a, b = runs("a"), runs("b", resize_shift=1)
    result = diff(a, b, tol={"resize": 1, "normalize": 0.005, "infer": 0.005})
    assert result, str(result)


def test_per_tensor_tolerance_override(runs):
    """A STAGE.TENSOR override applies to that tensor only."""
    a, b = runs("a"), runs("b", logits_noise=0.01)
    assert diff(a, b, tol={"infer.out": 0.02})
    assert not diff(a, b, tol={"infer.x": 0.02})


def test_error_in_one_run_gives_error_status(runs):
    """A stage that raised in B only is status 'error' and the first divergence."""
    result = diff(runs("a"), runs("b", fail_on="b.jpg"))
    errored = [e for e in result.stages if e.status == Status.ERROR]
    assert [(e.stage, e.sample) for e in errored] == [("infer", "b.jpg")]
    assert errored[0].error_b["type"] == "RuntimeError"
    assert result.first_divergence.stage == "infer"


def test_sample_missing_in_b_is_only_in_a(runs):
    """A sample B skipped leaves its stages only_in_a and fails the diff without a divergence."""
    result = diff(runs("a", ["a.jpg", "b.jpg"]), runs("b", ["a.jpg"]))
    only = {(e.sample, e.stage) for e in result.stages if e.status == Status.ONLY_IN_A}
    assert only == {("b.jpg", s) for s in ("decode", "resize", "normalize", "infer")}
    assert not result
    assert result.first_divergence is None
    assert result.samples["only_in_a"] == ["b.jpg"]


def test_sample_only_in_b(runs):
    """An extra sample in B gives only_in_b entries."""
    result = diff(runs("a", ["a.jpg"]), runs("b", ["a.jpg", "z.jpg"]))
    assert {e.sample for e in result.stages if e.status == Status.ONLY_IN_B} == {"z.jpg"}


def test_stage_missing_in_b_is_only_in_a(tmp_path):
    """A stage the port does not have shows as only_in_a for each sample."""
    from .diff_helpers import record

    def original(key):
        with bmtrace.trace_stage("decode") as st:
            st.output(np.zeros(3))
        with bmtrace.trace_stage("denoise") as st:
            st.output(np.ones(3))

    def port(key):
        with bmtrace.trace_stage("decode") as st:
            st.output(np.zeros(3))

    result = diff(record(tmp_path / "a", ["s"], original),
                          record(tmp_path / "b", ["s"], port))
    assert [(e.stage, e.status) for e in result.stages] == [("decode", "aligned"),
                                                           ("denoise", "only_in_a")]


def test_shape_mismatch_diverges(tmp_path):
    """An output of another shape is a shape_mismatch tensor and a diverged stage."""
    from .diff_helpers import record

    def prog(shape):
        def run(key):
            with bmtrace.trace_stage("resize") as st:
                st.output(np.zeros(shape, np.uint8))
        return run

    result = diff(record(tmp_path / "a", ["s"], prog((4, 4, 3))),
                          record(tmp_path / "b", ["s"], prog((3, 4, 4))))
    (entry,) = result.stages
    assert entry.status == Status.DIVERGED
    assert entry.tensors[0].status == Status.SHAPE_MISMATCH


def test_nested_stage_divergence_points_at_the_inner_stage(tmp_path):
    """When preprocess encloses resize and both diverge, the first divergence is resize."""
    from .diff_helpers import record

    def prog(shift):
        @bmtrace.trace_stage("resize")
        def resize(img):
            return img[::2] + np.uint8(shift)

        @bmtrace.trace_stage("preprocess")
        def preprocess(img):
            return resize(img).astype(np.float32)

        return lambda key: preprocess(np.zeros((4, 4), np.uint8))

    result = diff(record(tmp_path / "a", ["s"], prog(0)),
                          record(tmp_path / "b", ["s"], prog(3)))
    assert result.stage_order == ["preprocess", "resize"]
    assert result.first_divergence.stage == "resize"


def test_first_divergence_follows_stage_order_not_sample_order(runs):
    """A later sample diverging earlier in the pipeline wins over an earlier sample's later stage."""
    from .diff_helpers import make_pipeline

    a = runs("a", ["s1.jpg", "s2.jpg"])
    late, early = make_pipeline(logits_noise=1.0), make_pipeline(resize_shift=5)

    def mixed(key):
        return (late if key == "s1.jpg" else early)(key)

    from .diff_helpers import record

    b = record(str(a) + "_b", ["s1.jpg", "s2.jpg"], mixed)
    first = diff(a, b).first_divergence
    assert (first.stage, first.sample) == ("resize", "s2.jpg")


def test_similar_status_for_parallel_but_out_of_tolerance(runs):
    """Logits scaled by 1% are SIMILAR: reported, and still a divergence."""
    result = diff(runs("a"), runs("b", scale=255.0 * 1.01))
    tensor = result.stages[[e.stage for e in result.stages].index("normalize")].tensors[-1]
    assert tensor.status == Status.SIMILAR
    assert not result


def test_str_is_one_readable_line(runs):
    """str(result) is a single line naming the verdict and the stage."""
    text = str(diff(runs("a"), runs("b", resize_shift=2)))
    assert "\n" not in text
    assert text.startswith("DIVERGED") and "resize" in text


def test_render_table_lists_stages_in_run_a_order_with_marker(runs):
    """One row per stage in A's order; the first divergent stage is marked."""
    table = render(diff(runs("a"), runs("b", resize_shift=2)))
    rows = [line for line in table.splitlines() if line.strip()]
    header = [i for i, line in enumerate(rows) if "max abs diff" in line][0]
    body = rows[header + 1:header + 5]
    assert [r.split()[1] if r.startswith(">>") else r.split()[0] for r in body] == [
        "decode", "resize", "normalize", "infer"]
    assert body[1].startswith(">>")
    assert "\x1b[" not in table


def test_input_that_repeats_an_output_reuses_its_verdict(runs):
    """normalize's input is resize's output: judged once, with resize's tolerance, and said so."""
    result = diff(runs("a"), runs("b", resize_shift=1), tol={"resize": 1})
    normalize = [e for e in result.stages if e.stage == "normalize"][0]
    (img,) = [t for t in normalize.tensors if t.role == "input"]
    assert img.same_as == "resize.out"
    assert img.status == Status.CLOSE


def test_explicit_tensor_rule_beats_the_reused_verdict(runs):
    """A rule naming normalize.img re-judges that input with its own tolerance."""
    result = diff(runs("a"), runs("b", resize_shift=1), tol={"resize": 1, "normalize.img": 0})
    normalize = [e for e in result.stages if e.stage == "normalize"][0]
    (img,) = [t for t in normalize.tensors if t.role == "input"]
    assert img.same_as is None
    assert img.status != Status.CLOSE


def test_same_exception_in_both_runs_is_agreement(runs):
    """A sample both programs reject with the same exception is not an error entry."""
    result = diff(runs("a", fail_on="b.jpg"), runs("b", fail_on="b.jpg"))
    entry = [e for e in result.stages if e.stage == "infer" and e.sample == "b.jpg"][0]
    assert entry.status == Status.ALIGNED
    assert "both runs raised RuntimeError" in entry.notes
    assert result
