"""The pages in a real browser: headless Chromium (Debian `chromium` + `chromium-driver`, driven
by Selenium) against a real `mailrep serve --dns`, with axe-core on every page and a 1280x900
screenshot of each written to docs/screenshots/ (linked from the README).

One browser and one served instance for the module; the tests run in order (a reporter's
report, a sender's delisting request, a deputy's approval) and each switches identity by
clearing the cookies.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from mailrep.store.db import Database
from mailrep.store.tables import delisting_requests, reports
from tests.intake.mail import spam
from tests.peers import ROOT, require
from tests.serve_proc import Serve, free_port, prepare_db

pytestmark = pytest.mark.peer
SHOTS = ROOT / "docs" / "screenshots"
LISTED = "45.14.1.2"
STAFF_REASON = "open relay, confirmed by staff"
ZONE = "bl.mailrep.test"


class Site:
    def __init__(self, srv: Serve, db_url: str, tokens: list[str], other: dict[str, str], dig: str) -> None:
        self.srv, self.db_url, self.tokens, self.other, self.dig = srv, db_url, tokens, other, dig

    def txt(self, ip: str) -> str:
        name = ".".join(reversed(ip.split("."))) + "." + ZONE
        out = subprocess.run([self.dig, "@127.0.0.1", "-p", str(self.srv.ports["dns"]), "+short",
                              "+tries=1", "+time=2", name, "TXT"], capture_output=True, text=True, timeout=10)
        return out.stdout.strip().strip('"')

    def wait_txt(self, ip: str, present: bool, timeout: float = 15.0) -> str:
        end = time.monotonic() + timeout
        answer = self.txt(ip)
        while bool(answer) != present and time.monotonic() < end:
            time.sleep(0.25)
            answer = self.txt(ip)
        return answer

    def count(self, table: sa.Table) -> int:
        db = Database(self.db_url)
        try:
            with db.read() as conn:
                return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
        finally:
            db.dispose()


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[Site]:
    dig = require("dig")
    require("chromium")
    require("chromedriver")
    data = tmp_path_factory.mktemp("browser") / "var"
    url = f"sqlite:///{data / 'mailrep.sqlite3'}"
    tokens, other = prepare_db(url, reporters=1)
    port = free_port()
    srv = Serve(data, dns=True, http_port=port, env={"MAILREP_SITE_URL": f"http://127.0.0.1:{port}"}).start()
    try:
        r = httpx.post(f"{srv.base}/api/v1/manual-actions", timeout=10,
                       json={"action": "list", "key": LISTED, "reason": STAFF_REASON},
                       headers={"Authorization": f"Bearer {other['deputy']}"})
        assert r.status_code == 200, r.text
        yield Site(srv, url, tokens, other, dig)
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def driver(site) -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = require("chromium")
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,900", "--hide-scrollbars"):
        opts.add_argument(arg)
    profile = tempfile.TemporaryDirectory(prefix="mailrep-chromium-")
    opts.add_argument(f"--user-data-dir={profile.name}")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(options=opts, service=Service(require("chromedriver")))
    d.set_page_load_timeout(30)
    # the viewport itself is 1280x900, whatever the window's decorations take
    d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                      {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False})
    try:
        yield d
    finally:
        d.quit()
        profile.cleanup()


def check(driver, name: str) -> None:
    """axe-core on the page (no serious or critical violation), no console error, and its screenshot."""
    from axe_selenium_python import Axe

    axe = Axe(driver)
    axe.inject()
    results = axe.run()
    bad = [v for v in results["violations"] if v.get("impact") in ("serious", "critical")]
    assert not bad, f"{name}: " + axe.report(bad)
    # HTTP errors the tests provoke (400, 403, 404) are logged as "network"; script errors and
    # CSP violations (an inline script that was blocked) are not
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE" and e.get("source") != "network"]
    assert not errors, f"{name}: console errors {errors}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(SHOTS / f"{name}.png"))


def text(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def fill(driver, field: str, value: str) -> None:
    from selenium.webdriver.common.by import By

    el = driver.find_element(By.NAME, field)
    el.clear()
    el.send_keys(value)


def paste(driver, field: str, value: str) -> None:
    """Set a field's value as a paste would (typing would turn the headers' tabs into focus moves)."""
    from selenium.webdriver.common.by import By

    driver.execute_script("arguments[0].value = arguments[1]", driver.find_element(By.NAME, field), value)


def submit(driver, label: str) -> None:
    """Click the button and wait for the next page (every form here loads one)."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    page = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.XPATH, f"//button[normalize-space()='{label}']").click()

    def left(d) -> bool:
        # The old document is gone. Chromium sometimes answers an element of a document being
        # replaced with "Node with given id does not belong to the document" (a plain
        # WebDriverException) instead of a stale-element error: that also means it is gone.
        try:
            return expected_conditions.staleness_of(page)(d)
        except WebDriverException:
            return True

    WebDriverWait(driver, 20).until(left)
    WebDriverWait(driver, 20).until(lambda d: d.execute_script("return document.readyState") == "complete")


def sign_in(driver, site: Site, token: str) -> None:
    driver.delete_all_cookies()
    driver.get(f"{site.srv.base}/login")
    check(driver, "login")
    fill(driver, "token", token)
    submit(driver, "Sign in")


def test_txt_link_opens_the_lookup_page(site, driver):
    answer = site.wait_txt(LISTED, present=True)
    assert answer.startswith("Blocked - see "), answer
    link = answer.removeprefix("Blocked - see ")
    assert link == f"{site.srv.base}/lookup?ip={LISTED}"
    driver.get(link)
    body = text(driver)
    assert LISTED in body and "listed" in body and "not listed" not in body
    assert STAFF_REASON in body
    check(driver, "lookup-listed")


def test_home_and_unlisted_lookup(site, driver):
    driver.get(site.srv.base + "/")
    check(driver, "home")
    fill(driver, "ip", "45.14.9.9")
    submit(driver, "Look up")
    assert "not listed" in text(driver) and "45.14.9.9" in text(driver)
    check(driver, "lookup-unlisted")
    fill(driver, "ip", "not-an-ip")
    submit(driver, "Look up")
    assert "is not an IPv4 or IPv6 address" in text(driver)
    fill(driver, "ip", "quiet-shop.example")  # the one field takes a domain too
    submit(driver, "Look up")
    assert "quiet-shop.example" in text(driver) and "not listed" in text(driver)
    check(driver, "lookup-domain")


def test_reporter_previews_then_sends_one_report(site, driver):
    from selenium.common.exceptions import NoAlertPresentException

    sign_in(driver, site, site.tokens[0])
    assert driver.current_url.endswith("/report")
    check(driver, "report")
    raw = spam("45.14.8.1", n=808).decode().replace("offer number 808", "<script>alert('x')</script> deal")
    before = site.count(reports)
    paste(driver, "message", raw)
    submit(driver, "Preview")
    body = text(driver)
    assert "45.14.8.1" in body and "Send report" in body
    assert "<script>alert('x')</script> deal" in body  # shown as text
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018
    check(driver, "preview")  # also: no console error (a blocked inline script would log one)
    assert site.count(reports) == before
    submit(driver, "Send report")
    assert "Report stored" in text(driver)
    check(driver, "receipt")
    assert site.count(reports) == before + 1
    driver.get(site.srv.base + "/reports")
    assert "45.14.8.1" in text(driver)
    check(driver, "reports")


def test_a_post_without_the_csrf_token_stores_nothing(site, driver):
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(f"{site.srv.base}/lookup?ip={LISTED}")
    before = site.count(delisting_requests)
    fill(driver, "contact_email", "postmaster@sender.example")
    fill(driver, "explanation", "forged form")
    driver.execute_script("arguments[0].remove()", driver.find_element(By.NAME, "csrf"))
    submit(driver, "Ask for delisting")
    assert "Forbidden" in text(driver)
    check(driver, "error-403")
    assert site.count(delisting_requests) == before


def test_sender_asks_for_delisting_and_a_deputy_approves(site, driver):
    driver.delete_all_cookies()
    driver.get(f"{site.srv.base}/lookup?ip={LISTED}")
    fill(driver, "contact_email", "postmaster@sender.example")
    fill(driver, "explanation", "We closed the open relay on our gateway.")
    submit(driver, "Ask for delisting")
    status_url = driver.current_url
    assert "/delisting/" in status_url and "pending" in text(driver)
    check(driver, "delisting-status")
    sign_in(driver, site, site.other["deputy"])
    assert driver.current_url.endswith("/desk")
    assert "We closed the open relay" in text(driver)
    check(driver, "desk")
    fill(driver, "reason", "relay closed, checked")
    submit(driver, "Approve")
    assert "approved" in text(driver)
    assert site.wait_txt(LISTED, present=False) == ""
    driver.get(status_url)
    assert "approved" in text(driver) and "relay closed, checked" in text(driver)


def test_sender_dashboard_shows_the_organisation_its_addresses_and_domains(site, driver):
    from datetime import UTC, datetime, timedelta

    from mailrep.config import Settings
    from mailrep.run import build_services
    from mailrep.store import accounts
    from mailrep.store.tables import volume
    from tests.services.test_reputation import complaint

    now = datetime.now(UTC)
    db = Database(site.db_url)
    try:
        services = build_services(Settings(), db)
        services.bond.enrol("acme-browser", now, networks=["45.20.0.0/24"], domains=["acme-browser.example"])
        with db.transaction() as conn:
            token = accounts.create_token(conn, accounts.get_account(conn, "acme-browser").id, now)
            conn.execute(volume.insert().values(ip="45.20.0.5", count=50_000, period_start=now - timedelta(hours=2),
                                                period_end=now - timedelta(minutes=5), received_at=now))
        for _ in range(3):
            complaint(db, "45.20.0.5", at=now - timedelta(minutes=30), domain="acme-browser.example")
        services.reputation.recompute(now, full=True)
    finally:
        db.dispose()
    sign_in(driver, site, token)
    assert driver.current_url.endswith("/sender")
    body = text(driver)
    assert "Organisation" in body and "Score (-10 to +10)" in body and "confidence" in body
    assert "45.20.0.5" in body and "50000" in body
    assert "acme-browser.example" in body and "not reported" in body
    check(driver, "sender")


def test_stats_and_docs(site, driver):
    driver.get(site.srv.base + "/stats")
    assert "Reports per day by channel" in text(driver)
    check(driver, "stats")
    driver.get(site.srv.base + "/nope")
    assert "Not Found" in text(driver)
    check(driver, "error-404")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(site.srv.base + "/docs")
    WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock"))
    assert "/api/v1/lookup/{ip}" in text(driver)
    check(driver, "docs")
    driver.get(site.srv.base + "/redoc")
    WebDriverWait(driver, 20).until(lambda d: "lookup" in text(d).lower())
    check(driver, "redoc")


def test_screenshots_are_1280x900():
    import struct

    for png in Path(SHOTS).glob("*.png"):
        width, height = struct.unpack(">II", png.read_bytes()[16:24])
        assert (width, height) == (1280, 900), png
