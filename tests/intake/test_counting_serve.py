"""Issue 13, defects 6 and 10, over the wire against `mailrep serve`: every receipt (HTTP, the
SMTP reply, `mailrep import`'s summary) says whether the report counts and why not; a
reporter's forwarder is flagged `probable_forwarder` and counts only once the reporter sets its
mail hosts (`PUT /api/v1/reporter/mailhosts`, `mailrep reporter set`)."""

from __future__ import annotations

import json
import os
import smtplib
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from tests.intake.serve_harness import Serve, write_config
from tests.intake.smtp_harness import Sink, submission

FORWARDER = "45.60.0.1"
MAILREP = [sys.executable, "-c", "from mailrep.cli import main; main()"]


def mail(source: str, n: int, *, when: datetime | None = None, via: str | None = None) -> bytes:
    """A spam from `source`, received by the reporter's MX (private), optionally through the
    relay `via` (a forwarder)."""
    date = format_datetime(when or datetime.now(UTC)).encode()
    hops = b"Received: from mx.reporter.example (mx.reporter.example [10.0.0.1])\r\n" \
           b"\tby mail.reporter.example with ESMTP id A%d; %s\r\n" % (n, date)
    if via:
        hops += (b"Received: from fwd.example (fwd.example [%s])\r\n"
                 b"\tby mx.reporter.example with ESMTP id F%d; %s\r\n" % (via.encode(), n, date))
        hops += (b"Received: from bad%d.example (bad%d.example [%s])\r\n"
                 b"\tby fwd.example with ESMTP id B%d; %s\r\n" % (n, n, source.encode(), n, date))
    else:
        hops += (b"Received: from bad%d.example (bad%d.example [%s])\r\n"
                 b"\tby mx.reporter.example with ESMTP id B%d; %s\r\n" % (n, n, source.encode(), n, date))
    return hops + (b"From: spammer@bad.example\r\nTo: victim@reporter.example\r\nSubject: buy %d\r\n"
                   b"Date: %s\r\nMessage-ID: <%d.%s@bad.example>\r\n\r\nCheap stuff\r\n"
                   % (n, date, n, source.encode()))


def make_reporter(data: Path, name: str, mailhosts: str = "") -> tuple[str, str]:
    """A reporter in the data dir's database: (API token, submission address)."""
    from mailrep.config import load_settings
    from mailrep.intake.addresses import SmtpConfig, submit_address
    from mailrep.store import accounts
    from mailrep.store.db import Database

    settings = load_settings(data_dir=data, environ={})
    db = Database(f"sqlite:///{data / 'mailrep.sqlite3'}")
    try:
        if db.is_empty():
            db.upgrade()
        with db.transaction() as conn:
            acc = accounts.create_account(conn, name, "reporter", datetime.now(UTC))
            rep = accounts.add_reporter(conn, acc.id, mailhosts=mailhosts)
            token = accounts.create_token(conn, acc.id, datetime.now(UTC))
    finally:
        db.dispose()
    assert rep.submit_code
    return token, submit_address(rep.submit_code, SmtpConfig.from_section(settings.section("smtp")))


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    data = tmp_path_factory.mktemp("counting")
    with Sink() as sink:
        write_config(data, {"reply_smarthost": f"127.0.0.1:{sink.port}", "connections": 10_000})
        people = {name: make_reporter(data, name, hosts) for name, hosts in [
            ("alice", ""), ("bea", ""), ("carol", ""), ("fwd1", FORWARDER), ("fwd2", FORWARDER)]}
        with Serve(data) as srv:
            yield srv, sink, people, data


def post(srv: Serve, token: str, raw: bytes) -> dict:
    r = httpx.post(f"http://127.0.0.1:{srv.http_port}/api/v1/reports", content=raw, timeout=30,
                   headers={"Authorization": f"Bearer {token}", "Content-Type": "message/rfc822"})
    assert r.status_code == 202, r.text
    return r.json()


def get(srv: Serve, token: str, path: str) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{srv.http_port}/api/v1{path}", timeout=30,
                     headers={"Authorization": f"Bearer {token}"})


def put_mailhosts(srv: Serve, token: str, body: object) -> httpx.Response:
    return httpx.put(f"http://127.0.0.1:{srv.http_port}/api/v1/reporter/mailhosts", json=body, timeout=120,
                     headers={"Authorization": f"Bearer {token}"})


def test_http_receipts_say_whether_a_report_counts_and_why(served, corpus):
    srv, _, people, _ = served
    token = people["alice"][0]
    fresh = post(srv, token, mail("45.61.0.1", 1))
    assert (fresh["counted"], fresh["reason"], fresh["source_ip"]) == (True, None, "45.61.0.1")
    old = post(srv, token, mail("45.61.0.2", 2, when=datetime.now(UTC) - timedelta(days=30)))
    assert (old["counted"], old["reason"]) == (False, "too_old") and "older than" in old["detail"]
    raw = mail("45.61.0.3", 3)
    first, dup = post(srv, token, raw), post(srv, token, raw)
    assert first["counted"] is True
    assert (dup["duplicate"], dup["counted"], dup["reason"], dup["id"]) == (True, False, "duplicate", first["id"])
    nosource = post(srv, token, b"From: a@example.com\r\nSubject: no received\r\n\r\nhello\r\n")
    assert (nosource["counted"], nosource["reason"]) == (False, "no_source")
    # the stored report says the same
    view = get(srv, token, f"/reports/{old['id']}").json()
    assert (view["counted"], view["count_reason"]) == (False, "too_old")
    # a reporter trying 2002 corpus mail sees at once why nothing is listed
    spams = sorted((corpus / "messages" / "spam").glob("sa-spam-1_000*.eml"))[:5]
    got = [post(srv, token, p.read_bytes()) for p in spams]
    assert all(r["counted"] is False for r in got)
    assert "too_old" in {r["reason"] for r in got} and {r["reason"] for r in got} <= {"too_old", "no_source"}


def test_openapi_documents_the_reasons(served):
    srv, _, _, _ = served
    spec = httpx.get(f"http://127.0.0.1:{srv.http_port}/api/v1/openapi.json", timeout=30).json()
    reasons = spec["components"]["schemas"]["Reason"]["enum"]
    assert set(reasons) >= {"too_old", "no_source", "reporter_own_network", "over_quota", "duplicate",
                            "probable_forwarder"}
    receipt = spec["components"]["schemas"]["ReportReceipt"]["properties"]
    assert "probable_forwarder" in json.dumps(receipt["reason"])
    assert "put" in spec["paths"]["/api/v1/reporter/mailhosts"]


def test_smtp_reply_says_whether_each_report_counts(served):
    srv, sink, people, _ = served
    addr = people["bea"][1]
    old = mail("45.62.0.1", 10, when=datetime.now(UTC) - timedelta(days=400))
    with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=30) as s:
        assert s.sendmail("bea@reporter.example", [addr], submission(addr, [mail("45.62.0.2", 11), old])) == {}
    _, _, reply = sink.wait_for(lambda m: "bea@reporter.example" in m[1])
    text = reply.decode()
    assert "counted: yes" in text
    assert "counted: no (too_old:" in text


def test_import_summary_counts_and_reasons(served, tmp_path):
    data = served[3]
    box = tmp_path / "box.mbox"
    with box.open("wb") as f:
        for raw in (mail("45.63.0.1", 20), mail("45.63.0.2", 21, when=datetime(2002, 8, 1, tzinfo=UTC))):
            f.write(b"From x@example.com Thu Jan  1 00:00:00 2026\n" + raw.replace(b"\r\n", b"\n") + b"\n")
    env = {**os.environ, "MAILREP_DATA_DIR": str(data)}
    env.pop("MAILREP_DATABASE_URL", None)
    out = subprocess.run([*MAILREP, "import", "--reporter", "carol", "--json", str(box)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert (summary["imported"], summary["counted"], summary["not_counted"]) == (2, 1, {"too_old": 1})
    assert "1 count as evidence, 1 do not" in out.stderr and "not counted: 1 x too_old" in out.stderr


def test_forwarder_is_flagged_until_the_reporter_sets_its_mailhosts(served):
    srv, _, people, data = served
    # two reporters whose mail arrives through the forwarder, declared as theirs: it receives their mail
    for k, name in enumerate(("fwd1", "fwd2")):
        r = post(srv, people[name][0], mail(f"45.64.0.{k + 1}", 30 + k, via=FORWARDER))
        assert (r["source_ip"], r["counted"]) == (f"45.64.0.{k + 1}", True)
    # alice's mail comes through the same forwarder, undeclared: its address is the traced source
    flagged = post(srv, people["alice"][0], mail("45.64.0.9", 39, via=FORWARDER))
    assert (flagged["source_ip"], flagged["counted"], flagged["reason"]) == (FORWARDER, False, "probable_forwarder")
    lookup = httpx.get(f"http://127.0.0.1:{srv.http_port}/api/v1/lookup/{FORWARDER}", timeout=30).json()
    assert lookup["evidence"]["user"] == 0
    # a bad entry is refused, naming it; nothing changes
    bad = put_mailhosts(srv, people["alice"][0], {"mailhosts": ["45.60.0.1", "not a host!"]})
    assert bad.status_code == 400 and "not a host!" in bad.json()["error"]["message"]
    assert put_mailhosts(srv, people["alice"][0], {"mailhosts": "45.60.0.1"}).status_code == 422
    # alice declares the forwarder: her report is traced again and counts against the real source
    ok = put_mailhosts(srv, people["alice"][0], {"mailhosts": [FORWARDER, "mx.alice.example"]})
    assert ok.status_code == 200, ok.text
    assert (ok.json()["mailhosts"], ok.json()["mailhosts_confirmed"]) == ([FORWARDER, "mx.alice.example"], True)
    view = get(srv, people["alice"][0], f"/reports/{flagged['id']}").json()
    assert (view["source_ip"], view["counted"], view["count_reason"]) == ("45.64.0.9", True, None)
    assert get(srv, people["alice"][0], "/reporter").json()["mailhosts"] == [FORWARDER, "mx.alice.example"]
    # carol's report is flagged too; she confirms from the command line that the host is not hers
    flagged = post(srv, people["carol"][0], mail("45.64.0.8", 38, via=FORWARDER))
    assert (flagged["counted"], flagged["reason"]) == (False, "probable_forwarder")
    env = {**os.environ, "MAILREP_DATA_DIR": str(data)}
    env.pop("MAILREP_DATABASE_URL", None)
    out = subprocess.run([*MAILREP, "reporter", "set", "carol", "--mailhosts", "mx.carol.example"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "confirmed" in out.stdout, out.stdout + out.stderr
    view = get(srv, people["carol"][0], f"/reports/{flagged['id']}").json()
    assert (view["source_ip"], view["counted"], view["count_reason"]) == (FORWARDER, True, None)
    # the running server sees the change once its token cache (5 s) has let go of carol's profile
    deadline = time.monotonic() + 30
    while not get(srv, people["carol"][0], "/reporter").json()["mailhosts_confirmed"]:
        assert time.monotonic() < deadline
        time.sleep(0.5)
    after = post(srv, people["carol"][0], mail("45.64.0.7", 37, via=FORWARDER))
    assert (after["source_ip"], after["counted"]) == (FORWARDER, True)
    bad = subprocess.run([*MAILREP, "reporter", "set", "carol", "--mailhosts", "x..y"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "x..y" in bad.stderr


def test_only_the_reporter_itself_sets_its_mailhosts(served):
    srv, _, _, _ = served
    assert put_mailhosts(srv, "not-a-token", {"mailhosts": []}).status_code == 401
