"""The HTML report in a real headless browser (Debian chromium driven by chromedriver + selenium).

Install what this needs with `bash scripts/install_browser.sh`; without it the tests skip and say so.
Set BMTRACE_SCREENSHOT_DIR to keep the screenshots (CI can publish them).
"""
import os
import shutil
import tempfile

import pytest

from .pipeline import as_result

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# Offline and hermetic: no sandbox (root in CI), no GPU, nothing that phones home.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1280,1000")


def _missing():
    if not os.path.exists(CHROMIUM) or not os.path.exists(CHROMEDRIVER):
        return "chromium/chromedriver not installed (run: bash scripts/install_browser.sh)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium not installed (run: bash scripts/install_browser.sh)"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=_missing() or "")


@pytest.fixture(scope="module")
def browser():
    """A headless chromium with an empty profile, logging the page's console."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not try to download drivers
    profile = tempfile.mkdtemp(prefix="bmtrace-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS + ("--user-data-dir=" + profile,):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def loaded(browser, planted_report_file):
    """The planted runs' report opened from disk, with the console messages of loading it."""
    browser.get_log("browser")  # drop anything logged before this page
    browser.get("file://" + os.path.abspath(planted_report_file))
    return browser, browser.get_log("browser")


def test_page_loads_without_console_errors(loaded):
    """Loading the report logs no console errors and no failed resource loads."""
    _, log = loaded
    severe = [entry for entry in log if entry.get("level") in ("SEVERE", "ERROR")]
    assert severe == []


def test_first_divergence_is_visible_above_the_fold(loaded):
    """The first-divergence line is displayed, inside the first screen, and names the planted stage."""
    driver, _ = loaded
    element = driver.find_element("id", "first-divergence")
    assert element.is_displayed()
    assert "resize" in element.text
    assert element.rect["y"] + element.rect["height"] < driver.execute_script("return window.innerHeight")


def test_every_inline_picture_decodes(loaded):
    """Every <img> in the page finished loading and has real pixels (the base64 PNGs are valid)."""
    driver, _ = loaded
    sizes = driver.execute_script(
        "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight]);")
    assert sizes and all(done and w > 0 and h > 0 for done, w, h in sizes)


def test_stage_links_navigate_to_their_section(loaded):
    """Clicking the resize chip in the pipeline strip scrolls its stage section into view."""
    driver, _ = loaded
    driver.find_element("css selector", '#pipeline a[href="#stage-1"]').click()
    top = driver.execute_script("return document.getElementById('stage-1').getBoundingClientRect().top;")
    assert abs(top) < 5
    driver.execute_script("window.scrollTo(0, 0);")


def test_screenshot_is_produced(loaded, tmp_path):
    """A PNG screenshot of the page is written (kept under BMTRACE_SCREENSHOT_DIR when set)."""
    import numpy as np
    from PIL import Image

    driver, _ = loaded
    driver.execute_script("window.scrollTo(0, 0);")
    out_dir = os.environ.get("BMTRACE_SCREENSHOT_DIR") or str(tmp_path)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "report_top.png")
    assert driver.save_screenshot(path)
    with Image.open(path) as shot:
        assert shot.format == "PNG" and shot.size[0] >= 800 and shot.size[1] >= 600
        # the red verdict banner is on screen: a good share of strongly red pixels
        rgb = np.asarray(shot.convert("RGB")).astype(int)
    red = (rgb[..., 0] > 170) & (rgb[..., 1] < 80) & (rgb[..., 2] < 80)
    assert red.mean() > 0.03


def test_link_to_a_folded_row_opens_its_fold(browser, planted_runs, planted_doc, tmp_path):
    """Navigating to a table row folded under <details> opens the fold and shows the row."""
    from bmtrace.report.html import save_html

    path = save_html(as_result(planted_doc), *planted_runs, str(tmp_path / "folded.html"), visible_rows=1,
                     images_per_stage=0)
    browser.get("file://" + path)
    folded = browser.execute_script(
        "var r = document.querySelector('details tr[id^=entry-]'); return r ? r.id : null;")
    assert folded is not None
    assert not browser.find_element("id", folded).is_displayed()
    browser.get("file://%s#%s" % (path, folded))
    assert browser.find_element("id", folded).is_displayed()
    severe = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
    assert severe == []
