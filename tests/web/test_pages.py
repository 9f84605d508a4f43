"""The HTML pages over the app (TestClient), on SQLite and PostgreSQL: lookup, delisting,
sessions and CSRF, report preview and send, the desk, stats, error pages, headers, /docs."""

from __future__ import annotations

import itertools
import os
import re
import stat
import zlib
from datetime import timedelta

import pytest
import sqlalchemy as sa

from mailrep.ratelimit import TokenBucket
from mailrep.store.tables import delisting_requests, reports
from tests.intake.mail import spam

HTML = {"Accept": "text/html"}
_addr = itertools.count(1)


def browser(api):
    """A client of the running app with its own address and cookie jar (one browser)."""
    return api.from_address(f"10.77.{next(_addr)}.1")


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def count(api, table) -> int:
    with api.db.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def sign_in(api, who: str):
    c = browser(api)
    form = c.get("/login", headers=HTML)
    r = c.post("/login", data={"token": api.tokens[who], "csrf": csrf_of(form.text)}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return c


def manual(api, action, key, reason):
    r = api.client.post("/api/v1/manual-actions", json={"action": action, "key": key, "reason": reason},
                        headers=api.auth("deputy"))
    assert r.status_code == 200, r.text


def test_lookup_listed_unlisted_and_invalid(api):
    manual(api, "list", "45.14.0.1", "open relay seen by staff")
    listed = browser(api).get("/lookup", params={"ip": "45.14.0.1"}, headers=HTML)
    assert listed.status_code == 200 and listed.headers["content-type"].startswith("text/html")
    assert "45.14.0.1" in listed.text and ">listed<" in listed.text
    assert "open relay seen by staff" in listed.text
    assert 'name="contact_email"' in listed.text and 'name="explanation"' in listed.text
    unlisted = browser(api).get("/lookup", params={"ip": "45.14.0.2"}, headers=HTML)
    assert unlisted.status_code == 200 and "not listed" in unlisted.text
    assert "set-cookie" not in unlisted.headers  # nothing to protect: no session
    bad = browser(api).get("/lookup", params={"ip": "300.1.2.3"}, headers=HTML)
    assert bad.status_code == 400 and "is not an IPv4 or IPv6 address" in bad.text
    assert '<form class="lookup"' in bad.text


def test_lookup_never_shows_reporters(api):
    for who in ("alice", "bob"):
        r = api.client.post("/api/v1/reports", content=spam("45.14.1.1", n=hash(who) % 1000),
                            headers={**api.auth(who), "Content-Type": "message/rfc822"})
        assert r.status_code == 202
    api.client.app.state.ctx.intake.processor.wait_idle(30)
    text = browser(api).get("/lookup", params={"ip": "45.14.1.1"}, headers=HTML).text
    assert "reports from people" in text
    for secret in ("alice", "bob", api.tokens["alice"], "victim@reporter.example"):
        assert secret not in text


def advertise(api, who: str, domains: tuple[str, ...], hours_ago: float = 0) -> None:
    """A counted report from `who` whose message links to `domains` (stored as intake would)."""
    raw = b"Subject: pills\r\n\r\nbuy\r\n"
    trace = {"urls": [{"url": f"http://www.{d}/x", "host": f"www.{d}", "domain": d} for d in domains]}
    with api.db.transaction() as conn:
        conn.execute(reports.insert().values(
            reporter_id=api.ids[who], channel="http", received_at=api.clock.now - timedelta(hours=hours_ago),
            sha256="0" * 64, raw_z=zlib.compress(raw), raw_size=len(raw), stored_size=len(raw),
            source_ip="45.14.20.1", dedupe_key=f"dbl-{who}-{next(_addr)}", trace_json=trace))


def domain_page(api, **params):
    return browser(api).get("/lookup", params=params, headers=HTML)


def test_lookup_domain_listed_by_the_dbl_rule(api):
    dbl = api.client.app.state.ctx.services.dbl
    names = [f"dbl-rep-{i}" for i in range(3)]
    for name in names:
        api.account(name, "reporter")
    for i, name in enumerate(names):
        advertise(api, name, ("cheap-pills.example", "bit.ly"), hours_ago=i)
    dbl.scan(api.clock.now)
    assert dbl.lookup("cheap-pills.example", api.clock.now)["listed"]
    for page in (domain_page(api, domain="Cheap-Pills.example."), domain_page(api, ip=" cheap-pills.example ")):
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        text = page.text
        assert "<h1>cheap-pills.example: <span class=\"listed\">listed</span></h1>" in text
        assert "Listed since" in text and "Expires" in text
        assert "3 reports advertising this domain in the last 7 days" in text and "from 3 independent reporters" in text
        assert "hours ago" in text and "against a threshold of 3," in text and "at least 3 needed" in text
        assert "unlisted → listed" in text
        assert 'value="cheap-pills.example"' in text
        assert "Ask for delisting" not in text and "set-cookie" not in page.headers
        for secret in names + [api.tokens[n] for n in names]:
            assert secret not in text
    # the shared domain in the same reports is exempt, never listed
    exempt = domain_page(api, ip="bit.ly")
    assert exempt.status_code == 200 and ">not listed<" in exempt.text
    assert "bit.ly is never listed: bit.ly is a shared domain" in exempt.text
    assert "has never been listed" in exempt.text


def test_lookup_domain_not_listed_and_escaped(api):
    page = domain_page(api, domain="quiet-shop.example")
    assert page.status_code == 200 and ">not listed<" in page.text
    assert "No reports advertising this domain" in page.text and "has never been listed" in page.text
    assert "from 0 independent reporters (at least 3 needed: too few)" in page.text
    # a name that is not a plausible host name never reaches the page unescaped
    bad = domain_page(api, domain="<script>alert(1)</script>.example")
    assert bad.status_code == 400 and "<script>alert" not in bad.text
    assert "&lt;script&gt;" in bad.text and "is not a domain name" in bad.text


@pytest.mark.parametrize("params", [{"ip": "not-an-ip"}, {"ip": "300.1.2.3"}, {"ip": "a..b"},
                                    {"ip": "x" * 64 + ".example"}, {"domain": "192.0.2.1"},
                                    {"domain": "single"}])
def test_lookup_invalid_ip_or_domain_is_400(api, params):
    page = domain_page(api, **params)
    assert page.status_code == 400 and '<form class="lookup"' in page.text
    assert 'aria-invalid="true"' in page.text
    assert ("is not a domain name" if "domain" in params else
            "is not an IPv4 or IPv6 address, nor a domain name") in page.text


def test_lookup_domain_takes_the_lookup_allowance(api, monkeypatch):
    monkeypatch.setattr(api.client.app.state.ctx, "lookup_limiter", TokenBucket(capacity=2, per_seconds=3600.0))
    c = browser(api)
    codes = [c.get("/lookup", params=p, headers=HTML).status_code
             for p in ({"domain": "a-shop.example"}, {"ip": "b-shop.example"}, {"domain": "c-shop.example"})]
    assert codes == [200, 200, 429]


def test_home_form_takes_an_address_or_a_domain(api):
    home = browser(api).get("/", headers=HTML).text
    assert '<label for="ip">IP address or domain</label>' in home
    assert browser(api).get("/lookup", headers=HTML).status_code == 200


def test_security_headers_on_pages_and_api(api):
    for path in ("/", "/lookup?ip=45.14.0.9", "/stats", "/login", "/api/v1/lookup/45.14.0.9", "/nope"):
        r = browser(api).get(path, headers=HTML)
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"]


def test_errors_are_html_for_browsers_and_json_for_the_api(api):
    page = browser(api).get("/no/such/page", headers=HTML)
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "Not Found" in page.text and "/static/site.css" in page.text
    api_404 = browser(api).get("/api/v1/nothing", headers=HTML)
    assert api_404.status_code == 404 and api_404.json()["error"]["code"] == "not_found"
    assert browser(api).get("/desk/delisting/x", headers=HTML).status_code == 405
    forbidden = browser(api).post("/delisting", data={"ip": "45.14.0.1"}, headers=HTML)
    assert forbidden.status_code in (400, 403) and "<html" in forbidden.text


def test_delisting_without_csrf_stores_nothing(api):
    manual(api, "list", "45.14.2.1", "spam run")
    before = count(api, delisting_requests)
    c = browser(api)
    c.get("/lookup", params={"ip": "45.14.2.1"}, headers=HTML)  # has its session cookie now
    form = {"ip": "45.14.2.1", "contact_email": "pm@sender.example", "explanation": "fixed"}
    for token in ("", "forged", csrf_of(browser(api).get("/lookup?ip=45.14.2.1").text)):  # another session's
        r = c.post("/delisting", data={**form, "csrf": token}, headers=HTML)
        assert r.status_code == 403, r.text
    assert count(api, delisting_requests) == before


def test_delisting_from_the_lookup_page(api):
    manual(api, "list", "45.14.3.1", "spam run")
    c = browser(api)
    page = c.get("/lookup", params={"ip": "45.14.3.1"}, headers=HTML)
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    r = c.post("/delisting", data={"ip": "45.14.3.1", "contact_email": "pm@sender.example",
                                    "explanation": "closed the relay", "csrf": csrf_of(page.text)},
               follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/delisting/")
    status = c.get(r.headers["location"], headers=HTML)
    assert status.status_code == 200 and "pending" in status.text and "pm@sender.example" not in status.text
    public_id = r.headers["location"].rsplit("/", 1)[1]
    desk = sign_in(api, "deputy")
    queue = desk.get("/desk", headers=HTML)
    assert public_id in queue.text and "closed the relay" in queue.text
    done = desk.post(f"/desk/delisting/{public_id}", headers=HTML,
                     data={"decision": "approve", "reason": "relay closed", "csrf": csrf_of(queue.text)})
    assert done.status_code == 200 and "approved" in done.text
    assert "approved" in c.get(r.headers["location"]).text
    assert api.client.get("/api/v1/lookup/45.14.3.1").json()["listed"] is False
    missing_reason = desk.post(f"/desk/delisting/{public_id}", headers=HTML,
                               data={"decision": "deny", "reason": " ", "csrf": csrf_of(queue.text)})
    assert missing_reason.status_code in (400, 409)


def test_login_session_and_logout(api):
    c = browser(api)
    form = c.get("/login", headers=HTML)
    bad = c.post("/login", data={"token": "mr_wrong", "csrf": csrf_of(form.text)}, headers=HTML)
    assert bad.status_code == 401 and "unknown or revoked" in bad.text
    r = c.post("/login", data={"token": api.tokens["alice"], "csrf": csrf_of(form.text)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/report"
    assert api.tokens["alice"] not in r.headers["set-cookie"]
    page = c.get("/report", headers=HTML)
    assert page.status_code == 200 and "Signed in as alice" in page.text and api.tokens["alice"] not in page.text
    out = c.post("/logout", data={"csrf": csrf_of(page.text)}, follow_redirects=False)
    assert out.status_code == 303
    assert c.get("/report", follow_redirects=False).status_code == 303  # to /login again
    assert browser(api).post("/login", data={"token": api.tokens["alice"]}).status_code == 403


def test_report_preview_stores_nothing_and_send_stores_one(api):
    c = sign_in(api, "bob")
    form = c.get("/report", headers=HTML)
    raw = spam("45.14.4.1", n=4141).decode().replace("offer number 4141", "<script>alert(1)</script>")
    before = count(api, reports)
    preview = c.post("/report", data={"message": raw, "csrf": csrf_of(form.text)}, headers=HTML)
    assert preview.status_code == 200, preview.text
    assert "45.14.4.1" in preview.text and "cheap-4141.example.com" in preview.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in preview.text and "<script>alert" not in preview.text
    assert "Send report" in preview.text
    assert count(api, reports) == before
    raw_field = re.search(r'name="raw" value="([^"]+)"', preview.text).group(1)
    assert c.post("/report/send", data={"raw": raw_field}, headers=HTML).status_code == 403
    assert count(api, reports) == before
    sent = c.post("/report/send", data={"raw": raw_field, "csrf": csrf_of(preview.text)}, headers=HTML)
    assert sent.status_code == 200 and "Report stored" in sent.text and "/api/v1/reports/" in sent.text
    assert count(api, reports) == before + 1
    again = c.post("/report/send", data={"raw": raw_field, "csrf": csrf_of(preview.text)}, headers=HTML)
    assert "Already reported" in again.text and count(api, reports) == before + 1
    listing = c.get("/reports", headers=HTML)
    assert "45.14.4.1" in listing.text


def test_report_upload_and_not_mail(api):
    c = sign_in(api, "alice")
    token = csrf_of(c.get("/report").text)
    up = c.post("/report", data={"csrf": token}, files={"file": ("spam.eml", spam("45.14.5.1", n=5151))})
    assert up.status_code == 200 and "45.14.5.1" in up.text
    junk = c.post("/report", data={"csrf": token, "message": "   "}, headers=HTML)
    assert junk.status_code == 400 and "empty message" in junk.text


def test_desk_needs_a_deputy(api):
    assert browser(api).get("/desk", follow_redirects=False).status_code == 303
    reporter = sign_in(api, "alice")
    assert reporter.get("/desk", headers=HTML).status_code == 403
    desk = sign_in(api, "deputy")
    page = desk.get("/desk", params={"explain": "45.14.0.1"}, headers=HTML)
    assert page.status_code == 200 and "threshold" in page.text
    r = desk.post("/desk/manual", headers=HTML, data={"action": "exempt", "key": "45.14.6.1",
                                                      "reason": "our partner", "csrf": csrf_of(page.text)})
    assert r.status_code == 200 and "exempt 45.14.6.1: done" in r.text
    assert api.client.get("/api/v1/lookup/45.14.6.1").json()["state"] == "exempt"


def test_stats_page_and_json(api):
    manual(api, "list", "45.14.7.1", "stats")
    figures = browser(api).get("/stats.json").json()
    assert {"days", "listed", "reports", "top_networks", "channels"} <= set(figures)
    assert any(n["network"] == "45.14.7.0/24" for n in figures["top_networks"])
    page = browser(api).get("/stats", headers=HTML)
    assert page.status_code == 200 and page.text.count("<svg") == 3 and "45.14.7.0/24" in page.text
    assert "<script" not in page.text
    home = browser(api).get("/", headers=HTML)
    assert "Listed now" in home.text


def test_docs_and_redoc_are_served_offline(api):
    for path in ("/docs", "/redoc"):
        page = api.client.get(path)
        assert page.status_code == 200
        assert "http://" not in page.text and "https://" not in page.text
        for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text):
            assert api.client.get(asset).status_code == 200, asset
    assert "unsafe-inline" not in api.client.get("/docs").headers["content-security-policy"].split("script-src")[1].split(";")[0]


def test_session_secret_is_made_once_with_mode_0600(tmp_path):
    from mailrep.config import Settings
    from mailrep.web.session import session_secret

    settings = Settings(data_dir=tmp_path)
    first = session_secret(settings)
    assert stat.S_IMODE(os.stat(tmp_path / "session_secret").st_mode) == 0o600
    assert session_secret(settings) == first and len(first) >= 32
    assert session_secret(Settings(data_dir=tmp_path, sections={"web": {"session_secret": "s3"}})) == "s3"


@pytest.mark.parametrize("path", ["/", "/lookup", "/login", "/stats"])
def test_pages_need_no_javascript(api, path):
    assert "<script" not in browser(api).get(path, headers=HTML).text


def _rep_evidence(api, ip: str, n: int, complaints: int = 0, domain: str | None = None) -> None:
    from mailrep.store.tables import volume
    from tests.services.test_reputation import complaint

    now = api.clock.now
    with api.db.transaction() as conn:
        conn.execute(volume.insert().values(ip=ip, count=n, period_start=now - timedelta(hours=20),
                                            period_end=now - timedelta(hours=1), received_at=now))
    for _ in range(complaints):
        complaint(api.db, ip, at=now - timedelta(hours=1), domain=domain)
    api.client.app.state.ctx.services.reputation.recompute(now, full=True)


def test_lookup_shows_the_reputation_panel(api):
    _rep_evidence(api, "45.15.0.1", 5000)
    text = browser(api).get("/lookup", params={"ip": "45.15.0.1"}, headers=HTML).text
    assert 'id="reputation"' in text and "Score (-10 to +10)" in text
    rep = api.client.get("/api/v1/reputation/45.15.0.1").json()
    assert rep["score"] is not None and f"{rep['score']:+.1f}" in text and f"{rep['confidence']} confidence" in text
    assert "<title>Messages per day, last 90 days</title>" in text and "<desc>" in text
    assert "<title>Reputation score per day, last 90 days</title>" in text
    none = browser(api).get("/lookup", params={"ip": "45.15.0.2"}, headers=HTML).text
    assert "not enough data: a score needs at least 10 messages" in none
    assert "No daily history in the last 90 days." in none


def test_sender_dashboard_rows_csv_and_403(api):
    import csv
    import io

    from mailrep.store import accounts

    now = api.clock.now
    api.client.app.state.ctx.services.bond.enrol("acme-mail", now, networks=["45.16.0.0/24"], domains=["acme.example"])
    with api.db.transaction() as conn:
        api.tokens["acme-mail"] = accounts.create_token(conn, accounts.get_account(conn, "acme-mail").id, now)
    _rep_evidence(api, "45.16.0.7", 1000, complaints=5, domain="acme.example")  # 0.5 %: red
    _rep_evidence(api, "45.16.0.8", 100_000)  # clean: green
    _rep_evidence(api, "45.17.0.1", 1000)  # not the sender's
    c = sign_in(api, "acme-mail")
    page = c.get("/sender", headers=HTML)
    assert page.status_code == 200, page.text
    assert "45.16.0.7" in page.text and "45.16.0.8" in page.text and "45.17.0.1" not in page.text
    assert "green: complaint rate under 0.1%" in page.text and '<th scope="col">Filter colour</th>' in page.text
    got = c.get("/sender.csv")
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    rows = {r["ip"]: r for r in csv.DictReader(io.StringIO(got.text))}
    assert set(rows) == {"45.16.0.7", "45.16.0.8"}
    assert rows["45.16.0.7"]["colour"] == "red" and rows["45.16.0.7"]["complaint_rate"] == "0.500%"
    assert rows["45.16.0.8"]["colour"] == "green" and rows["45.16.0.8"]["volume"] == "100000"
    # the organisation: its two addresses summed, its domain beside them
    org = api.client.get("/api/v1/reputation/org/acme-mail", headers=api.auth("acme-mail")).json()
    assert org["volume"]["day"] == 101_000 and org["complaints"]["day"] == 5 and org["score"] is not None
    assert 'id="organisation"' in page.text and f"{org['score']:+.1f} ({org['confidence']} confidence" in page.text
    assert "Addresses with data</dt><dd>2<" in page.text
    assert '<a href="/lookup?domain=acme.example">acme.example</a>' in page.text and 'id="domains"' in page.text
    doms = list(csv.DictReader(io.StringIO(c.get("/sender-domains.csv").text)))
    assert [(d["domain"], d["complaints"], d["volume"], d["colour"]) for d in doms] == [("acme.example", "5", "", "red")]
    assert sign_in(api, "alice").get("/sender", headers=HTML).status_code == 403
    assert sign_in(api, "alice").get("/sender.csv").status_code == 403
    assert sign_in(api, "alice").get("/sender-domains.csv").status_code == 403
    assert browser(api).get("/sender", headers=HTML, follow_redirects=False).status_code == 303


def test_organisation_api_is_for_its_own_sender_and_staff(api):
    from mailrep.store import accounts

    now = api.clock.now
    bond = api.client.app.state.ctx.services.bond
    bond.enrol("org-one", now, networks=["45.18.0.0/24"], domains=["one.example"])
    bond.enrol("org-two", now, networks=["45.19.0.0/24"])
    with api.db.transaction() as conn:
        for name in ("org-one", "org-two"):
            api.tokens[name] = accounts.create_token(conn, accounts.get_account(conn, name).id, now)
    _rep_evidence(api, "45.18.0.1", 20_000)
    own = api.client.get("/api/v1/reputation/org/org-one", headers=api.auth("org-one"))
    assert own.status_code == 200, own.text
    body = own.json()
    assert body["organisation"] == "org-one" and body["networks"] == ["45.18.0.0/24"]
    assert body["volume"]["day"] == 20_000 and [i["ip"] for i in body["ips"]] == ["45.18.0.1"]
    assert body["domains"][0]["domain"] == "one.example" and body["score"] is not None
    assert api.client.get("/api/v1/reputation/org/org-one", headers=api.auth("deputy")).json() == body
    assert api.client.get("/api/v1/reputation/org/org-one", headers=api.auth("org-two")).status_code == 403
    assert api.client.get("/api/v1/reputation/org/org-one", headers=api.auth("alice")).status_code == 403
    assert api.client.get("/api/v1/reputation/org/org-one").status_code == 401
    assert api.client.get("/api/v1/reputation/org/no-such", headers=api.auth("admin")).status_code == 404
