"""The HTML report at scale (500 samples x 8 stages): small first screen, folded samples, filter, worst first."""
import os
import re
import shutil
import tempfile

import pytest

pytest.importorskip("matplotlib")

from bmtrace.report.html import render_html  # noqa: E402

from .big_result import STAGES, big_result  # noqa: E402

MAX_PAGE_BYTES = 2_000_000
MAX_FIRST_SCREEN_BYTES = 20_000


@pytest.fixture(scope="module")
def page():
    """The report of a generated 500 x 8 result (metrics only, no runs to draw from)."""
    return render_html(big_result())


def _first_screen(page):
    return page[:page.index('<section id="stage-0"')]


def test_page_stays_under_the_size_bound(page):
    """4000 stage records render into less than 2 MB."""
    assert len(page.encode()) < MAX_PAGE_BYTES


def test_first_screen_before_the_stages_is_small(page):
    """Everything before the first stage section (verdict, navigation, worst samples) is under 20 kB."""
    assert len(_first_screen(page).encode()) < MAX_FIRST_SCREEN_BYTES


def test_top_samples_table_lists_the_worst_twenty(page):
    """The samples table above the stages lists 20 samples, worst first, and links to the rest."""
    top = re.search(r'<section id="samples".*?</section>', page, re.S).group(0)
    keys = re.findall(r"<td><code>images/img_(\d+)\.jpg</code></td>", top)
    assert len(keys) == 20
    assert [int(k) for k in keys] == sorted((int(k) for k in keys), reverse=True)
    assert int(keys[0]) == max(i for i in range(500) if i % 3 == 0)
    assert 'href="#samples-more"' in top


def test_remaining_samples_are_folded_after_the_stages(page):
    """The other samples are in a closed <details> after the last stage section."""
    more = re.search(r'<section id="samples-more".*?</section>', page, re.S).group(0)
    assert "<details>" in more and "<details open" not in more
    assert page.index('id="samples-more"') > page.index('id="stage-%d"' % (len(STAGES) - 1))
    assert len(re.findall(r"<tr data-filter=", more)) > 100


def test_stage_navigation_is_worst_first(page):
    """The worst-first navigation starts with the stage holding the largest difference (the last one)."""
    nav = re.search(r'<nav class="toc worst".*?</nav>', page, re.S).group(0)
    names = re.findall(r"</span> ([a-z_]+)</a>", nav)
    assert names[0] == STAGES[-1] and sorted(names) == sorted(STAGES)
    assert set(names[-2:]) == {"read", "to_rgb"}


def test_filter_box_and_script_are_inline(page):
    """The filter box is in the page and its script is inline (no external resources)."""
    assert 'id="bmtrace-filter"' in _first_screen(page)
    assert "function bmtraceFilter" in page
    assert not re.search(r"<script\b[^>]*\bsrc=|<link\b|https?://", page)


def _browser():
    if not (os.path.exists("/usr/bin/chromium") and os.path.exists("/usr/bin/chromedriver")):
        pytest.skip("chromium/chromedriver not installed (bash scripts/install_browser.sh)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")
    profile = tempfile.mkdtemp(prefix="bmtrace-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--user-data-dir=" + profile):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options), profile


def test_filter_box_filters_samples_and_stages_in_a_browser(tmp_path):
    """Typing a sample key leaves one sample row; typing a stage name hides the other stage sections."""
    path = tmp_path / "big.html"
    path.write_text(render_html(big_result(n_samples=60)))
    driver, profile = _browser()
    try:
        driver.get("file://%s" % path)
        box = driver.find_element("id", "bmtrace-filter")
        box.send_keys("img_0042")
        rows = [r for r in driver.find_elements("css selector", "tr[data-filter]") if r.is_displayed()]
        assert len(rows) == 1 and "img_0042" in rows[0].text
        assert driver.find_element("id", "stage-0").is_displayed()  # a sample search keeps the stages
        box.clear()
        box.send_keys("normalize")
        sections = [s.get_attribute("id") for s in driver.find_elements("css selector", "section.stage")
                    if s.is_displayed()]
        assert sections == ["stage-%d" % STAGES.index("normalize")]
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
