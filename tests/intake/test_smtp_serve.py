"""End to end: real SMTP clients (smtplib, swaks) against `mailrep serve --smtp`."""

from __future__ import annotations

import hashlib
import json
import smtplib
import subprocess
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest

from tests.intake.serve_harness import Serve, add_reporter, write_config
from tests.intake.smtp_harness import Sink, spam, submission
from tests.peers import require

TRAP = "never-published@trap.example"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One server for the module: a reporter, a quota-1 reporter, a trap, a reply sink."""
    data = tmp_path_factory.mktemp("serve")
    with Sink() as sink:
        write_config(data, {"traps": [TRAP], "max_message_bytes": 100_000, "max_recipients": 3,
                            "reply_smarthost": f"127.0.0.1:{sink.port}", "connections": 10_000,
                            "fbl_feeds": {"feedback.example": "fbl"}})
        addr = add_reporter(data, "alice")
        tight = add_reporter(data, "tight", quota=1)
        with Serve(data) as srv:
            yield srv, sink, addr, tight


def fresh_spam(ip: str, n: int) -> bytes:
    now = format_datetime(datetime.now(UTC))
    return spam(ip, n).replace(b"Thu, 26 Nov 2026 11:00:00 +0000", now.encode()).replace(
        b"Thu, 26 Nov 2026 10:59:00 +0000", now.encode()).replace(b"Thu, 26 Nov 2026 10:58:00 +0000", now.encode())


def test_swaks_multi_attachment_submission_makes_n_reports(served, tmp_path):
    swaks = require("swaks")
    srv, _, addr, _ = served
    files = []
    for n, ip in enumerate(["198.51.100.11", "198.51.100.12", "198.51.100.13"], 1):
        f = tmp_path / f"spam{n}.eml"
        f.write_bytes(fresh_spam(ip, 100 + n))
        files += ["--attach-type", "message/rfc822", "--attach", f"@{f}"]
    out = subprocess.run([swaks, "--server", "127.0.0.1", "--port", str(srv.smtp_port), "-4",
                          "--from", "alice@reporter.example", "--to", addr, "--body", "three spams",
                          *files], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "<-  250 2.0.0 3 report(s) stored (3 new)" in out.stdout
    got = sorted(srv.query("SELECT source_ip, channel FROM reports WHERE source_ip LIKE '198.51.100.1_'"))
    assert got == [("198.51.100.11", "smtp"), ("198.51.100.12", "smtp"), ("198.51.100.13", "smtp")]


def test_every_rejection_code_through_serve(served):
    srv, _, addr, tight = served
    domain = addr.split("@")[1]
    with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=30) as s:
        s.ehlo("client.example")
        s.mail("r@reporter.example")
        assert s.rcpt(f"submit.unknown@{domain}")[:1] == (550,)
        assert s.rcpt(f"submit.unknown@{domain}")[1].startswith(b"5.1.1")
        s.rset()
        # no spam attached
        s.mail("r@reporter.example")
        s.rcpt(addr)
        c, text = s.data(b"From: r@reporter.example\r\nSubject: spam!\r\n\r\nI got spam, please help\r\n")
        assert (c, text[:5]) == (554, b"5.6.0") and b"attachment" in text
        # too big (the server was configured with 100 kB)
        s.mail("r@reporter.example")
        s.rcpt(addr)
        c, text = s.data(submission(addr, [fresh_spam("198.51.100.20", 20) + (b"y" * 76 + b"\r\n") * 1500]))
        assert (c, text[:5]) == (552, b"5.3.4")
        # too many recipients (3 configured)
        s.mail("r@reporter.example")
        answers = [s.rcpt(addr)[0] for _ in range(4)]
        assert answers == [250, 250, 250, 452]
        s.rset()
        # over quota: the quota-1 reporter's second report
        s.mail("r@reporter.example")
        s.rcpt(tight)
        assert s.data(submission(tight, [fresh_spam("198.51.100.21", 21)]))[0] == 250
        s.mail("r@reporter.example")
        c, text = s.rcpt(tight)
        assert (c, text[:5]) == (452, b"4.5.3")


def test_reply_mail_arrives_at_the_sink(served):
    srv, sink, addr, _ = served
    with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=30) as s:
        s.sendmail("alice@reporter.example", [addr], submission(addr, [fresh_spam("198.51.100.30", 30)]))
    _, rcpts, content = sink.wait_for(lambda m: b"198.51.100.30" in m[2], timeout=30)
    assert rcpts == ["alice@reporter.example"]
    [(rid,)] = srv.query("SELECT id FROM reports WHERE source_ip = '198.51.100.30'")
    assert f"/api/v1/reports/{rid}".encode() in content
    assert b"traced source: 198.51.100.30" in content


def test_arf_sample_becomes_an_fbl_report_with_the_right_source(served, corpus):
    srv, _, addr, _ = served
    sample = corpus / "arf" / "stalwart-mail-auth" / "004.eml"
    expected = json.loads((corpus / "arf" / "stalwart-mail-auth" / "004.expected.json").read_text())["source_ip"]
    raw = sample.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    domain = addr.split("@")[1]
    with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=30) as s:
        assert s.sendmail("isp@feedback.example", [f"fbl@{domain}"], raw) == {}
    rows = srv.query("SELECT r.channel, r.source_ip, a.name, a.role FROM reports r JOIN accounts a "
                     "ON a.id = r.reporter_id WHERE r.sha256 = :h", h=hashlib.sha256(raw).hexdigest())
    assert rows == [("fbl", expected, "fbl", "feed")]


def test_trap_hit_changes_the_ips_score_and_trap_stays_private(served):
    srv, _, _, _ = served
    ip = "203.0.113.77"
    url = f"http://127.0.0.1:{srv.http_port}/api/v1/lookup/{ip}"
    before = httpx.get(url, timeout=30).json()
    with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=30) as s:
        for n in range(3):
            assert s.sendmail("x@bad.example", [TRAP], fresh_spam(ip, 700 + n)) == {}
    after = httpx.get(url, timeout=30).json()
    assert after["score"] > before["score"]
    assert after["evidence"]["trap"] == before["evidence"]["trap"] + 3
    assert TRAP not in json.dumps(after) and "trap.example" not in json.dumps(after)
    assert srv.query("SELECT count(*) FROM trap_hits WHERE source_ip = :ip", ip=ip) == [(3,)]


def test_a_bad_smtp_table_stops_serve_with_the_reason(tmp_path):
    write_config(tmp_path, {"no_such_key": 1})
    srv = Serve(tmp_path)
    with pytest.raises(RuntimeError):
        srv.start(timeout=60)
    assert srv.proc.wait(10) == 2
    assert any("unknown keys ['no_such_key']" in line for line in srv.log)
