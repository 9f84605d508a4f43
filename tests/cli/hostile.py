"""Hostile mail for the command-line doors (`mailrep trace`, `mailrep import`): one builder each."""

from __future__ import annotations

import os

SPAM = (b"Received: from mx.victim.example (mx.victim.example [10.0.0.1]) by inbox.victim.example "
        b"(Postfix) with ESMTP id 1; Mon, 11 Oct 2010 14:00:05 +0000\r\n"
        b"Received: from bad.example (bad.example [45.40.0.7]) by mx.victim.example (Postfix) "
        b"with ESMTP id 2; Mon, 11 Oct 2010 14:00:00 +0000\r\n"
        b"From: spammer@bad.example\r\nSubject: buy\r\n")


def nested(depth: int = 100) -> bytes:
    body = b"Content-Type: text/plain\r\n\r\nVisit http://deep.example/\r\n"
    for i in range(depth, 0, -1):
        body = (b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i) + body
                + b"\r\n--b%d--\r\n" % i)
    return SPAM + b"MIME-Version: 1.0\r\n" + body


def received_lines(n: int = 10_000) -> bytes:
    return b"".join(b"Received: from h%d.example (h%d.example [45.41.%d.%d]) by mx%d.example with ESMTP; "
                    b"Mon, 11 Oct 2010 14:00:00 +0000\r\n" % (k, k, k // 250, k % 250 + 1, k)
                    for k in range(n)) + b"Subject: x\r\n\r\nbody\r\n"


HOSTILE = {
    "truncated": SPAM[:150],
    "binary": bytes(range(256)) * 4 + os.urandom(64).replace(b":", b""),
    "nested": nested(),
    "received": received_lines(),
    "nul": SPAM.replace(b"Subject: buy", b"Subject: b\x00uy") + b"\r\nbo\x00dy\r\n",
    "bare_cr": SPAM.replace(b"\r\n", b"\r") + b"\rbody\r",
    "bare_lf": SPAM.replace(b"\r\n", b"\n") + b"\nbody\n",
}
