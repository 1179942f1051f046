"""The built documentation, opened in a real headless browser.

Runs after ``make -C docs html`` (CI does so in ``.ci/run``); skipped when the
site is not built, selenium is not installed (``pip install ".[docs]"``), or
no Chromium and chromedriver are found (Debian: ``apt-get install chromium
chromium-driver``). The site is served over HTTP on the loopback interface,
as a reader's browser would get it. For the home page, a user-guide page with
equations, a gallery page and an API page it checks that the page renders:
no error in the browser console (a missing file, a script error, a failed
request), every image loaded, the equations typeset by the site's own
MathJax, and a screenshot that is not blank. The screenshots are kept in
``docs/_build/screenshots`` to be looked at.
"""
import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

import pytest

SITE = Path(__file__).resolve().parents[1] / "docs" / "_build" / "html"
SCREENSHOTS = SITE.parent / "screenshots"

# (page, what must be on it): the gallery image and the equations are the
# parts most likely to break without any build warning.
PAGES = {
    "index.html": {},
    "user_guide/em.html": {"math": True},
    "auto_examples/plot_faithful_density.html": {"image": "sphx_glr_plot_faithful_density_001"},
    "api/generated/gmmc.GaussianMixture.html": {},
}

# CI sets GMMC_DOCS_SITE_REQUIRED=1 after building the site: then a missing
# site, selenium or browser fails the test instead of skipping it.
REQUIRED = os.environ.get("GMMC_DOCS_SITE_REQUIRED") == "1"


def _unavailable(reason):
    if REQUIRED:
        pytest.fail(f"GMMC_DOCS_SITE_REQUIRED=1, but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module", autouse=True)
def _site_built():
    if not (SITE / "index.html").exists():
        _unavailable("the documentation is not built (make -C docs html)")


def _executable(*names):
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site_url(_site_built):
    handler = functools.partial(_QuietHandler, directory=str(SITE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    try:
        from selenium import webdriver
    except ImportError:
        _unavailable("selenium is not installed (pip install '.[docs]')")
    chromium = _executable("chromium", "chromium-browser", "google-chrome")
    driver_path = _executable("chromedriver")
    if chromium is None or driver_path is None:
        _unavailable("no chromium and chromedriver (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,1000",
                     "--hide-scrollbars"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options,
                              service=webdriver.ChromeService(executable_path=driver_path))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _wait(driver, condition, timeout=30):
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(lambda d: d.execute_script(condition))


def _not_blank(png):
    """Whether a screenshot shows something: many colours and a real spread."""
    import io

    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float64)
    distinct = len(np.unique(pixels.reshape(-1, 3)[::7], axis=0))
    return pixels.std() > 10 and distinct > 50, f"std {pixels.std():.1f}, {distinct} colours"


@pytest.mark.parametrize("page", sorted(PAGES))
def test_page_renders(browser, site_url, page):
    expect = PAGES[page]
    browser.get_log("browser")  # drop what earlier pages logged
    browser.get(site_url + page)
    _wait(browser, "return document.readyState === 'complete'")
    if expect.get("math"):
        # MathJax (served from _static/mathjax) replaces each equation by an
        # mjx-container; an unloaded script or font leaves the TeX source.
        _wait(browser, "return document.querySelectorAll('mjx-container').length > 0 && "
                       "document.querySelectorAll('.math mjx-container').length === "
                       "document.querySelectorAll('.math').length")
    _wait(browser, "return Array.from(document.images).every(i => i.complete)")

    assert "gmmc" in browser.title
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.currentSrc || i.src, "
        "i.naturalWidth])")
    broken = [src for src, width in images if not width]
    assert not broken, f"{page}: images that did not load: {broken}"
    if "image" in expect:
        assert any(expect["image"] in src for src, _ in images), \
            f"{page}: no gallery figure {expect['image']} among {images}"

    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, f"{page}: console errors: {errors}"

    browser.execute_script("window.scrollTo(0, 0)")
    png = browser.get_screenshot_as_png()
    SCREENSHOTS.mkdir(exist_ok=True)
    (SCREENSHOTS / (page.replace("/", "_").removesuffix(".html") + ".png")).write_bytes(png)
    ok, how = _not_blank(png)
    assert ok, f"{page}: the screenshot looks blank ({how})"


def test_gallery_page_figure_is_in_view(browser, site_url):
    """The gallery's first figure, scrolled into view, is drawn (not an empty box)."""
    page = "auto_examples/plot_faithful_density.html"
    browser.get(site_url + page)
    _wait(browser, "return document.readyState === 'complete'")
    _wait(browser, "return Array.from(document.images).every(i => i.complete)")
    figure = browser.find_element("css selector", "img.sphx-glr-single-img")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", figure)
    assert figure.size["width"] > 300 and figure.size["height"] > 150, figure.size
    png = figure.screenshot_as_png
    SCREENSHOTS.mkdir(exist_ok=True)
    (SCREENSHOTS / "gallery_figure.png").write_bytes(png)
    ok, how = _not_blank(png)
    assert ok, f"the gallery figure looks blank ({how})"
