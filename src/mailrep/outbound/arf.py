"""The abuse report to a network owner, pure: RFC 5965 (ARF) around an RFC 6590 redacted copy.

    facts = ReportFacts(report_id, source_ip, arrival, raw, trace)
    mail = build_arf(facts, sender="abuse-reports@mailrep.test", recipients=[...],
                     lookup_url="https://mailrep.example/lookup?ip=...", now=now)   # bytes

`multipart/report; report-type=feedback-report` with three parts: the human-readable text,
the `message/feedback-report` fields (Feedback-Type: abuse, User-Agent, Version: 1,
Source-IP, Arrival-Date, Reported-Domain and Reported-URI when the spam advertises any), and
the spam as `message/rfc822`, redacted (`outbound.redact`). The Message-ID is derived from the
report id, so a receiver can drop the copy a crash between sending and recording may repeat.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.utils import format_datetime

from mailrep import __version__
from mailrep.outbound.redact import redact, redact_url
from mailrep.trace.trace import Trace

USER_AGENT = f"mailrep/{__version__}"
FEEDBACK_TYPE = "abuse"
ARF_VERSION = "1"
MAX_REPORTED = 10
CRLF = "\r\n"


@dataclass(frozen=True, slots=True)
class ReportFacts:
    """One stored report as the notification needs it."""

    report_id: int
    source_ip: str
    arrival: datetime  # when the reporter's side received it (source hop date, else stored time)
    raw: bytes
    trace: Trace
    extra_addresses: tuple[str, ...] = ()  # the reporter's addresses the spam may not name


def message_id(kind: str, key: str, sender: str) -> str:
    return f"<{kind}-{key}@{sender.rpartition('@')[2] or 'mailrep.invalid'}>"


def reported(trace: Trace) -> tuple[list[str], list[str]]:
    """The advertised registered domains and (redacted) URLs, first few, once each."""
    domains = list(dict.fromkeys(u.domain for u in trace.urls if u.domain))[:MAX_REPORTED]
    uris = list(dict.fromkeys(redact_url(u.url) for u in trace.urls))[:MAX_REPORTED]
    return domains, uris


def feedback_fields(facts: ReportFacts) -> list[tuple[str, str]]:
    fields = [("Feedback-Type", FEEDBACK_TYPE), ("User-Agent", USER_AGENT), ("Version", ARF_VERSION),
              ("Source-IP", facts.source_ip), ("Arrival-Date", format_datetime(facts.arrival))]
    domains, uris = reported(facts.trace)
    fields += [("Reported-Domain", d) for d in domains]
    fields += [("Reported-URI", u) for u in uris]
    return fields


def human_text(facts: ReportFacts, lookup_url: str) -> str:
    domains, _ = reported(facts.trace)
    lines = [
        f"This is an abuse report (RFC 5965) for a message received from {facts.source_ip}",
        f"on {format_datetime(facts.arrival)}, reported to mailrep as spam (report {facts.report_id}).",
        "",
        "The message is attached with the recipient's address and the receiving side's",
        "systems removed (RFC 6590). Please stop the sending at its source.",
    ]
    if domains:
        lines += ["", "It advertises: " + ", ".join(domains)]
    if lookup_url:
        lines += ["", f"This address on the mailrep blocklist: {lookup_url}"]
    return CRLF.join(lines) + CRLF


def mail_headers(sender: str, recipients: Sequence[str], subject: str, now: datetime, mid: str,
             content_type: str) -> str:
    return CRLF.join([
        f"From: {sender}", f"To: {', '.join(recipients)}",
        f"Subject: {Header(subject, 'utf-8').encode()}", f"Date: {format_datetime(now)}",
        f"Message-ID: {mid}", "MIME-Version: 1.0", "Auto-Submitted: auto-generated",
        f"Content-Type: {content_type}",
    ]) + CRLF


def build_arf(facts: ReportFacts, *, sender: str, recipients: Sequence[str], now: datetime,
              lookup_url: str = "") -> bytes:
    """The ARF mail for one report, as bytes with CRLF line ends."""
    spam = redact(facts.raw, facts.trace, extra_addresses=facts.extra_addresses)
    report = CRLF.join(f"{k}: {v}" for k, v in feedback_fields(facts)) + CRLF
    human = human_text(facts, lookup_url)
    boundary = "arf-" + hashlib.sha256(spam + report.encode()).hexdigest()[:32]
    while boundary.encode() in spam:
        boundary += "x"
    head = mail_headers(sender, recipients, f"Abuse report: spam from {facts.source_ip}", now,
                    message_id("arf", str(facts.report_id), sender),
                    f'multipart/report; report-type=feedback-report; boundary="{boundary}"')
    body = (
        f"This is a multipart message in MIME format.{CRLF}"
        f"--{boundary}{CRLF}Content-Type: text/plain; charset=utf-8{CRLF}"
        f"Content-Transfer-Encoding: 8bit{CRLF}{CRLF}{human}"
        f"--{boundary}{CRLF}Content-Type: message/feedback-report{CRLF}{CRLF}{report}"
        f"--{boundary}{CRLF}Content-Type: message/rfc822{CRLF}Content-Disposition: inline{CRLF}{CRLF}"
    ).encode()
    tail = f"{CRLF}--{boundary}--{CRLF}".encode()
    return (head + CRLF).encode() + body + spam.rstrip(b"\r\n") + tail
