"""Declared prediction kinds: trace_stage(kind=, box_format=) and st.output(kind=, box_format=)."""
import numpy as np
import pytest

import bmtrace
from bmtrace.errors import UsageError


def _record(tmp_path, body):
    with bmtrace.run(tmp_path / "run", overwrite=True):
        body()
    return bmtrace.open_run(tmp_path / "run").calls()


def test_stage_kind_goes_to_every_output_leaf_and_no_input(tmp_path):
    """trace_stage(kind=, box_format=) puts both in the meta of each output leaf, none in the inputs'."""
    @bmtrace.trace_stage("nms", kind="detections", box_format="xyxy", meta={"color": "RGB"})
    def nms(boxes):
        return {"boxes": boxes[:2], "scores": np.ones(2)}

    (call,) = _record(tmp_path, lambda: nms(np.zeros((4, 4))))
    assert [t.meta for t in call.outputs] == [{"color": "RGB", "kind": "detections", "box_format": "xyxy"}] * 2
    assert call.inputs[0].meta == {"color": "RGB"}


def test_output_kind_declares_the_named_outputs(tmp_path):
    """st.output(..., kind=) marks every value of that output call."""
    def body():
        with bmtrace.trace_stage("post") as st:
            st.output(logits=np.zeros((1, 10)), labels=[3], kind="classification")

    (call,) = _record(tmp_path, body)
    assert {t.name: t.meta.get("kind") for t in call.outputs} == {"logits": "classification", "labels[0]": "classification"}


def test_output_kind_overrides_the_stage_kind_and_drops_its_box_format(tmp_path):
    """A kind given to st.output wins over the stage's, and the stage's box format no longer applies."""
    def body():
        with bmtrace.trace_stage("head", kind="detections", box_format="xywh") as st:
            st.output(np.zeros(3), kind="classification")

    (call,) = _record(tmp_path, body)
    assert call.output().meta == {"kind": "classification"}


def test_output_box_format_keeps_the_stage_kind(tmp_path):
    """st.output(box_format=) alone refines the stage's detections declaration."""
    def body():
        with bmtrace.trace_stage("nms", kind="detections", box_format="xyxy") as st:
            st.output(np.zeros((1, 6)), box_format="cxcywh")

    (call,) = _record(tmp_path, body)
    assert call.output().meta == {"kind": "detections", "box_format": "cxcywh"}


def test_undeclared_stage_adds_no_kind(tmp_path):
    """Without a declaration, output meta has no kind key."""
    def body():
        with bmtrace.trace_stage("plain") as st:
            st.output(np.zeros(2))

    (call,) = _record(tmp_path, body)
    assert "kind" not in call.output().meta


@pytest.mark.parametrize("kwargs, allowed", [
    ({"kind": "boxes"}, "'detections', 'classification', 'segmentation'"),
    ({"kind": "detections", "box_format": "ltrb"}, "'xyxy', 'xywh', 'cxcywh'"),
    ({"kind": "classification", "box_format": "xyxy"}, 'kind="detections"'),
])
def test_bad_declaration_on_trace_stage_names_the_allowed_values(kwargs, allowed):
    """trace_stage rejects an unknown kind or box format with the allowed values in the message."""
    with pytest.raises(UsageError, match="trace_stage\\('s'\\)") as info:
        bmtrace.trace_stage("s", **kwargs)
    assert allowed in str(info.value)


@pytest.mark.parametrize("active", [True, False], ids=["run", "no-run"])
def test_bad_kind_on_output_raises_with_or_without_a_run(tmp_path, active):
    """st.output(kind=...) with an unknown kind raises the same UsageError whether or not a run is active."""
    def body():
        with bmtrace.trace_stage("s") as st:
            st.output(1, kind="boxes")

    if active:
        with bmtrace.run(tmp_path / "run"):
            with pytest.raises(UsageError, match="'detections', 'classification', 'segmentation'"):
                body()
    else:
        with pytest.raises(UsageError, match="'detections', 'classification', 'segmentation'"):
            body()


def test_an_array_passed_as_kind_gets_a_usage_error_not_a_numpy_error():
    """An output value named kind (an array) is refused with the reserved-name hint, not an ambiguous-truth error."""
    with bmtrace.trace_stage("s") as st:
        with pytest.raises(UsageError, match="reserved"):
            st.output(kind=np.zeros(3))
