"""Headless Chromium through Selenium, and the page helpers the browser tests share.

The browser and its driver are the system's (Debian's ``chromium`` and
``chromium-driver``, which ``.ci/run`` installs); both paths are passed
explicitly, so Selenium Manager, which would download a browser, never runs.
"""

from __future__ import annotations

import base64
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.utils.http import urlencode
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.selenium_manager import SeleniumManager
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parent.parent.parent
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = os.environ.get("PERFKIT_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("PERFKIT_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
PASSWORD = "browser-test-password"  # every user the browser tests sign in as
WAIT_SECONDS = 10
POLL_SECONDS = 0.05  # WebDriverWait's default half second would dominate the suite

CHROME_FLAGS = (
    "--headless=new",
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--disable-features=Translate,OptimizationHints,MediaRouter",
    "--no-first-run",
    "--password-store=basic",
    "--window-size=1400,1000",
)

# Each <svg> on the page: its box, and the marks that show data (not axes or
# legend swatches): a line needs two points to be visible, a bar some height.
CHARTS_JS = """
return Array.from(document.querySelectorAll('svg')).map(function (svg) {
  var box = svg.getBoundingClientRect();
  function visible(el) { var b = el.getBBox(); return b.width > 0 || b.height > 0; }
  var lines = Array.from(svg.querySelectorAll('polyline, path')).filter(function (el) {
    return visible(el) && (el.tagName !== 'polyline' || el.points.numberOfItems > 1);
  }).length;
  var dots = Array.from(svg.querySelectorAll('circle')).filter(visible).length;
  var bars = Array.from(svg.querySelectorAll('rect')).filter(function (el) {
    return el.getBBox().height > 0 && el.getBBox().width > 0;
  }).length;
  return {cls: svg.getAttribute('class') || '', width: box.width, height: box.height,
          lines: lines, dots: dots, bars: bars};
});
"""


@dataclass
class Chart:
    """What an inline SVG drew, as the browser laid it out."""

    cls: str
    width: float
    height: float
    lines: int
    dots: int
    bars: int

    @property
    def has_size(self) -> bool:
        return self.width > 0 and self.height > 0


def chrome_options() -> webdriver.ChromeOptions:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return options


def missing_binaries() -> list[str]:
    return [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]


@contextmanager
def chromium(log_path: Path) -> Iterator[webdriver.Chrome]:
    """One headless Chromium.

    Without the browser installed the tests are skipped with the reason, except
    where ``PERFKIT_TEST_BROWSER=required`` (``.ci/run`` sets it after
    installing Chromium): there they fail, since a silent skip in CI hides them.
    """
    missing = missing_binaries()
    if missing:
        reason = (
            f"{', '.join(missing)} not found: the browser tests need Debian's chromium and "
            "chromium-driver (`apt-get install -y chromium chromium-driver`; .ci/run does it), "
            "or PERFKIT_TEST_CHROMIUM / PERFKIT_TEST_CHROMEDRIVER pointing at them"
        )
        if os.environ.get("PERFKIT_TEST_BROWSER") == "required":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    options = chrome_options()
    with tempfile.TemporaryDirectory(prefix="perfkit-chromium-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        service = Service(executable_path=CHROMEDRIVER, log_output=str(log_path))
        # Selenium Manager would download a browser and a driver: make its use an error.
        refuse = AssertionError("Selenium Manager must not run: pass the binaries explicitly")
        with mock.patch.object(SeleniumManager, "binary_paths", side_effect=refuse):
            driver = webdriver.Chrome(options=options, service=service)
        try:
            driver.set_page_load_timeout(30)
            yield driver
        finally:
            driver.quit()


class Browser:
    """The session's Chromium, pointed at one test's live server."""

    def __init__(self, driver: webdriver.Chrome, base_url: str) -> None:
        self.driver = driver
        self.base_url = base_url.rstrip("/")

    def reset(self) -> None:
        """Forget the previous test: its cookies and its console messages."""
        self.driver.get("about:blank")
        self.driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
        self.driver.get_log("browser")

    def open(self, path: str) -> None:
        self.driver.get(self.base_url + path)

    @property
    def path(self) -> str:
        """The current URL without the live server's origin."""
        url = self.driver.current_url
        return url[len(self.base_url) :] if url.startswith(self.base_url) else url

    def login(self, username: str, password: str, next_path: str = "/admin/") -> None:
        """Fill and submit the admin's own login form, as a person would."""
        self.open("/admin/login/?" + urlencode({"next": next_path}))
        self.find("#id_username").send_keys(username)
        self.find("#id_password").send_keys(password)
        self.click_to_load(self.find("#login-form [type=submit]"))

    def click_to_load(self, element: WebElement) -> None:
        """Click a link or button and wait until the page it leads to has loaded."""
        what = f"clicking {element.tag_name} {element.text or element.get_attribute('value')!r}"
        self.driver.execute_script("window.perfkitPreviousPage = true;")
        element.click()
        # While the document is replaced, chromedriver may answer with errors
        # other than a stale element ("Node ... does not belong to the document").
        WebDriverWait(
            self.driver,
            WAIT_SECONDS,
            poll_frequency=POLL_SECONDS,
            ignored_exceptions=(WebDriverException,),
        ).until(
            lambda driver: driver.execute_script(
                "return !window.perfkitPreviousPage && document.readyState === 'complete';"
            ),
            f"{what} loaded no new page",
        )

    def download_to(self, directory: Path) -> None:
        """Save files the page downloads into ``directory`` (headless Chromium asks nobody)."""
        self.driver.execute_cdp_cmd(
            "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(directory)}
        )

    def downloaded(self, directory: Path, name: str) -> bytes:
        """Wait until ``directory/name`` is completely downloaded; its bytes."""
        target = directory / name

        def done(driver: Any) -> bool:
            # Chromium writes "<name>.crdownload" first and renames it when complete.
            return target.exists() and not any(directory.glob("*.crdownload"))

        self.wait_for(done, f"{name} was not downloaded into {directory}")
        return target.read_bytes()

    def find(self, selector: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def find_all(self, selector: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def text(self, selector: str = "body") -> str:
        return self.find(selector).text

    def wait_for(self, condition: Any, message: str = "") -> Any:
        wait = WebDriverWait(self.driver, WAIT_SECONDS, poll_frequency=POLL_SECONDS)
        return wait.until(condition, message)

    def charts(self, css_class: str) -> list[Chart]:
        """The page's inline SVGs of ``css_class`` (perfkit-chart, perfkit-spark)."""
        found = [Chart(**figures) for figures in self.driver.execute_script(CHARTS_JS)]
        return [chart for chart in found if css_class in chart.cls.split()]

    def console_errors(self) -> list[str]:
        """SEVERE console entries since the last call, but the favicon's 404."""
        return [
            entry["message"]
            for entry in self.driver.get_log("browser")
            if entry["level"] == "SEVERE" and "favicon.ico" not in entry["message"]
        ]

    def screenshot(self, name: str, directory: Path = SCREENSHOTS) -> Path:
        """The whole page (not only the window) as <directory>/<name>.png
        (artifacts/screenshots/ unless told)."""
        directory.mkdir(parents=True, exist_ok=True)
        width, height = self.driver.execute_script(
            "var e = document.documentElement;"
            "return [Math.max(e.scrollWidth, e.clientWidth),"
            " Math.max(e.scrollHeight, e.clientHeight)];"
        )
        shot = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
            },
        )
        path = directory / f"{name}.png"
        path.write_bytes(base64.b64decode(shot["data"]))
        return path
