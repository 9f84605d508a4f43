"""The SMTP door of `mailrep serve` against strangers and hostile clients (issue 13).

Feedback loop closed to strangers; complaints of one feed are one reporter; feed quota and mails
per connection; header limits; 150 spams in one mail; parsing off the event loop; and every
hostile input (oversized, truncated, binary, 100-level MIME, 10,000 Received lines, NUL, bare
CR / LF) gets its precise reply while the server keeps serving.
"""

from __future__ import annotations

import os
import smtplib
import socket
import threading
import time
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest

from tests.intake.serve_harness import Serve, add_reporter, write_config
from tests.intake.smtp_harness import submission

DOMAIN = "mailrep.test"
FEED_SENDER = "complaints@isp.example"


def fresh_spam(ip: str, n: int, *, pad: bytes = b"") -> bytes:
    now = format_datetime(datetime.now(UTC)).encode()
    return (b"Received: from mx.victim.example (mx.victim.example [10.0.0.1])\r\n"
            b"\tby mail.victim.example with ESMTP id A%d; " % n + now + b"\r\n"
            b"Received: from bad%d.example (bad%d.example [%s])\r\n" % (n, n, ip.encode())
            + b"\tby mx.victim.example (Postfix) with ESMTP id B%d; " % n + now + b"\r\n"
            b"From: spammer%d@bad.example\r\nTo: victim@victim.example\r\nSubject: buy %d\r\n" % (n, n)
            + b"Date: " + now + b"\r\nMessage-ID: <%d.%s@bad.example>\r\n\r\nCheap stuff\r\n" % (n, ip.encode())
            + pad)


def arf(ip: str, n: int) -> bytes:
    """An RFC 5965 feedback report about a spam sent from `ip`."""
    now = format_datetime(datetime.now(UTC))
    return (f"From: {FEED_SENDER}\r\nTo: fbl@{DOMAIN}\r\nSubject: complaint {n}\r\nDate: {now}\r\n"
            f"Message-ID: <fbl{n}.{ip}@isp.example>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/report; report-type=feedback-report; boundary=arf\r\n\r\n"
            "--arf\r\nContent-Type: text/plain\r\n\r\nA complaint.\r\n"
            "--arf\r\nContent-Type: message/feedback-report\r\n\r\n"
            f"Feedback-Type: abuse\r\nUser-Agent: isp-fbl/1.0\r\nVersion: 1\r\nSource-IP: {ip}\r\n"
            f"Arrival-Date: {now}\r\n\r\n"
            "--arf\r\nContent-Type: message/rfc822\r\n\r\n").encode() + fresh_spam(ip, n) + b"\r\n--arf--\r\n"


def lookup(srv: Serve, ip: str) -> dict:
    return httpx.get(f"http://127.0.0.1:{srv.http_port}/api/v1/lookup/{ip}", timeout=30).json()


def reports_about(srv: Serve, ip: str) -> list[tuple]:
    return srv.query("SELECT r.channel, a.name FROM reports r JOIN accounts a ON a.id = r.reporter_id "
                     "WHERE r.source_ip = :ip ORDER BY r.id", ip=ip)


class Raw:
    """A bare-socket SMTP client: sends exactly the bytes given (smtplib would fix line ends)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.buf = b""
        assert self.reply()[0] == 220

    def reply(self) -> tuple[int, bytes]:
        while True:
            lines = self.buf.split(b"\r\n")
            for k, line in enumerate(lines[:-1]):
                if line[3:4] == b" ":
                    self.buf = b"\r\n".join(lines[k + 1:])
                    return int(line[:3]), line[4:]
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed: " + self.buf.decode("ascii", "replace"))
            self.buf += chunk

    def cmd(self, line: bytes) -> tuple[int, bytes]:
        self.sock.sendall(line + b"\r\n")
        return self.reply()

    def envelope(self, to: str) -> None:
        assert self.cmd(b"EHLO client.example")[0] == 250
        assert self.cmd(b"MAIL FROM:<r@reporter.example>")[0] == 250
        assert self.cmd(b"RCPT TO:<" + to.encode() + b">")[0] == 250
        assert self.cmd(b"DATA")[0] == 354

    def data(self, payload: bytes) -> tuple[int, bytes]:
        self.sock.sendall(payload + b"\r\n.\r\n")
        return self.reply()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    data = tmp_path_factory.mktemp("hostile")
    write_config(data, {"connections": 10_000, "max_messages": 5,
                        "fbl_feeds": {FEED_SENDER: "isp-feed"}}, {"trace_workers": 1, "feed_quota": 4})
    addr = add_reporter(data, "alice")
    other = add_reporter(data, "bob")
    with Serve(data) as srv:
        yield srv, addr, other


def still_serving(srv: Serve, addr: str, ip: str, n: int) -> None:
    with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=60) as s:
        assert s.sendmail("r@reporter.example", [addr], submission(addr, [fresh_spam(ip, n)])) == {}
    assert reports_about(srv, ip), f"the server stopped storing after a hostile input ({ip})"


# --- defect 1: the feedback-loop door ---------------------------------------------------------

def test_a_stranger_at_fbl_gets_550_571_and_three_anonymous_complaints_plus_a_report_list_nothing(served):
    srv, addr, _ = served
    ip = "45.33.7.10"
    with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=60) as s:
        for _ in range(3):
            s.ehlo("stranger.example")
            s.mail("anyone@stranger.example")
            code, text = s.rcpt(f"fbl@{DOMAIN}")
            assert (code, text[:5]) == (550, b"5.7.1") and b"fbl_feeds" in text
            s.rset()
        assert s.sendmail("r@reporter.example", [addr], submission(addr, [fresh_spam(ip, 1)])) == {}
    assert reports_about(srv, ip) == [("smtp", "alice")]
    assert lookup(srv, ip)["listed"] is False


def test_a_bound_feed_is_one_reporter_and_has_a_quota(served):
    srv, _, _ = served
    ip = "45.33.7.20"
    with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=60) as s:
        for n in range(3):
            assert s.sendmail(FEED_SENDER, [f"fbl@{DOMAIN}"], arf(ip, 20 + n)) == {}
    assert reports_about(srv, ip) == [("fbl", "isp-feed")] * 3
    got = lookup(srv, ip)
    assert got["listed"] is False  # three complaints through one feed: one reporter, never enough alone
    with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=60) as s:  # feed_quota = 4 per 24 h
        assert s.sendmail(FEED_SENDER, [f"fbl@{DOMAIN}"], arf(ip, 23)) == {}
        s.mail(FEED_SENDER)
        code, text = s.rcpt(f"fbl@{DOMAIN}")
    assert (code, text[:5]) == (452, b"4.5.3")


def test_mails_per_connection_are_capped(served):
    srv, _, _ = served
    with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=60) as s:  # max_messages = 5
        s.ehlo("client.example")
        for _ in range(5):
            assert s.mail("r@reporter.example")[0] == 250
            s.rset()
        code, text = s.mail("r@reporter.example")
        assert (code, text[:5]) == (421, b"4.7.0") and b"max_messages" in text
        with pytest.raises(smtplib.SMTPServerDisconnected):
            s.noop()


# --- defect 17: nothing dropped silently ------------------------------------------------------

def test_150_attached_spams_store_100_and_say_50_were_refused_and_why(served):
    srv, _, other = served
    spams = [fresh_spam(f"45.34.{n // 200}.{n % 200 + 1}", 1000 + n) for n in range(150)]
    with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=120) as s:
        s.ehlo("client.example")
        s.mail("r@reporter.example")
        s.rcpt(other)
        code, text = s.data(submission(other, spams))
    assert code == 250, text
    assert text.startswith(b"2.0.0 100 report(s) stored (100 new), 50 refused: 50 over the limit of 100 spams per mail")
    assert srv.query("SELECT count(*) FROM reports r JOIN accounts a ON a.id = r.reporter_id "
                     "WHERE a.name = 'bob'") == [(100,)]


def test_spam_attached_after_5_mb_of_headers_gets_the_header_limit(served):
    srv, addr, _ = served
    filler = b"".join(b"X-Filler-%d: %s\r\n" % (k, b"f" * 60) for k in range(5 * 1024 * 1024 // 80))
    mail = filler + submission(addr, [fresh_spam("45.35.0.1", 1)])
    with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=120) as s:
        s.ehlo("client.example")
        s.mail("r@reporter.example")
        s.rcpt(addr)
        code, text = s.data(mail)
    assert (code, text[:5]) == (552, b"5.3.4")
    assert b"max_header_fields" in text and b"the limit is 1000" in text
    assert reports_about(srv, "45.35.0.1") == []


# --- defect 16: a large mail is parsed off the event loop -------------------------------------

def test_a_lookup_answers_while_eight_large_mails_are_being_parsed(served):
    """Eight 9 MB mails whose reading takes seconds and ends in a refusal (no spam attached):
    read on the event loop, a refusal would be written before the loop could even accept the
    lookup sent after them; read off the loop, the lookup is answered while all eight are in
    flight."""
    srv, addr, _ = served
    part = b"--p\r\nContent-Type: text/plain\r\n\r\n" + b"z" * 60 + b"\r\n"  # ~90,000 parts: seconds to read
    text = (b"From: r@reporter.example\r\nSubject: big\r\nContent-Type: multipart/mixed; boundary=p\r\n\r\n"
            + part * (9 * 1024 * 1024 // len(part)) + b"--p--\r\n")
    clients = []
    for _ in range(8):
        c = Raw(srv.smtp_port)
        c.envelope(addr)
        c.sock.sendall(text)  # all but the end of DATA
        clients.append(c)
    events: list[str] = []

    def finish(c: Raw) -> None:
        code, enhanced = c.reply()
        events.append(f"mail {code} {enhanced[:5].decode()}")

    for c in clients:
        c.sock.sendall(b".\r\n")
    threads = [threading.Thread(target=finish, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    answer = httpx.get(f"http://127.0.0.1:{srv.http_port}/api/v1/lookup/45.36.0.200", timeout=120)
    events.append(f"lookup {answer.status_code}")
    for t in threads:
        t.join(300)
    for c in clients:
        c.close()
    assert events == ["lookup 200"] + ["mail 554 5.6.0"] * 8, events


# --- must-show 3: hostile input, precise replies, the server keeps serving --------------------

def nested(depth: int) -> bytes:
    body = b"Content-Type: message/rfc822\r\n\r\n" + fresh_spam("45.37.0.9", 9)
    for i in range(depth, 0, -1):
        body = (b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i) + body
                + b"\r\n--b%d--\r\n" % i)
    return b"From: r@reporter.example\r\nSubject: deep\r\nMIME-Version: 1.0\r\n" + body


HOSTILE = {
    "oversized": (lambda: submission("x@y", [fresh_spam("45.37.0.1", 1, pad=(b"o" * 76 + b"\r\n") * 140_000)]),
                  552, b"5.3.4", b"max_message_bytes"),
    "binary": (lambda: os.urandom(600).replace(b"\r", b"").replace(b"\n", b"") + b"\r\n" + b"\x01\x02\x03\r\n",
               554, b"5.6.0", b""),
    "nested MIME, 100 levels": (lambda: nested(100), 554, b"5.6.0", b"8 levels of MIME nesting"),
    "10,000 Received lines": (lambda: b"".join(b"Received: from h%d.example ([45.37.%d.%d]) by mx.example\r\n"
                                               % (k, k // 250, k % 250 + 1) for k in range(10_000))
                              + b"Subject: x\r\n\r\nbody\r\n", 552, b"5.3.4", b"max_header_fields"),
    "NUL bytes": (lambda: b"From: a@b.example\r\nSubject: nul\x00here\r\n\r\nbody\r\n", 554, b"5.6.0", b"NUL byte"),
    "bare LF": (lambda: b"From: a@b.example\nSubject: bare\r\n\r\nbody\r\n", 554, b"5.6.0", b"bare CR or LF"),
    "bare CR": (lambda: b"From: a@b.example\r\nSubject: bare\rcr\r\n\r\nbody\r\n", 554, b"5.6.0", b"bare CR or LF"),
    "10,000 forward markers": (lambda: b"From: r@reporter.example\r\nSubject: fwd\r\n\r\n"
                               + (b"---------- Forwarded message ---------\r\n" + b"q" * 700 + b"\r\n") * 10_000,
                               554, b"5.6.0", b"AS AN ATTACHMENT"),
    "a 1 MB header line": (lambda: b"Subject: " + b"h" * 1024 * 1024 + b"\r\n\r\nbody\r\n", 500, b"5.5.2", b"1000 bytes"),
    "a 100 KB folded header field": (lambda: b"Subject: x" + b"\r\n\t" + b"\r\n\t".join([b"w" * 900] * 110)
                                     + b"\r\n\r\nbody\r\n", 552, b"5.3.4", b"max_header_line"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_input_gets_its_precise_reply_and_the_server_keeps_serving(served, name):
    srv, addr, _ = served
    make, code, enhanced, words = HOSTILE[name]
    c = Raw(srv.smtp_port)
    try:
        c.envelope(addr)
        got, text = c.data(make().replace(b"\r\n.", b"\r\n.."))
    finally:
        c.close()
    assert (got, text[:5]) == (code, enhanced), (name, text)
    assert words in text, (name, text)
    still_serving(srv, addr, f"45.38.0.{list(HOSTILE).index(name) + 1}", 4000 + list(HOSTILE).index(name))


def test_a_mail_cut_off_in_the_middle_stores_nothing_and_the_server_keeps_serving(served):
    srv, addr, _ = served
    c = Raw(srv.smtp_port)
    c.envelope(addr)
    c.sock.sendall(submission(addr, [fresh_spam("45.39.0.1", 1)])[:700])
    c.close()  # truncated: the connection drops inside DATA
    time.sleep(0.5)
    assert reports_about(srv, "45.39.0.1") == []
    still_serving(srv, addr, "45.39.0.2", 2)


def test_fbl_open_is_logged_at_start_and_anonymous_complaints_are_one_reporter(tmp_path):
    write_config(tmp_path, {"fbl_open": True})
    add_reporter(tmp_path, "carol")
    ip = "45.33.7.30"
    with Serve(tmp_path) as srv:
        assert any("fbl_open" in line and "ANY sender" in line for line in srv.log), srv.log
        with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=60) as s:
            for n in range(3):
                assert s.sendmail(f"stranger{n}@elsewhere{n}.example", [f"fbl@{DOMAIN}"], arf(ip, 30 + n)) == {}
        assert reports_about(srv, ip) == [("fbl", "fbl")] * 3
        assert lookup(srv, ip)["listed"] is False
