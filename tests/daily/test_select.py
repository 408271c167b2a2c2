"""Selection options of `bmtrace diff` and `bmtrace.diff()`: stages, samples, one-sided samples, fail-fast, checks."""
import json

import pytest

import bmtrace
from bmtrace.errors import UsageError


_USAGE = []


def _usage_exit():
    """The exit code the CLI gives a UsageError (4 once the CLI maps usage errors to 4; 2 before), taken
    from a known usage error (a malformed --tol) so these tests check that bad values are usage errors."""
    if not _USAGE:
        from bmtrace.cli import main

        _USAGE.append(main(["diff", "a", "b", "--tol", "resize"]))
        assert _USAGE[0] in (2, 4)
    return _USAGE[0]


def _doc(proc):
    assert proc.stdout, proc.stderr
    return json.loads(proc.stdout)


def test_stages_option_compares_only_named_stages(runs, cli):
    """--stages resize,infer leaves decode and normalize out of the document."""
    proc = cli("diff", runs("a"), runs("b"), "--stages", "resize,infer", "--json")
    assert proc.returncode == 0, proc.stderr
    assert sorted(set(e["stage"] for e in _doc(proc)["stages"])) == ["infer", "resize"]


def test_skip_stages_hides_a_known_divergence(runs, cli):
    """Skipping the diverging infer stage leaves an aligned diff (exit 0)."""
    a, b = runs("a"), runs("b", logits_noise=0.01)
    assert cli("diff", a, b, "-q").returncode == 1
    proc = cli("diff", a, b, "--skip-stages", "infer", "--json")
    assert proc.returncode == 0, proc.stdout
    assert "infer" not in set(e["stage"] for e in _doc(proc)["stages"])


def test_samples_glob_selects_matching_keys(runs, cli):
    """--samples 'a*' compares only the sample keys matching the glob."""
    proc = cli("diff", runs("a"), runs("b"), "--samples", "a*", "--json")
    assert set(e["sample"] for e in _doc(proc)["stages"]) == {"a.jpg"}


def test_samples_file_lists_keys(runs, cli, tmp_path):
    """--samples @FILE compares the keys listed one per line."""
    listing = tmp_path / "keys.txt"
    listing.write_text("b.jpg\n\n# comment\nc.jpg\n")
    proc = cli("diff", runs("a"), runs("b"), "--samples", "@%s" % listing, "--json")
    assert set(e["sample"] for e in _doc(proc)["stages"]) == {"b.jpg", "c.jpg"}


def test_samples_matching_nothing_is_a_usage_error(runs, cli):
    """A --samples glob that matches no key fails with the keys it could have matched."""
    proc = cli("diff", runs("a"), runs("b"), "--samples", "zzz*")
    assert proc.returncode == _usage_exit()
    assert "a.jpg" in proc.stderr


def test_allow_missing_reports_one_sided_samples_without_failing(runs, cli):
    """A sample only A recorded fails by default and passes with --allow-missing, still reported."""
    a, b = runs("a", ["x.jpg", "y.jpg"]), runs("b", ["x.jpg"])
    assert cli("diff", a, b, "-q").returncode == 1
    proc = cli("diff", a, b, "--allow-missing")
    assert proc.returncode == 0, proc.stdout
    assert "1 only in A (y.jpg)" in proc.stdout
    assert "--allow-missing" in proc.stdout


def test_allow_missing_still_fails_a_divergence(runs):
    """--allow-missing forgives one-sided samples only, not a value divergence."""
    result = bmtrace.diff(runs("a", ["x.jpg", "y.jpg"]), runs("b", ["x.jpg"], resize_shift=1), allow_missing=True)
    assert result.exit_code == 1 and result.first_divergence.stage == "resize"


def test_fail_fast_stops_at_first_divergence_and_says_so(runs, cli):
    """--fail-fast compares fewer calls than a full diff and records where it stopped."""
    a, b = runs("a"), runs("b", resize_shift=1)
    full = _doc(cli("diff", a, b, "--json"))
    proc = cli("diff", a, b, "--fail-fast", "--json")
    doc = _doc(proc)
    assert proc.returncode == 1
    assert len(doc["stages"]) < len(full["stages"])
    assert doc["stopped_early"]["stage"] == "resize"
    assert any("--fail-fast" in w for w in doc["warnings"])


def test_unknown_tol_stage_warns_with_known_stages(runs, cli):
    """--tol nosuchstage=5 is accepted with a warning that lists the runs' stages."""
    proc = cli("diff", runs("a"), runs("b"), "--tol", "nosuchstage=5")
    assert proc.returncode == 0
    assert "nosuchstage" in proc.stdout and "decode, resize, normalize, infer" in proc.stdout


def test_unknown_stages_name_warns(runs):
    """--stages with a name no run has warns and compares the known ones."""
    result = bmtrace.diff(runs("a"), runs("b"), stages=["resize", "resise"])
    assert any("resise" in w and "normalize" in w for w in result.warnings)
    assert set(e.stage for e in result.stages) == {"resize"}


def test_unknown_map_stage_warns(runs):
    """--map with a stage no run has warns and lists the stages."""
    result = bmtrace.diff(runs("a"), runs("b"), stage_map={"nosuch": "infer2"})
    assert any("nosuch" in w and "resize" in w for w in result.warnings)


@pytest.mark.parametrize("args", [["--cosine", "5"], ["--atol", "-1"], ["--tol", "resize=-2"]])
def test_out_of_range_values_are_usage_errors(runs, cli, args):
    """Out-of-range tolerances stop the CLI with a usage error naming the option."""
    proc = cli("diff", runs("a"), runs("b"), *args)
    assert proc.returncode == _usage_exit()
    assert args[0].lstrip("-").split("=")[0] in proc.stderr or "resize" in proc.stderr


def test_library_raises_usage_error_for_bad_cosine(runs):
    """bmtrace.diff(cosine=5) raises UsageError before comparing anything."""
    with pytest.raises(UsageError, match="between -1 and 1"):
        bmtrace.diff(runs("a"), runs("b"), cosine=5)


def test_report_accepts_the_selection_options(runs, cli, tmp_path):
    """`bmtrace report` takes the same --stages option and reports only those stages."""
    pytest.importorskip("matplotlib")
    out = tmp_path / "r.html"
    proc = cli("report", runs("a"), runs("b", resize_shift=1), "-o", out, "--stages", "decode")
    assert proc.returncode == 0, proc.stderr
    page = out.read_text()
    assert '<span class="mono">decode</span>' in page and '<span class="mono">resize</span>' not in page


def test_help_of_diff_documents_the_options():
    """help(bmtrace.diff) names the selection options."""
    doc = bmtrace.diff.__doc__
    for name in ("stages", "skip_stages", "samples", "allow_missing", "fail_fast", "accepted"):
        assert name + ":" in doc
