"""Journal lines decode to the same record whichever JSON decoder reads them, and roles and empty errors
have one meaning."""
import json

import pytest

from bmtrace.diff import align
from bmtrace.diff.align import pair_tensors
from bmtrace.store import schema


def _line(**tensor):
    entry = {"name": "x", "role": "input", "kind": "scalar", "dtype": "int64", "shape": []}
    entry.update(tensor)
    record = {"id": "w:1", "stage": "s", "t_start": 1.5, "sample": "k", "inputs": [entry], "outputs": []}
    return json.dumps(record).encode() + b"\n"


def _by_json(line):
    return schema.parse_call(json.loads(line))


@pytest.mark.parametrize("value", [
    2 ** 70, -(2 ** 70), 2 ** 64, 2 ** 64 - 1, -(2 ** 63), 12345678901234567890123, 0.1, 1e300, -0.0,
    [1, 2 ** 65], {"deep": [[2 ** 80]]}, "digits 12345678901234567890 in text", "caf\u00e9", "\U0001f600",
])
def test_any_decoder_gives_the_json_record(value):
    """Integers beyond 64 bits stay integers (orjson would make them floats), whatever else a value is."""
    line = _line(value=value)
    parsed = schema.parse_line(line)
    assert parsed == _by_json(line)
    assert type(parsed["inputs"][0]["value"]) is type(value)


def test_small_floats_with_long_fractions_are_read_by_orjson_alike(monkeypatch):
    """A float whose fraction runs to 19 digits or more (a mean near zero) is no big integer: orjson reads
    the line, and gives json's values, while a line that also holds a big integer still goes to json."""
    values = [0.0004551004992226549, -1.2345678901234567e-07, 1e-300, 5e-324, 0.1234567890123456789012]
    line = _line(value=values, shape=[3])
    calls = []
    real = schema._fast_loads()
    monkeypatch.setattr(schema, "_orjson_loads", lambda text: calls.append(text) or real(text))
    parsed = schema.parse_line(line)
    assert calls and parsed == _by_json(line)
    assert [repr(v) for v in parsed["inputs"][0]["value"]] == [repr(v) for v in json.loads(json.dumps(values))]
    calls.clear()
    big = _line(value=values + [2 ** 70])
    assert schema.parse_line(big)["inputs"][0]["value"][-1] == 2 ** 70 and not calls


@pytest.mark.parametrize("text", [b'NaN', b'Infinity', b'-Infinity', b'"\\udcff"', b'1e400'])
def test_what_orjson_refuses_is_read_as_json_reads_it(text):
    line = _line().replace(b'"kind": "scalar"', b'"kind": "scalar", "value": ' + text)
    parsed = schema.parse_line(line)
    expected = _by_json(line)["inputs"][0]["value"]
    got = parsed["inputs"][0]["value"]
    assert repr(got) == repr(expected)


def test_a_big_shape_is_an_integer_shape():
    """A shape dimension beyond 64 bits is a valid count: the record keeps it, exactly."""
    line = _line(shape=[2 ** 70])
    assert schema.parse_line(line)["inputs"][0]["shape"] == [2 ** 70]


def test_invalid_lines_are_refused_with_json_s_message():
    with pytest.raises(schema.RecordError, match="not valid JSON"):
        schema.parse_line(b'{"id": "w:1", "stage": \n')
    with pytest.raises(schema.RecordError, match="'stage'"):
        schema.parse_line(b'{"id": "w:1", "t_start": 1}\n')


def test_an_entry_s_role_is_its_list_s():
    record = schema.parse_line(_line(role=None))
    assert record["inputs"][0]["role"] == "input"
    with pytest.raises(schema.RecordError, match=r"inputs\[0\]\.role"):
        schema.parse_line(_line(role="output"))


def test_an_empty_error_is_no_error():
    record = json.loads(_line())
    record["error"] = {}
    assert schema.parse_call(record)["error"] is None
    record["error"] = {"type": "ValueError", "message": "bad"}
    assert schema.parse_call(record)["error"] == {"type": "ValueError", "message": "bad"}


class _T:
    def __init__(self, name, shape=(2,)):
        self.name, self.shape = name, shape


@pytest.mark.parametrize("names_a, names_b", [
    (["x"], ["x"]), (["x", "y"], ["x", "y"]), (["x", "x"], ["x", "x"]), (["x", "y"], ["y", "x"]),
    (["x"], ["y"]), ([], []), (["x", "y", "x"], ["x", "y", "x"]),
])
def test_pairing_by_name_shortcut_is_pairing_by_name(names_a, names_b, monkeypatch):
    """Names equal in order and unique pair as zip; the shortcut changes nothing else."""
    a, b = [_T(n) for n in names_a], [_T(n) for n in names_b]
    got = pair_tensors(a, b)
    monkeypatch.setattr(align, "_same_unique_names", lambda *_: False)
    assert got == pair_tensors(a, b)


def test_lines_of_a_real_run_parse_alike_with_and_without_orjson(tmp_path, monkeypatch):
    """Every line of a varied run gives the same record through orjson and through json alone."""
    from .test_journal_columns import _record

    for mode in ("full", "stats"):
        _record(tmp_path / mode, mode)
    lines = [line for path in sorted(tmp_path.glob("*/journal/*.jsonl")) for line in path.read_bytes().splitlines(True)]
    assert len(lines) > 20
    with_fast = [schema.parse_line(line) for line in lines]
    monkeypatch.setattr(schema, "_orjson_loads", None)
    assert schema._fast_loads() is None
    assert [schema.parse_line(line) for line in lines] == with_fast
