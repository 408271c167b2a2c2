"""Tolerance rules, their precedence, and the option/config parsers."""
import json
import sys

import pytest

from bmtrace.compare import ToleranceRules, load_config, load_map_file, parse_map_option, parse_tol_option
from bmtrace.errors import UsageError


def test_vendor_defaults():
    """Floats: atol 1e-3; integers: exact; SIMILAR at cosine 0.99."""
    rules = ToleranceRules()
    f = rules.resolve("infer", "out", is_float=True)
    i = rules.resolve("decode", "out", is_float=False)
    assert (f.atol, f.rtol, f.cosine) == (1e-3, 0.0, 0.99)
    assert (i.atol, i.rtol) == (0.0, 0.0)


def test_global_atol_changes_floats_only():
    """--atol is the float default; integer tensors stay exact."""
    rules = ToleranceRules(atol=0.1)
    assert rules.resolve("s", "t", is_float=True).atol == 0.1
    assert rules.resolve("s", "t", is_float=False).atol == 0.0


def test_tensor_override_beats_stage_override():
    """STAGE.TENSOR is more specific than STAGE."""
    rules = ToleranceRules(overrides={"infer": 0.01, "infer.logits": 0.5})
    assert rules.resolve("infer", "logits", is_float=True).atol == 0.5
    assert rules.resolve("infer", "boxes", is_float=True).atol == 0.01


def test_override_inherits_fields_it_does_not_set():
    """An override of atol keeps the global rtol."""
    rules = ToleranceRules(rtol=1e-3, overrides={"infer": 0.01})
    tol = rules.resolve("infer", "out", is_float=True)
    assert (tol.atol, tol.rtol) == (0.01, 1e-3)


def test_dotted_stage_names_match_whole():
    """A stage named 'model.head' is matched as a stage, not as stage 'model' tensor 'head'."""
    rules = ToleranceRules(overrides={"model.head": 0.2})
    assert rules.resolve("model.head", "out", is_float=True).atol == 0.2
    assert rules.resolve("model", "out", is_float=True).atol == 1e-3


def test_merged_rules_let_the_second_win():
    """CLI settings override the config file field by field."""
    config = ToleranceRules(atol=0.1, rtol=0.01, overrides={"resize": {"atol": 2, "rtol": 0.1}})
    cli = ToleranceRules(atol=0.2, overrides={"resize": 1})
    merged = config.merged(cli)
    assert merged.resolve("x", "t", True).atol == 0.2
    assert merged.resolve("x", "t", True).rtol == 0.01
    assert merged.resolve("resize", "t", False).atol == 1.0
    assert merged.resolve("resize", "t", False).rtol == 0.1


def test_negative_tolerance_is_a_usage_error():
    """Tolerances are non-negative numbers."""
    with pytest.raises(UsageError):
        ToleranceRules(atol=-1)


def test_unknown_override_field_is_a_usage_error():
    """Typos in override tables are reported, not ignored."""
    with pytest.raises(UsageError, match="atl"):
        ToleranceRules(overrides={"resize": {"atl": 1}})


def test_parse_tol_option_splits_at_the_last_equals():
    """--tol STAGE[.TENSOR]=ATOL."""
    assert parse_tol_option("infer.out['boxes']=1e-2") == ("infer.out['boxes']", 0.01)


@pytest.mark.parametrize("text", ["resize", "=1", "resize=abc"])
def test_parse_tol_option_rejects_malformed(text):
    """Malformed --tol values raise UsageError naming the expected form."""
    with pytest.raises(UsageError):
        parse_tol_option(text)


def test_parse_map_option():
    """--map A=B gives the A and B stage names."""
    assert parse_map_option(" preprocess = pre ") == ("preprocess", "pre")
    with pytest.raises(UsageError):
        parse_map_option("preprocess")


def test_load_json_config(tmp_path):
    """A JSON config sets defaults, overrides and the stage map."""
    path = tmp_path / "diff.json"
    path.write_text(json.dumps({"atol": 0.01, "tolerances": {"resize": 1, "infer.out": {"rtol": 0.1}},
                                "map": {"preprocess": "pre"}}))
    rules, stage_map = load_config(str(path))
    assert rules.resolve("a", "b", True).atol == 0.01
    assert rules.resolve("resize", "out", False).atol == 1.0
    assert rules.resolve("infer", "out", True).rtol == 0.1
    assert stage_map == {"preprocess": "pre"}


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is Python >= 3.11")
def test_load_toml_config(tmp_path):
    """A .toml config reads the same settings."""
    path = tmp_path / "diff.toml"
    path.write_text('atol = 0.05\n[tolerances]\nresize = 2\n"infer.logits" = {atol = 0.5}\n')
    rules, _ = load_config(str(path))
    assert rules.resolve("x", "y", True).atol == 0.05
    assert rules.resolve("resize", "out", False).atol == 2.0
    assert rules.resolve("infer", "logits", True).atol == 0.5


def test_config_with_unknown_key_is_rejected(tmp_path):
    """Unknown top-level keys are errors naming the key."""
    path = tmp_path / "diff.json"
    path.write_text(json.dumps({"atoll": 1}))
    with pytest.raises(UsageError, match="atoll"):
        load_config(str(path))


def test_missing_config_file_is_a_usage_error(tmp_path):
    """An unreadable config names the path."""
    with pytest.raises(UsageError, match="nope.json"):
        load_config(str(tmp_path / "nope.json"))


def test_text_map_file(tmp_path):
    """A text map file holds A=B lines with comments."""
    path = tmp_path / "stages.map"
    path.write_text("# A = B\npreprocess = pre   # the port merged two stages\n\ninfer=bmrt\n")
    assert load_map_file(str(path)) == {"preprocess": "pre", "infer": "bmrt"}


def test_json_map_file(tmp_path):
    """A JSON map file is an object of A -> B names."""
    path = tmp_path / "stages.json"
    path.write_text(json.dumps({"infer": "bmrt"}))
    assert load_map_file(str(path)) == {"infer": "bmrt"}
