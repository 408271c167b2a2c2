"""N-way diff: `bmtrace diff REF CAND1 CAND2 ...` judges every candidate against one reference."""
import json

import pytest

from bmtrace.diff import DiffResult
from bmtrace.diff.nway import NWayResult


@pytest.fixture
def three(runs):
    """A reference, an aligned candidate and one whose resize is off by one."""
    return runs("ref"), runs("same"), runs("shifted", resize_shift=1)


def test_matrix_marks_each_candidates_first_divergence(three, cli):
    """The text matrix has one column per candidate; only the shifted one is marked at resize."""
    proc = cli("diff", *three)
    lines = proc.stdout.splitlines()
    header = next(line for line in lines if line.startswith("stage"))
    assert "1:same" in header and "2:shifted" in header
    resize = next(line for line in lines if line.startswith("resize"))
    assert "aligned 0" in resize and ">>DIVERGED 1" in resize
    assert sum(">>" in line for line in lines) == 1


def test_exit_code_is_the_worst_candidates(three, cli):
    """One aligned and one diverged candidate exit 1; two aligned ones exit 0."""
    ref, same, shifted = three
    assert cli("diff", ref, same, shifted, "-q").returncode == 1
    assert cli("diff", ref, same, same, "-q").returncode == 0


def test_json_holds_pairwise_documents_and_matrix(three, cli):
    """The N-way document has the reference, one pairwise document per candidate and the matrix."""
    proc = cli("diff", *three, "--json")
    doc = json.loads(proc.stdout)
    assert doc["format"] == "bmtrace-diff-nway" and doc["reference"].endswith("ref")
    assert [c["run_b"].rsplit("/", 1)[-1] for c in doc["candidates"]] == ["same", "shifted"]
    assert [c["aligned"] for c in doc["candidates"]] == [True, False]
    resize = next(r for r in doc["matrix"] if r["stage"] == "resize")
    assert [c["status"] for c in resize["cells"]] == ["aligned", "diverged"]
    assert NWayResult.from_json(doc).exit_code == 1


def test_pairwise_documents_equal_two_run_diffs(three, cli):
    """Each candidate's document says what a two-run diff of the same pair says."""
    ref, _same, shifted = three
    nway = json.loads(cli("diff", *three, "--json").stdout)
    pair = json.loads(cli("diff", ref, shifted, "--json").stdout)
    assert nway["candidates"][1]["summary"] == pair["summary"]
    assert nway["candidates"][1]["first_divergence"] == pair["first_divergence"]


def test_two_runs_keep_the_pairwise_output(three, cli):
    """With two runs the output is the pairwise table, not a matrix."""
    ref, _same, shifted = three
    proc = cli("diff", ref, shifted)
    assert proc.stdout.startswith("A: ") and "candidate" not in proc.stdout
    assert DiffResult.from_json(json.loads(cli("diff", ref, shifted, "--json").stdout)).exit_code == 1


def test_html_matrix_links_to_candidate_sections(three, cli, tmp_path):
    """--html writes a page whose matrix header links to a section per candidate."""
    out = tmp_path / "nway.html"
    proc = cli("diff", *three, "--html", out)
    assert proc.returncode == 1
    page = out.read_text()
    for i in (1, 2):
        assert 'href="#candidate-%d"' % i in page and 'id="candidate-%d"' % i in page
    assert "<script src" not in page and "http://" not in page.replace("http://www.w3.org", "")
