"""The Job Manager in a real headless chromium (Debian ``chromium`` + ``chromium-driver``, selenium), with
JavaScript switched off: sign in with a token, submit a PyNN script through the form, watch the job page
until it has finished, read its log, see its output files and the raster/membrane plots that
``nmcluster plot`` draws; no console errors on any page."""

from __future__ import annotations

import shutil
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

PYNN_SCRIPT = '''import sys
from importlib import import_module
sim = import_module("pyNN." + sys.argv[1])
sim.setup(timestep=1.0)
src = sim.Population(5, sim.SpikeSourcePoisson(rate=80.0))
pop = sim.Population(5, sim.IF_curr_exp())
sim.Projection(src, pop, sim.OneToOneConnector(), sim.StaticSynapse(weight=5.0))
pop.record(["spikes", "v"])
sim.run(100.0)
pop.write_data("pop.pkl")
sim.end()
print("browser job done")
'''


@pytest.fixture
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_bin = shutil.which("chromedriver")
    if not chromium or not driver_bin:
        pytest.skip("chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        opts.add_argument(arg)
    opts.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(driver_bin), options=opts)
    drv.set_page_load_timeout(180)
    try:
        yield drv
    finally:
        drv.quit()


def settle(drv, cond, what: str, timeout: float = 60):
    """Wait until ``cond(drv)`` holds after a click (the next page loads asynchronously to the click)."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(drv, timeout, poll_frequency=0.1).until(lambda d: cond(d), message=what)


def console_errors(drv) -> list:
    return [e for e in drv.get_log("browser") if e["level"] == "SEVERE"]


def test_job_manager_submit_watch_log_plot(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    drv = browser
    drv.get(server.url + "/")
    assert "Sign in" in drv.title
    drv.find_element(By.ID, "token").send_keys("wrong")
    drv.find_element(By.ID, "signin").click()
    settle(drv, lambda d: "not valid" in d.page_source, "the refusal")
    assert drv.get_cookies() == []
    # the refused sign-in is the one error the console shows (HTTP 401 of /login)
    assert [e["message"].split(" - ")[0] for e in console_errors(drv)] == [server.url + "/login"]
    drv.find_element(By.ID, "token").send_keys(server.tokens["alice"])
    drv.find_element(By.ID, "signin").click()
    settle(drv, lambda d: d.title.startswith("Jobs"), "the job list")
    assert "No jobs yet" in drv.page_source
    cookie = drv.get_cookie("nmc_token")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

    drv.get(server.url + "/new")
    Select(drv.find_element(By.ID, "platform")).select_by_visible_text("SpiNNaker")
    Select(drv.find_element(By.ID, "collab")).select_by_visible_text("563")
    drv.find_element(By.ID, "code").send_keys(PYNN_SCRIPT)
    drv.find_element(By.ID, "tags").send_keys("browser, demo")
    drv.find_element(By.ID, "submit").click()
    settle(drv, lambda d: d.title.startswith("Job ") and "/job/" in d.current_url, "the job page")
    job_id = int(drv.current_url.rsplit("/", 1)[-1])
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    def ended(d) -> bool:  # the page reloads itself (meta refresh) until the job has ended
        try:
            return d.find_element(By.ID, "status").text in ("finished", "error")
        except (NoSuchElementException, StaleElementReferenceException):
            return False

    settle(drv, ended, "the job to end", timeout=240)
    log = drv.find_element(By.ID, "log").text
    assert drv.find_element(By.ID, "status").text == "finished", log
    assert "browser job done" in log
    outputs = [a.text for a in drv.find_elements(By.CSS_SELECTOR, "a.output")]
    assert "pop.pkl" in outputs
    imgs = drv.find_elements(By.CSS_SELECTOR, "img.plot")
    assert sorted(i.get_attribute("alt") for i in imgs) == ["membrane plot of pop.pkl", "raster plot of pop.pkl"]
    # the images the browser loaded are PNGs (fetched again here with the browser's cookie)
    for img in imgs:
        req = urllib.request.Request(img.get_attribute("src"), headers={"Cookie": f"nmc_token={cookie['value']}"})
        data = urllib.request.urlopen(req, timeout=60).read()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    # the output link works without the cookie (signed), and the job list shows the job finished
    href = drv.find_element(By.CSS_SELECTOR, "a.output").get_attribute("href")
    assert urllib.request.urlopen(href, timeout=30).status == 200
    drv.get(server.url + "/")
    row = drv.find_element(By.CSS_SELECTOR, f'#jobs a[href="/job/{job_id}"]').find_element(By.XPATH, "../..")
    assert "finished" in row.text and "browser, demo" in row.text
    assert console_errors(drv) == []
    # a form without its CSRF field (another site posting with the cookie) is refused, nothing queued
    body = urllib.parse.urlencode({"platform": "SpiNNaker", "collab": "563", "code": "print(1)\n"}).encode()
    req = urllib.request.Request(server.url + "/new", data=body, headers={"Cookie": f"nmc_token={cookie['value']}"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=30)
    assert err.value.code == 403
    assert len(server.json("GET", "/jobs/?size=100", server.tokens["alice"])[1]) == 1
    drv.find_element(By.ID, "logout").click()
    settle(drv, lambda d: "Sign in" in d.title, "the sign-in page")
    assert drv.get_cookie("nmc_token") is None
