"""The HTML report rendered from real recorded runs: verdict, pipeline, order, pictures, bad data."""
import base64
import copy
import io
import os
import re
import subprocess
import sys

import pytest

from bmtrace.report.html import render_html, save_html

from .pipeline import STAGES, as_result, make_doc

_PIC = re.compile(r'<img class="pic[^"]*" src="data:image/png;base64,([^"]+)"')


def _pictures(html):
    from PIL import Image

    return [Image.open(io.BytesIO(base64.b64decode(b64))) for b64 in _PIC.findall(html)]


def _first_divergence_text(html):
    match = re.search(r'<div id="first-divergence">(.*?)</div><div class="counts">', html, re.S)
    assert match, "no first-divergence element"
    return match.group(1)


def test_verdict_names_the_planted_stage(planted_html):
    """B's planted nearest-neighbour resize is the first divergence named at the top."""
    assert '<div class="word">DIVERGED</div>' in planted_html
    assert "<b>resize</b>" in _first_divergence_text(planted_html)


def test_pipeline_strip_follows_recording_order_and_colours(planted_html):
    """The strip lists the six stages in pipeline order; decode is green, resize red."""
    strip = re.search(r'<nav id="pipeline".*?</nav>', planted_html, re.S).group(0)
    names = re.findall(r'<div class="n">([^<]+)</div>', strip)
    assert names == list(STAGES)
    chips = {n: c for c, n in re.findall(r'class="chip s-(\w+)[^"]*"[^>]*><div class="n">([^<]+)<', strip)}
    assert chips["decode"] == "ok" and chips["resize"] == "bad"


def test_samples_are_listed_worst_first(planted_html, planted_doc):
    """The samples table is ordered by each sample's worst max abs diff, largest first."""
    worst = {}
    for entry in planted_doc["stages"]:
        for t in entry["tensors"]:
            if t.get("max_abs_diff") is not None:
                worst[entry["sample"]] = max(worst.get(entry["sample"], 0.0), t["max_abs_diff"])
    block = re.search(r'<section id="samples".*?</section>', planted_html, re.S).group(0)
    listed = re.findall(r"<td><code>([^<]+)</code></td>", block)
    assert sorted(listed) == sorted(worst)
    values = [worst[s] for s in listed]
    assert values == sorted(values, reverse=True)


def test_report_is_self_contained(planted_html):
    """No external stylesheet, script, font or image: every src is an inline data URI."""
    assert not re.search(r"<link\b|<script\b[^>]*\bsrc=|@import|url\(", planted_html)
    sources = re.findall(r'\bsrc="([^"]*)"', planted_html)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "http://" not in planted_html and "https://" not in planted_html


def test_image_stages_get_a_b_and_heatmap_with_scale(planted_html):
    """The resize stage shows A, B and |A-B| pictures with a colour scale bar."""
    section = re.search(r'<section id="stage-1".*?</section>', planted_html, re.S).group(0)
    assert len(_PIC.findall(section)) >= 3
    assert 'class="scale"' in section and "linear-gradient" in section
    assert "|A-B|</b> (max over channels)" in section


def test_non_image_tensors_get_error_plots(planted_html):
    """The infer stage's logits (100 values) get the histogram/scatter plot, not pictures."""
    section = re.search(r'<section id="stage-4".*?</section>', planted_html, re.S).group(0)
    assert 'alt="error plots"' in section and not _PIC.findall(section)


def test_small_tensors_are_tabled_value_by_value(planted_html):
    """Top-3 labels are listed as A, B and B-A values, with differing elements flagged."""
    section = re.search(r'<section id="stage-5".*?</section>', planted_html, re.S).group(0)
    labels = re.search(r"<h4 class=\"mono\">out\['labels'\].*?</table>", section.replace("&#x27;", "'"),
                       re.S).group(0)
    assert "<th>B-A</th>" in labels and "<th>2</th>" in labels and "<th>3</th>" not in labels
    assert "cell-bad" in labels  # nearest-neighbour resize changes the top-3 of these pictures


def test_pictures_are_downsampled_to_the_cap(planted_runs, planted_doc):
    """With max_image_side=24 no drawn picture is larger than 24 pixels on a side."""
    html = render_html(as_result(planted_doc), *planted_runs, max_image_side=24, images_per_stage=1)
    sizes = [img.size for img in _pictures(html)]
    assert sizes and max(max(s) for s in sizes) <= 24


def test_images_per_stage_caps_drawn_entries(planted_runs, planted_doc):
    """images_per_stage=1 draws one entry per stage, plus the first divergence where it is not the worst."""
    html = render_html(as_result(planted_doc), *planted_runs, images_per_stage=1)
    for position in range(len(STAGES)):
        section = re.search(r'<section id="stage-%d".*?</section>' % position, html, re.S).group(0)
        drawn = len(re.findall(r'<div class="entry" id="vis-', section))
        assert 1 <= drawn <= (2 if position == 1 else 1)


def test_without_runs_only_tables_are_written(planted_doc):
    """Rendering the document alone gives metrics tables and no pictures."""
    html = render_html(as_result(planted_doc))
    assert "<b>resize</b>" in _first_divergence_text(html)
    assert not _PIC.findall(html) and "Metrics, worst first" in html


def test_hints_are_shown_with_their_message(planted_runs, planted_doc):
    """A hint's cause and message appear, escaped, near the top and in its stage."""
    doc = copy.deepcopy(planted_doc)
    doc["hints"] = [{"sample": doc["first_divergence"]["sample"], "stage": "resize", "tensor": "out",
                     "cause": "resize_interpolation", "message": "B matches cv2 INTER_NEAREST <exactly>",
                     "confidence": 0.93}]
    html = render_html(as_result(doc), *planted_runs, images_per_stage=0)
    assert html.count("B matches cv2 INTER_NEAREST &lt;exactly&gt;") >= 2
    assert "93%" in html and '<section id="hints"' in html


def test_isolation_results_show_local_vs_inherited(planted_doc):
    """Entries with local metrics and `introduces` get a local-vs-inherited table and badges."""
    doc = copy.deepcopy(planted_doc)
    for entry in doc["stages"]:
        if entry["stage"] == "resize":
            entry["local"], entry["introduces"] = {"max_abs_diff": 221.0, "cosine": 0.99}, True
        elif entry["stage"] == "to_rgb":
            entry["local"], entry["introduces"] = {"max_abs_diff": 0.0, "cosine": 1.0}, False
    html = render_html(as_result(doc))
    assert "Local vs inherited error" in html
    assert "introduces error here" in html and "inherited from upstream" in html
    assert "error introduced at <b>resize</b>" in html


def test_user_strings_are_escaped(planted_doc):
    """Sample names, stage names and messages from the runs cannot inject markup."""
    doc = copy.deepcopy(planted_doc)
    doc["stages"][0]["sample"] = "<img src=x onerror=alert(1)>"
    doc["stages"][0]["stage"] = "<b>evil</b>"
    html = render_html(as_result(doc))
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<b>evil</b>" not in html


def test_environment_differences_are_tabled():
    """Environment entries with two sides become rows; differing ones are highlighted."""
    doc = {"aligned": True, "stages": [], "environment": {
        "versions": {"cv2": {"a": "4.5.4", "b": "4.8.0"}, "numpy": {"a": "1.26", "b": "1.26"}},
        "env": {"BMRT_LOG_LEVEL": {"a": None, "b": "3"}}}}
    html = render_html(as_result(doc))
    env = re.search(r'<section id="environment".*?</section>', html, re.S).group(0)
    assert '<tr class="hl"><td class=mono>versions.cv2</td><td class=mono>4.5.4</td><td class=mono>4.8.0</td>' in env
    assert "<td class=mono>versions.numpy</td>" in env and "(not set)" in env


def test_nan_inf_empty_and_missing_render_clear_cells(bad_runs):
    """NaN/inf pixels are counted under the heatmap; empty and one-sided stages say so."""
    doc = make_doc(*bad_runs)
    html = render_html(as_result(doc), *bad_runs)
    nan_section = re.search(r'<section id="stage-0".*?</section>', html, re.S).group(0)
    assert "17 non-finite (cyan)" in nan_section  # 4x4 NaN block + one inf pixel, planted in B
    assert "empty tensor" in html
    assert "only in A: run B has no record of this stage" in html


def test_stats_only_runs_render_statistics(stats_runs):
    """Runs recorded without payloads render a statistics cell instead of pictures."""
    doc = make_doc(*stats_runs)
    html = render_html(as_result(doc), *stats_runs)
    assert "statistics only (recorded in stats mode)" in html
    assert not _PIC.findall(html) and "<th>mean</th>" in html


def test_lower_bounds_are_marked_as_the_text_report_marks_them(stats_runs, planted_html):
    """A stats-mode max |A-B| taken from a sample of the values only bounds the difference: the page marks
    it with &ge; wherever the JSON says lower_bound (the text report's ">="), and nowhere else."""
    from bmtrace.report.html_page import fmt_num

    doc = make_doc(*stats_runs)
    html = render_html(as_result(doc), *stats_runs)
    tensors = [t for stage in doc["stages"] for t in stage["tensors"] if t.get("max_abs_diff")]
    bounded = {fmt_num(t["max_abs_diff"]) for t in tensors if t["lower_bound"]}
    exact = {fmt_num(t["max_abs_diff"]) for t in tensors if not t["lower_bound"]}
    assert bounded and all("&ge;" + figure in html for figure in bounded)
    marked = set(re.findall(r"&ge;([0-9.e+-]+)", html))
    assert marked and marked <= bounded | {fmt_num(float(f), 3) for f in bounded}  # the chips use 3 digits
    assert not any("&ge;" + figure in html for figure in exact - bounded)
    assert "&ge;" not in planted_html  # full mode: every figure is exact


@pytest.mark.parametrize("doc", [{}, {"stages": None, "hints": None, "environment": None}, []])
def test_documents_without_stages_are_refused(doc):
    """A document with no list of stages is not a diff document: a clear ValueError, no page."""
    with pytest.raises(ValueError, match="not a bmtrace diff document"):
        as_result(doc)


@pytest.mark.parametrize("doc", [
    {"aligned": False, "first_divergence": {"stage": "gone", "sample": None, "tensor": None}, "stages": [
        {"stage": "s", "status": "weird", "tensors": [
            {"name": "t", "status": "odd", "max_abs_diff": "NaN", "cosine": "Infinity", "shape_a": None}]},
        {"status": "diverged"},
        {"stage": "s", "sample": 3, "status": "error", "errors": {"a": {"type": "ValueError", "message": "x"}},
         "tensors": ["not a dict"]}]},
])
def test_malformed_documents_still_render(doc):
    """Missing keys, unknown statuses, NaN strings and odd types give a page, not an exception."""
    html = render_html(as_result(doc))
    assert html.startswith("<!DOCTYPE html>") and 'id="first-divergence"' in html


def test_nan_metric_strings_are_flagged(planted_doc):
    """A max abs diff spelled "NaN" in the document shows as a red NaN, not a number."""
    doc = copy.deepcopy(planted_doc)
    doc["stages"][0]["tensors"][-1]["max_abs_diff"] = "NaN"
    assert '<span class="nonfinite">NaN</span>' in render_html(as_result(doc))


def test_save_html_writes_atomically(planted_doc, tmp_path):
    """save_html leaves exactly the report file, no temporary, and it holds the page."""
    out = tmp_path / "sub" / "r.html"
    save_html(as_result(planted_doc), None, None, out)
    assert os.listdir(str(tmp_path / "sub")) == ["r.html"]
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_importing_the_report_module_does_not_load_matplotlib():
    """matplotlib loads only when a report is rendered, not when the module is imported."""
    code = "import sys, bmtrace.report.html; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_markup_is_balanced(planted_html):
    """Every section, div, table, row, cell and figure that opens also closes, in order."""
    from html.parser import HTMLParser

    tracked = {"section", "div", "table", "tr", "td", "th", "figure", "details", "nav", "main", "span", "a"}

    class Checker(HTMLParser):
        def __init__(self):
            super().__init__()
            self.stack, self.errors = [], []

        def handle_starttag(self, tag, attrs):
            if tag in tracked:
                self.stack.append(tag)

        def handle_endtag(self, tag):
            if tag in tracked:
                if not self.stack or self.stack[-1] != tag:
                    self.errors.append("</%s> closes %s" % (tag, self.stack[-1:] or "nothing"))
                else:
                    self.stack.pop()

    checker = Checker()
    checker.feed(planted_html)
    assert checker.errors == [] and checker.stack == []


def test_real_isolation_marks_resize_as_the_source(planted_runs, isolated_doc):
    """With isolation replay, resize introduces the error and to_rgb only inherits it."""
    html = render_html(as_result(isolated_doc), *planted_runs, images_per_stage=0)
    strip = re.search(r'<nav id="pipeline".*?</nav>', html, re.S).group(0)
    chips = {n: (c, rest) for c, n, rest in
             re.findall(r'class="chip s-(\w+)[^"]*"[^>]*><div class="n">([^<]+)</div>(.*?)</a>', strip)}
    assert chips["resize"][0] == "bad" and "introduces error" in chips["resize"][1]
    assert chips["to_rgb"][0] == "inherit" and "inherits only" in chips["to_rgb"][1]
    to_rgb = re.search(r'<section id="stage-2".*?</section>', html, re.S).group(0)
    assert "Local vs inherited error" in to_rgb and "inherited from upstream" in to_rgb


def test_hwc_vs_chw_heatmap_compares_after_layout(bad_runs):
    """The same picture stored HWC in A and CHW in B draws a zero heatmap, noting the layouts."""
    doc = make_doc(*bad_runs)
    html = render_html(as_result(doc), *bad_runs)
    section = next(s for s in re.findall(r'<section id="stage-\d+".*?</section>', html, re.S)
                   if '<span class="mono">layout</span>' in s)
    assert "after layout HWC vs CHW" in section
    assert "0.00% pixels differ" in section


def _many_samples_doc(n):
    """A one-stage diff document with n diverged samples, sample i having max abs diff i."""
    stages = [{"sample": "s%04d" % i, "stage": "resize", "occurrence": 0, "status": "diverged",
               "tensors": [{"name": "out", "status": "diverged", "max_abs_diff": float(i), "role": "output"}]}
              for i in range(n)]
    return {"aligned": False, "first_divergence": {"sample": "s0000", "stage": "resize", "tensor": "out"},
            "stages": stages, "hints": [], "environment": {}}


def test_row_cap_keeps_the_worst_and_links_the_rest_to_their_stage():
    """With max_rows=10 of 50 samples the 10 worst are listed, the others counted, links still land."""
    html = render_html(as_result(_many_samples_doc(50)), max_rows=10)
    section = re.search(r'<section id="stage-0".*?</section>', html, re.S).group(0)
    listed = re.findall(r"<td rowspan=\"1\"><code>(s\d+)</code>", section)
    assert sorted(listed) == ["s0000"] + ["s%04d" % i for i in range(40, 50)]  # + the first divergence
    assert "Not listed (the JSON document has them all): 39 DIVERGED." in section
    targets = set(re.findall(r'href="#([^"]+)"', html))
    assert targets and targets <= set(re.findall(r'id="([^"]+)"', html))  # no link leads nowhere


def test_every_in_page_link_has_a_target(planted_html):
    """Every href="#..." in the planted report points at an element id that exists."""
    targets = set(re.findall(r'href="#([^"]+)"', planted_html))
    assert targets and targets <= set(re.findall(r'id="([^"]+)"', planted_html))


def test_environment_difference_from_real_runs_is_shown(tmp_path):
    """A BMRT_* variable set only while recording run B shows up in the environment table."""
    from .pipeline import record, write_images

    images = write_images(str(tmp_path / "images"), 1)
    a = record(str(tmp_path / "a"), "A", images)
    os.environ["BMRT_REPORT_TEST"] = "on"
    try:
        b = record(str(tmp_path / "b"), "B", images)
    finally:
        del os.environ["BMRT_REPORT_TEST"]
    import bmtrace

    run_a, run_b = bmtrace.open_run(a), bmtrace.open_run(b)
    html = render_html(as_result(make_doc(run_a, run_b)), run_a, run_b, images_per_stage=0)
    env = re.search(r'<section id="environment".*?</section>', html, re.S).group(0)
    assert re.search(r'<tr class="hl"><td class=mono>env\.BMRT_REPORT_TEST</td><td class=mono>'
                     r'<span class="na">\(not set\)</span></td><td class=mono>on</td>', env)


def test_only_the_entries_the_page_shows_are_serialised(monkeypatch):
    """A long run's report makes the JSON of the rows it lists, not of every entry (nor the whole
    document's list of them): 50 samples, 10 rows listed."""
    from bmtrace.compare.results import StageComparison

    result = as_result(_many_samples_doc(50))
    made = []
    real = StageComparison.to_json
    monkeypatch.setattr(StageComparison, "to_json", lambda self: made.append(self) or real(self))
    html = render_html(result, max_rows=10)
    assert 0 < len(made) <= 12  # the 10 worst and the first divergence
    assert "Not listed (the JSON document has them all): 39 DIVERGED." in html
