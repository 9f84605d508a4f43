"""Small hand-written spam messages for intake tests (the corpus is used where real mail matters)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

MX = "mx.reporter.example"


def spam(source_ip: str, *, n: int = 0, when: datetime | None = None, body_bytes: int = 0,
         date_header: datetime | None = None) -> bytes:
    """A spam as the reporter's MX received it from `source_ip` (distinct per `n`)."""
    when = when or datetime.now(UTC)
    stamp = format_datetime(when)
    date = format_datetime(date_header or when)
    body = f"Buy cheap things now, offer {n}: http://cheap-{n}.example.com/buy\n"
    if body_bytes:
        body += ("x" * 75 + "\n") * (body_bytes // 76 + 1)
    return (
        f"Received: from sender{n}.example.net (sender{n}.example.net [{source_ip}])\n"
        f"\tby {MX} (Postfix) with ESMTP id A{n:08d}\n"
        f"\tfor <victim@reporter.example>; {stamp}\n"
        f"From: Spammer <spam{n}@example.net>\n"
        f"To: victim@reporter.example\n"
        f"Subject: offer number {n}\n"
        f"Date: {date}\n"
        f"Message-ID: <{n}.{source_ip}@example.net>\n"
        f"\n{body}"
    ).encode()


def relayed_spam(source_ip: str, relay_ip: str, *, n: int = 0, when: datetime | None = None) -> bytes:
    """A spam from `source_ip` that passed the recipient's own relay `relay_ip` before the MX."""
    when = when or datetime.now(UTC)
    stamp = format_datetime(when)
    return (
        f"Received: from relay.recipient.example (relay.recipient.example [{relay_ip}])\n"
        f"\tby {MX} (Postfix) with ESMTP id B{n:08d}; {stamp}\n".encode()
        + spam(source_ip, n=n, when=when).replace(f"by {MX}".encode(), b"by relay.recipient.example", 1)
    )
