"""The HTML report in a real browser: Debian's headless Chromium driven by Selenium.

The report of a real smoke run (the session fixture ``smoke_store``) must render (the
screenshot is not one colour), have one table row per pair, sort when a header is clicked,
log no JavaScript error, and every per-pair link must resolve to a page or a file that
loads. A report of 35 synthetic pairs checks sorting and filtering at scale.

Needs ``apt-get install chromium chromium-driver`` and ``selenium`` (the test extra).
Without them the tests skip with the reason, except when MVFLOWS_REQUIRE_BROWSER is set
(``.ci/run`` sets it): there a missing browser fails the run instead of hiding it.
"""

import io
import json
import os
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from conftest import mvflows_cli as _mvflows
from conftest import synthetic_docs

from mvflows.report import build_report

# Chromium in a container as root with no network: no sandbox, no GPU, and nothing of its
# own that phones home (refused connections would show up in the console log)
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,1000",
)


def _unavailable(reason):
    if os.environ.get("MVFLOWS_REQUIRE_BROWSER"):
        pytest.fail(f"{reason}; MVFLOWS_REQUIRE_BROWSER is set, so the browser test must run")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _unavailable("selenium is not installed (pip install -e '.[test]')")
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        _unavailable(
            "Debian's chromium and chromium-driver are not installed "
            "(apt-get install chromium chromium-driver)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = chromium  # with the driver's path given, Selenium downloads nothing
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # console messages and JS errors
    drv = webdriver.Chrome(service=Service(driver), options=options)
    drv.set_page_load_timeout(60)
    yield drv
    drv.quit()


def _open(drv, path):
    drv.get(Path(path).resolve().as_uri())
    assert drv.execute_script("return document.readyState") == "complete"


def _errors(drv):
    """Console messages at error level since the last call (the log empties on reading)."""
    return [e for e in drv.get_log("browser") if e["level"] == "SEVERE"]


def _assert_not_blank(png):
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50, "the screenshot is (almost) one colour"
    background = max(colours)[0]
    assert background < 0.97 * image.width * image.height, "the screenshot is nearly all background"


def _column(drv, header):
    from selenium.webdriver.common.by import By

    heads = [th.text.strip() for th in drv.find_elements(By.CSS_SELECTOR, "#results-table thead th")]
    col = heads.index(header)
    rows = drv.find_elements(By.CSS_SELECTOR, "#results-table tbody tr")
    return [r.find_elements(By.TAG_NAME, "td")[col] for r in rows if r.is_displayed()]


def _click_header(drv, header):
    from selenium.webdriver.common.by import By

    heads = drv.find_elements(By.CSS_SELECTOR, "#results-table thead th")
    th = next(th for th in heads if th.text.strip() == header)
    th.click()
    return th.get_attribute("aria-sort")


def _numbers(cells):
    out = []
    for c in cells:
        try:
            out.append(float(c.text))
        except ValueError:
            out.append(None)
    return out


def _images_loaded(drv):
    return drv.execute_script(
        "return Array.from(document.images)"
        ".map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0]);"
    )


def _fetched_from_elsewhere(drv):
    return drv.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
        ".filter(u => !u.startsWith('file:'));"
    )


@pytest.fixture(scope="module")
def smoke_report(smoke_store, tmp_path_factory):
    """The report of the smoke run, written by the CLI: (folder, the store's result documents)."""
    store, _ = smoke_store
    out = tmp_path_factory.mktemp("smoke-report") / "report"
    result = _mvflows("report", "--store", str(store), "-o", str(out))
    assert result.returncode == 0, result.stderr
    docs = json.loads(_mvflows("results", "--store", str(store), "--format", "json").stdout)
    return out, docs


def _check_download(path, doc):
    """A downloaded file loads: a CIF as a structure, an extxyz as one frame per NEB image."""
    assert path.is_file(), path
    if path.suffix == ".cif":
        from pymatgen.core import Structure

        assert len(Structure.from_file(path)) > 0
    elif path.suffix == ".extxyz":
        from ase.io import read

        frames = read(path, index=":")
        assert len(frames) == len(doc["neb_energies_ev"])
        energies = [f.get_potential_energy() for f in frames]
        relative = [e - energies[0] for e in energies]
        assert relative == pytest.approx(doc["neb_energies_ev"], abs=1e-6)
    else:
        raise AssertionError(f"unexpected download {path.name}")


@pytest.mark.slow
def test_smoke_report_in_chromium(browser, smoke_report, tmp_path):
    from selenium.webdriver.common.by import By

    folder, docs = smoke_report
    _open(browser, folder / "index.html")
    png = browser.get_screenshot_as_png()
    (tmp_path / "index.png").write_bytes(png)
    _assert_not_blank(png)

    rows = browser.find_elements(By.CSS_SELECTOR, "#results-table tbody tr")
    assert len(rows) == len(docs) == 2
    assert {(r.get_attribute("data-ion"), r.get_attribute("data-host")) for r in rows} == {
        (d["intercalant"], d["host"]) for d in docs
    }
    assert all(ok for _src, ok in _images_loaded(browser)), _images_loaded(browser)
    assert len(_images_loaded(browser)) >= 3  # neb, voltage-capacity, site-barrier (no hull in smoke)

    volts = sorted(d["voltage_v"] for d in docs)
    assert _click_header(browser, "V (V)") == "ascending"
    assert _numbers(_column(browser, "V (V)")) == pytest.approx(volts, abs=1e-3)
    assert _click_header(browser, "V (V)") == "descending"
    assert _numbers(_column(browser, "V (V)")) == pytest.approx(volts[::-1], abs=1e-3)

    links = [
        a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "#results-table tbody a")
    ]
    assert len(links) == len(docs)
    assert not _errors(browser) and not _fetched_from_elsewhere(browser)

    by_title = {f"{d['intercalant']} in {d['host']}": d for d in docs}
    for url in links:
        browser.get(url)
        title = browser.find_element(By.TAG_NAME, "h1").text
        doc = next(d for name, d in by_title.items() if title.startswith(name))
        assert all(ok for _src, ok in _images_loaded(browser)) and _images_loaded(browser)
        files = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "a[download]")]
        assert sum(f.endswith(".cif") for f in files) == 4 and sum(f.endswith(".extxyz") for f in files) == 1
        for href in files:
            _check_download(Path(unquote(urlparse(href).path)), doc)
        back = browser.find_element(By.LINK_TEXT, "← all pairs").get_attribute("href")
        assert Path(unquote(urlparse(back).path)) == (folder / "index.html").resolve()
        assert not _errors(browser) and not _fetched_from_elsewhere(browser)

    browser.execute_script("console.error('mvflows probe')")  # the log really catches errors
    assert any("mvflows probe" in e["message"] for e in _errors(browser))


def test_sorting_and_filtering_35_pairs(browser, tmp_path):
    from selenium.webdriver.support.ui import Select

    docs = synthetic_docs(35)
    for d in docs[::5]:  # skipped NEBs: no barrier, shown as "skipped", sorted last either way
        d.update(barrier_ev=None, neb_energies_ev=None, neb_skipped_reason="|dE_site| above the screen")
    _open(browser, build_report(docs, tmp_path / "r"))
    _assert_not_blank(browser.get_screenshot_as_png())
    barriers = sorted(d["barrier_ev"] for d in docs if d["barrier_ev"] is not None)
    n = len(barriers)
    assert _click_header(browser, "barrier (eV)") == "ascending"
    shown = _numbers(_column(browser, "barrier (eV)"))
    assert shown[:n] == pytest.approx(barriers, abs=1e-3) and shown[n:] == [None] * (len(docs) - n)
    _click_header(browser, "barrier (eV)")
    shown = _numbers(_column(browser, "barrier (eV)"))
    assert shown[:n] == pytest.approx(barriers[::-1], abs=1e-3) and shown[n:] == [None] * (len(docs) - n)
    _click_header(browser, "host")
    assert [c.text for c in _column(browser, "host")] == sorted(d["host"] for d in docs)

    Select(browser.find_element("id", "filter-ion")).select_by_value("Zn")
    assert [c.text for c in _column(browser, "ion")] == ["Zn"] * sum(d["intercalant"] == "Zn" for d in docs)
    Select(browser.find_element("id", "filter-host")).select_by_value("Cr2S4")
    assert [c.text for c in _column(browser, "pair")] == ["Zn in Cr2S4"]
    assert browser.find_element("id", "shown").text == "1"
    Select(browser.find_element("id", "filter-ion")).select_by_value("")
    assert len(_column(browser, "pair")) == 3
    assert not _errors(browser)
