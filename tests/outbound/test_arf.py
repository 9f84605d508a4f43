"""outbound.arf and outbound.redact: the ARF mail a network owner receives, RFC 6590 redacted."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy

from mailrep.outbound.arf import ReportFacts, build_arf
from mailrep.outbound.digest import DigestLine, build_digest
from mailrep.outbound.redact import redact, redact_url
from mailrep.trace.trace import trace_message
from mailrep.trace.trust import TrustConfig
from tests.outbound.spam import spam

NOW = datetime(2024, 1, 2, 12, 0, tzinfo=UTC)
SECRETS = ("alice@reporter-a.example", "alice%40reporter-a.example", "mx1.reporter-a.example",
           "store.reporter-a.example", "8f3a9c2b7d1e4f60", "ab12cd34ef", "192.168.1.5")


def _facts(raw: bytes, config: TrustConfig | None = None) -> ReportFacts:
    trace = trace_message(raw, config=config)
    assert trace.source_ip == "203.0.113.9"
    return ReportFacts(7, trace.source_ip, trace.source.relay.date, raw, trace)


def test_redaction_removes_the_reporter_side_and_keeps_the_spammer_side():
    raw = spam()
    out = redact(raw, trace_message(raw))
    text = out.decode()
    msg = email.message_from_bytes(out, policy=policy.default)
    for secret in SECRETS:
        assert secret not in text
    # the parts are decoded before redaction: the base64 HTML part is clean too
    html = msg.get_body(("html",)).get_content()
    assert "alice@" not in html and "8f3a9c2b7d1e4f60" not in html and "cheappills.com" in html
    plain = msg.get_body(("plain",)).get_content()
    assert "redacted@reporter-a.example" in plain and "Cheap and safe ✓" in plain
    assert [r for r in msg.get_all("Received")] == [
        "from [10.9.9.9] by bad.spam.example with SMTP; Tue, 02 Jan 2024 10:00:00 +0000"]
    assert msg["Return-Path"] == "<bounce-77@spam.example>"
    assert msg["Message-ID"] == "<1234@spam.example>" and 'From: "Deals" <deals@spam.example>' in text
    for gone in ("Delivered-To", "X-Original-To", "Authentication-Results", "X-Spam-Status"):
        assert gone not in msg


def test_redaction_with_named_mailhosts_cuts_the_same_place():
    raw = spam()
    config = TrustConfig.from_mailhosts(["mx1.reporter-a.example", "store.reporter-a.example"])
    assert redact(raw, trace_message(raw, config=config)) == redact(raw, trace_message(raw))


def test_url_tracking_tokens():
    assert redact_url("https://a.example/u/8f3a9c2b7d1e4f60/x?uid=ab12cd&lang=en#frag1x2y3z") == \
        "https://a.example/u/redacted/x?uid=redacted&lang=en#redacted"
    assert redact_url("https://a.example/products/shoes?page=2") == "https://a.example/products/shoes?page=2"
    assert redact_url("https://a.example/?e=bob%40x.example") == "https://a.example/?e=redacted"


def test_arf_mail_is_an_rfc5965_report():
    raw = spam()
    mail = build_arf(_facts(raw), sender="reports@mailrep.test", recipients=["abuse@net-a.example"],
                     now=NOW, lookup_url="https://mailrep.test/lookup?ip=203.0.113.9")
    msg = email.message_from_bytes(mail, policy=policy.default)
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "feedback-report"
    assert msg["To"] == "abuse@net-a.example" and msg["Message-ID"] == "<arf-7@mailrep.test>"
    human, report, original = msg.iter_parts()
    assert human.get_content_type() == "text/plain" and "203.0.113.9" in human.get_content()
    assert report.get_content_type() == "message/feedback-report"
    fields = email.message_from_bytes(report.get_payload(0).as_bytes() if report.is_multipart()
                                      else report.get_payload(decode=True))
    assert fields["Feedback-Type"] == "abuse" and fields["Version"] == "1"
    assert fields["User-Agent"].startswith("mailrep/")
    assert fields["Source-IP"] == "203.0.113.9"
    assert fields["Arrival-Date"] == "Tue, 02 Jan 2024 10:00:00 +0000"
    assert fields["Reported-Domain"] == "cheappills.com"
    assert all("8f3a9c2b7d1e4f60" not in u for u in fields.get_all("Reported-URI"))
    assert original.get_content_type() == "message/rfc822"
    spam_part = original.get_payload(0)
    assert spam_part["Subject"] == "Cheap pills"
    for secret in SECRETS:
        assert secret not in mail.decode()
    assert b"\r\n" in mail and b"\n" not in mail.replace(b"\r\n", b"")


def test_digest_lists_the_reports_of_a_day():
    lines = [DigestLine(9, NOW, "203.0.113.9", ("cheappills.com",)), DigestLine(8, NOW.replace(hour=3), "203.0.113.10")]
    mail = build_digest("203.0.113.0/24", lines, sender="reports@mailrep.test", recipients=["abuse@net-a.example"],
                        day=NOW.date(), now=NOW)
    msg = email.message_from_bytes(mail, policy=policy.default)
    body = msg.get_content()
    assert "2 spam reports on 2024-01-02" in body and "203.0.113.0/24" in body
    assert body.index("report 8") < body.index("report 9 ")
    assert msg["Message-ID"] == "<digest-203.0.113.0_24-2024-01-02@mailrep.test>"
