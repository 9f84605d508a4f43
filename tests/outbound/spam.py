"""Spam samples for the outbound tests: a reporter's MX chain above a spammer's relay."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

WHEN = datetime(2024, 1, 2, 10, 0, tzinfo=UTC)


def spam(*, to: str = "alice@reporter-a.example", mx: str = "mx1.reporter-a.example",
         store: str = "store.reporter-a.example", source: str = "203.0.113.9",
         subject: str = "Cheap pills", token: str = "8f3a9c2b7d1e4f60", when: datetime = WHEN) -> bytes:
    date = format_datetime(when)
    return f"""Return-Path: <bounce-77@spam.example>
Delivered-To: {to}
X-Original-To: {to}
Received: from {mx} ({mx} [192.168.1.5])
\tby {store} with LMTP id abc for <{to}>;
\t{date}
Authentication-Results: {mx}; spf=fail smtp.mailfrom=spam.example
X-Spam-Status: Yes, score=12.1 required=5.0 hostname={mx}
Received: from bad.spam.example (bad.spam.example [{source}])
\tby {mx} (Postfix) with ESMTP id XYZ123 for <{to}>;
\t{date}
Received: from [10.9.9.9] by bad.spam.example with SMTP; {date}
From: "Deals" <deals@spam.example>
To: {to}
List-Unsubscribe: <https://cheappills.com/unsub/{token}?e={to.replace('@', '%40')}>
Subject: {subject}
Date: {date}
Message-ID: <1234@spam.example>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="b1"

--b1
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Hello {to}, buy now: https://cheappills.com/buy/{token}?uid=3Dab12cd34ef&lang=3Den
Cheap and safe =E2=9C=93
--b1
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: base64

""".replace("\n", "\r\n").encode() + __import__("base64").encodebytes(
        f'<p>Hi {to}</p><a href="https://cheappills.com/buy/{token}?uid=ab12cd34ef">buy</a>'
        f'<img src="https://track.cheappills.com/o/{token}.gif">'.encode()).replace(b"\n", b"\r\n") + b"--b1--\r\n"
