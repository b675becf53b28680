"""The benchmark dashboard in a real headless browser (Debian's chromium + chromium-driver, driven by
selenium): pages load without console errors, the tables show the stored values, every plot loads, links
work, and nothing is fetched from outside (issue 22)."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium")
DRIVER = shutil.which("chromedriver")


def _results() -> tuple[list[dict], list[dict]]:
    rows, runs = [], []
    rid = 0
    for run_id, (platform, backend, emulated, commit, value, ts) in enumerate([
            ("spinnaker", "nmcluster.spinnaker", 1, "a" * 40, 1.25, "2026-12-01T10:00:00"),
            ("spinnaker", "spiNNaker", 0, "b" * 40, 1.5, "2026-12-02T10:00:00"),
            ("wafer", "nmcluster.brainscales", 1, "b" * 40, 0.75, "2026-12-02T11:00:00")], start=1):
        runs.append({"id": run_id, "model": "IF_cond_exp", "task": "rate_response", "platform": platform,
                     "commit_id": commit, "trigger": "commit", "status": "harvested", "message": "3 results"})
        for name, units, v in (("rate_response#slope", "Hz/Hz", value), ("run_time", "s", value * 2),
                               ("<script>alert(1)</script>", "", 1.0)):
            rid += 1
            rows.append({"id": rid, "run_id": run_id, "model": "IF_cond_exp", "task": "rate_response",
                         "type": "quality", "name": name, "measure": "slope", "value": v, "units": units,
                         "std_dev": 0.1, "min": None, "max": None, "timestamp": ts, "platform": platform,
                         "backend": backend, "emulated": emulated, "repo": "https://example.org/bench.git",
                         "commit_id": commit, "nmcluster_version": "0.1.0", "calib_version": 3 if not emulated
                         else None, "job_id": 10 + run_id, "wall_time": 4.5, "report_file": "r.json"})
    return rows, runs


@pytest.fixture
def browser():
    if not (CHROMIUM and DRIVER):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromium-driver are not installed (scripts/test installs them)")
        pytest.skip("needs Debian's chromium and chromium-driver")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def served(tmp_path):
    from nmcluster.benchmarks.dashboard import write_report

    rows, runs = _results()
    out = tmp_path / "site"
    write_report(rows, runs, out)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", out
    finally:
        server.shutdown()


def test_dashboard_in_chromium(browser, served):
    from selenium.webdriver.common.by import By

    base, out = served
    browser.get(f"{base}/index.html")
    assert browser.title == "nmcluster benchmarks"
    cells = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "table td")]
    assert "3" in cells  # three runs of the task
    assert any("rate_response#slope: 0.75 Hz/Hz" in c for c in cells)  # the latest run's figures
    link = browser.find_element(By.LINK_TEXT, "IF_cond_exp / rate_response")
    link.click()
    assert browser.current_url.endswith("task-IF_cond_exp-rate_response.html")
    # every plot image loaded (naturalWidth > 0) and has axes text in its alt
    images = browser.find_elements(By.TAG_NAME, "img")
    assert len(images) == 3
    for img in images:
        assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img) > 300
    # the table rows show the stored values with commit, calibration version, backend and job
    text = browser.find_element(By.TAG_NAME, "body").text
    for needle in ("1.25", "1.5", "0.75", "Hz/Hz", "aaaaaaaaaaaa", "bbbbbbbbbbbb", "spiNNaker (hardware)",
                   "nmcluster.brainscales (emulator)", "SpiNNaker", "BrainScaleS"):
        assert needle in text, needle
    # a measurement name with markup is shown as text, never run
    assert "<script>alert(1)</script>" in text
    assert browser.execute_script("return document.scripts.length") == 0
    # back to the index through the navigation link
    browser.find_element(By.LINK_TEXT, "all benchmarks").click()
    assert browser.current_url.endswith("index.html")
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == [], errors
    # nothing is loaded from another host (works without internet): every src/href is relative
    import re

    for page in out.glob("*.html"):
        refs = re.findall(r'(?:src|href)="([^"]*)"', page.read_text())
        assert refs and all("://" not in r and not r.startswith("//") for r in refs), refs
