"""Helpers for the SMTP intake tests: a live SMTP door over a real store, a sink, submissions."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from mailrep.config import Settings
from mailrep.intake.doors import smtp_server
from mailrep.intake.limits import IntakeLimits
from mailrep.intake.service import IntakeService
from mailrep.store import accounts
from mailrep.store.db import Database

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def add_reporter(db: Database, name: str, *, quota: int = 5000, mailhosts: tuple[str, ...] = ()) -> tuple[int, str]:
    """A reporter account; returns (account id, submit code)."""
    with db.transaction() as conn:
        acc = accounts.create_account(conn, name, "reporter", NOW)
        rep = accounts.add_reporter(conn, acc.id, daily_quota=quota, mailhosts=mailhosts)
    assert rep.submit_code
    return acc.id, rep.submit_code


class LiveSmtp:
    """IntakeService + the SMTP door on 127.0.0.1:<ephemeral>, in a loop on its own thread."""

    def __init__(self, db: Database, tmp: Path, smtp: dict[str, Any] | None = None,
                 *, clock=None, process: bool = False) -> None:
        self.db = db
        self.settings = Settings(data_dir=tmp, database_url=str(db.url.render_as_string(hide_password=False)),
                                 site_url="http://mailrep.test", sections={"smtp": dict(smtp or {})})
        self.clock = clock or (lambda: datetime.now(UTC))
        self.service = IntakeService(db, IntakeLimits(trace_workers=0, batch_wait=0.001),
                                     clock=self.clock, process=process)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> LiveSmtp:
        self.thread.start()
        self.service.start()
        self.server = smtp_server(self.settings, self.service, self.db, clock=self.clock)
        self.host, self.port = asyncio.run_coroutine_threadsafe(
            self.server.start("127.0.0.1", 0), self.loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
        self.service.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Sink:
    """A local SMTP server that keeps what it receives (the smarthost of the tests)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.arrived = threading.Event()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        self.arrived.set()
        return "250 OK"

    def wait_for(self, match, timeout: float = 30.0) -> tuple[str, list[str], bytes]:
        """The first received message for which `match(message)` is true (waits for it)."""
        deadline = time.monotonic() + timeout
        while True:
            for m in list(self.messages):
                if match(m):
                    return m
            if time.monotonic() > deadline:
                raise AssertionError(f"no matching message arrived at the sink in {timeout} s")
            self.arrived.clear()
            self.arrived.wait(0.2)

    def __enter__(self) -> Sink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def spam(ip: str, n: int = 0, subject: str = "buy now") -> bytes:
    """A spam whose untrusted source is `ip` (one Received hop from a public address)."""
    return (
        f"Received: from mx.reporter.example (mx.reporter.example [10.0.0.1])\r\n"
        f"\tby mail.reporter.example with ESMTP id A{n}; Thu, 26 Nov 2026 11:00:00 +0000\r\n"
        f"Received: from bad{n}.example (bad{n}.example [{ip}])\r\n"
        f"\tby mx.reporter.example (Postfix) with ESMTP id B{n}; Thu, 26 Nov 2026 10:59:00 +0000\r\n"
        f"From: spammer{n}@bad.example\r\nTo: victim@reporter.example\r\nSubject: {subject} {n}\r\n"
        f"Date: Thu, 26 Nov 2026 10:58:00 +0000\r\nMessage-ID: <{n}.{ip}@bad.example>\r\n\r\n"
        f"Cheap stuff at http://spam{n}.example/\r\n"
    ).encode()


def submission(to: str, spams: list[bytes], sender: str = "reporter@reporter.example") -> bytes:
    """A forward-as-attachment mail carrying each spam as message/rfc822."""
    import email
    import email.policy

    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, "spam"
    msg.set_content("Spam attached.\n")
    for raw in spams:
        msg.add_attachment(email.message_from_bytes(raw))
    return msg.as_bytes(policy=email.policy.SMTP)
