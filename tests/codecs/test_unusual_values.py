"""Values that used to be lost or unstable: object reprs, sets, masked arrays, huge ints, broken
containers and lone surrogates each become a leaf with a clear note, stable across runs."""
import glob
import json
import os
import subprocess
import sys

import numpy as np

from bmtrace import codecs
from bmtrace.codecs import decode, decode_values
from bmtrace.store import layout

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Opaque:
    pass


class ItemsRaise(dict):
    def items(self):
        raise RuntimeError("items broke")


class IterRaise(list):
    def __iter__(self):
        raise RuntimeError("iteration broke")


class LenRaise(list):
    def __len__(self):
        raise RuntimeError("len broke")


def _flatten_in_subprocess(expression, hash_seed):
    code = "from bmtrace import codecs\nclass Opaque: pass\nprint(codecs.flatten(%s, 'v')[0].value)" % expression
    env = dict(os.environ, PYTHONPATH=REPO, PYTHONHASHSEED=str(hash_seed))
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout


def test_object_reprs_are_identical_across_two_processes():
    """An object recorded in two processes gives the same text: its memory address is masked."""
    first, second = (_flatten_in_subprocess("[Opaque(), Opaque()]", seed) for seed in (1, 2))
    assert first == second and "at 0x..." in first


def test_sets_are_identical_across_hash_seeds():
    """A set of strings records the same text whatever the string hash seed."""
    expression = "set('abcdefghijklmnop')"
    assert _flatten_in_subprocess(expression, 1) == _flatten_in_subprocess(expression, 2)


def test_opaque_note_says_the_type_and_the_masking(record):
    """The note names the type and says the repr's addresses are masked."""
    (leaf,) = record(v=Opaque())
    assert leaf.kind == "object" and "0x..." in leaf.value and "0x7" not in leaf.value
    assert "Opaque" in leaf.note and "masked" in leaf.note


def test_object_dict_keys_give_stable_names(record):
    """A dict keyed by objects names its leaves without memory addresses."""
    leaves = record(v={Opaque(): 1})
    assert [leaf.name for leaf in leaves] == ["v[<%s.Opaque object at 0x...>]" % __name__]


def test_masked_array_records_data_with_a_note(record, capfd):
    """A masked array keeps its data and says how many elements were masked, with no internal error."""
    value = np.ma.masked_array([1.0, 2.0, 3.0, 4.0], mask=[0, 1, 1, 0])
    (leaf,) = record(v=value)
    np.testing.assert_array_equal(leaf.load(), [1.0, 2.0, 3.0, 4.0])
    assert "2 of 4 elements masked" in leaf.note
    assert "internal error" not in capfd.readouterr().err


def test_ints_beyond_int64_are_recorded_exactly(record, capfd):
    """Huge positive and negative ints record as exact text with a note and decode to the same int."""
    values = [2 ** 70, -(2 ** 80) + 1]
    leaves = record(v=values)
    assert [leaf.value for leaf in leaves] == [str(v) for v in values]
    assert all("64-bit" in leaf.note for leaf in leaves)
    assert decode_values(leaves)["v"] == values
    assert "internal error" not in capfd.readouterr().err


def test_uint64_range_ints_stay_numeric(record):
    """An int that fits uint64 is still a numeric scalar, not text."""
    (leaf,) = record(v=2 ** 64 - 1)
    assert leaf.kind == "scalar" and decode(leaf) == 2 ** 64 - 1


def test_containers_whose_items_or_iteration_raise_are_noted(record, capfd):
    """A dict whose items() raises and a list whose iteration raises become noted leaves."""
    broken_dict, broken_list = record(d=ItemsRaise(a=1), l=IterRaise([1, 2]))
    assert "could not read the items" in broken_dict.note and "items broke" in broken_dict.note
    assert "iteration broke" in broken_list.note
    assert "internal error" not in capfd.readouterr().err


def test_container_whose_len_raises_is_still_walked(record):
    """A list whose __len__ raises is recorded item by item: walking it needs no len()."""
    leaves = record(v=LenRaise([5, 6]))
    assert [leaf.value for leaf in leaves] == [5, 6]


def test_lone_surrogates_as_value_and_key_round_trip(record, tmp_path):
    """A str value and a dict key holding lone surrogates record, keep a valid UTF-8 journal and read back equal."""
    name = b"caf\xe9.jpg".decode("utf-8", "surrogateescape")
    leaves = record(v={name: name})
    assert decode_values(leaves)["v"] == {name: name}
    (journal,) = glob.glob(str(tmp_path / "run1" / layout.JOURNAL_DIR / "*.jsonl"))
    with open(journal, "rb") as f:
        lines = f.read().splitlines()
    assert [json.loads(line.decode("utf-8"))["inputs"][0]["value"] for line in lines] == [name]
