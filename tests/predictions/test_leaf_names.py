"""Leaf names back to keys (bmtrace.predictions.tree.parse_name): plain quoted keys are read without
ast.literal_eval, and must give exactly what it gives."""
import ast

import pytest

from bmtrace.codecs import flatten
from bmtrace.predictions.tree import build_tree, parse_name

KEYS = ["bbox", "", "é", "a b", "it's", 'say "hi"', "back\\slash", "tab\there", "new\nline", "[x]", "a.b",
        "'", '"', "\\", "'quoted'", "0", "ünï\u2603"]


@pytest.mark.parametrize("key", KEYS)
def test_a_string_key_reads_back_as_written(key):
    name = "out[0][%r]" % key
    assert parse_name(name) == ("out", [0, key])
    assert parse_name(name)[1][1] == ast.literal_eval(repr(key))


def test_either_quote_reads_back():
    assert parse_name('out["bbox"]') == ("out", ["bbox"])
    assert parse_name('out["it\'s"]') == ("out", ["it's"])
    assert parse_name("out['say \"hi\"']") == ("out", ['say "hi"'])


def test_recorded_dicts_rebuild():
    """The names the codecs write for a list of dicts (keys with quotes too) rebuild the same value."""
    value = [{"bbox": [1.0, 2.0, 3.0, 4.0], "it's": 1}, {'q"': 2, "score": 0.5, "é": 3}]
    leaves = {leaf.name: leaf.value for leaf in flatten(value, "out")}
    assert build_tree(leaves)["out"] == value
