"""Arbitrary JSON in a journal or run.json never escapes as anything but a reported problem."""
import json

from hypothesis import HealthCheck, given, settings, strategies as st

import bmtrace
from bmtrace.errors import CorruptRunError
from bmtrace.store import schema

from .conftest import journal_records, write_journal

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8)
_call_fields = st.sampled_from(sorted(schema.CALL_FIELDS))
_tensor_fields = st.sampled_from(sorted(schema.TENSOR_FIELDS))


@settings(max_examples=120, deadline=None)
@given(_json)
def test_any_json_line_is_a_record_or_a_record_error(value):
    """parse_line on any JSON value returns a record or raises RecordError, nothing else."""
    try:
        schema.parse_line(json.dumps(value).encode())
    except schema.RecordError:
        pass


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=_call_fields, tensor_field=_tensor_fields, value=_json, other=_json)
def test_any_field_value_reads_or_is_reported(small_run, field, tensor_field, value, other):
    """A real record with any call field and any tensor field replaced reads back or is one problem."""
    records = journal_records(small_run)
    records[1][field] = value
    outputs = records[1].get("outputs")
    if isinstance(outputs, list) and outputs and isinstance(outputs[0], dict):
        outputs[0][tensor_field] = other
    write_journal(small_run, [json.dumps(r).encode() for r in records])
    run = bmtrace.open_run(small_run)
    calls = run.calls()
    assert len(calls) + len(run.problems) == 3
    for call in calls:
        for tensor in call.inputs + call.outputs:
            tensor.is_array, tensor.hash_alg, tensor.has_payload
    run.index()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(["format_version", "side", "mode", "stage_modes", "payload_cap_bytes", "started",
                              "ended", "path", "tool", "hash_alg"]), value=_json)
def test_any_run_file_field_opens_or_is_a_corrupt_run(small_run, field, value):
    """run.json with any value in any field opens, or raises CorruptRunError (or a version error)."""
    doc = json.loads((small_run / "run.json").read_text())
    doc[field] = value
    (small_run / "run.json").write_text(json.dumps(doc))
    try:
        run = bmtrace.open_run(small_run)
    except (CorruptRunError, bmtrace.errors.FormatVersionError):
        return
    assert run.side is None or isinstance(run.side, str)
    run.meta, run.calls()
