"""The aiosmtpd handler of the SMTP intake: submission addresses, feedback loops, spamtraps.

The hooks are thin (STYLE 6): RCPT classifies the address and opens its door (unknown or
revoked 550 5.1.1, a stranger at fbl@ 550 5.7.1, over quota 452 4.5.3); DATA checks the mail
and finds the reports in it away from the event loop that HTTP shares (`reading.read_mail`,
in the trace pool), hands them to `SmtpIntake.accept` which returns only after they are durably
committed, then answers 250 saying how many were stored and how many refused, and why.
Every `MailrepError` becomes an SMTP reply in exactly one place: `codes.status_for()`.

Limits: message size (552 5.3.4, also for SIZE= at MAIL), header section (552 5.3.4, see
`content`), recipients per message (452 4.5.3), mails per connection and new connections per
client address (421 4.7.0, in `server`); STARTTLS when a certificate is configured. A trap hit
gets our own Received header naming the connecting client, so the trace engine walks from the
client that handed us the mail.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiosmtpd.smtp import SMTP, Envelope, Session

from mailrep.errors import MailrepError
from mailrep.intake.addresses import Door, Route, SmtpConfig, admit, classify
from mailrep.intake.service import Receipt
from mailrep.intake.smtp.codes import Reply, status_for
from mailrep.intake.smtp.reading import Reading, read_mail
from mailrep.trace.message import Flag

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Owner:
    """The account a door files its reports under."""

    account_id: int
    name: str


@dataclass(frozen=True, slots=True)
class Submission:
    """One report to store: which door, whose, the raw bytes and what we noticed."""

    route: Route
    owner: Owner
    raw: bytes
    flags: tuple[Flag, ...] = ()


class SmtpIntake(Protocol):
    async def open(self, route: Route) -> Owner:
        """The owner of the door; NotAuthenticated (unknown/revoked) or OverQuota."""

    async def accept(self, items: Sequence[Submission]) -> Sequence[Receipt]:
        """Store every item durably (one receipt each, in order) before returning."""


ReplyHook = Callable[[str, Sequence[tuple[Submission, Receipt]]], Awaitable[None]]
Offload = Callable[..., Awaitable[Any]]
"""Runs `fn(*args)` away from the event loop (`IntakeService.offload`; default: a thread)."""


def received_header(*, helo: str, peer_ip: str, hostname: str, tls: bool, raw: bytes) -> bytes:
    """Our own Received line for a trap hit, Postfix style so every trace parser reads it.

    It carries no time stamp and its id is a hash of the message: a client that retries the
    same mail (after a crash between COMMIT and our 250) must produce the same bytes, hence the
    same dedupe key, or a trap hit would count twice. The arrival time is stored with the hit.
    """
    helo = "".join(ch for ch in (helo or "unknown") if ch.isprintable() and ch not in "()[];\\")[:100] or "unknown"
    qid = hashlib.sha256(peer_ip.encode() + b"\0" + raw).hexdigest()[:12].upper()
    proto = "ESMTPS" if tls else "ESMTP"
    return (f"Received: from {helo} (unknown [{peer_ip}])\r\n\tby {hostname} (mailrep) with {proto} "
            f"id {qid}\r\n").encode("ascii", "replace")


@dataclass
class _Routes:
    items: list[tuple[Route, Owner]] = field(default_factory=list)


class SubmissionHandler:
    """aiosmtpd handler: classify at RCPT, store at DATA, answer."""

    def __init__(self, intake: SmtpIntake, config: SmtpConfig, *, reply: ReplyHook | None = None,
                 offload: Offload = asyncio.to_thread) -> None:
        self.intake = intake
        self.config = config
        self.reply = reply
        self.offload = offload
        self._tasks: set[asyncio.Task[Any]] = set()

    @staticmethod
    def _routes(envelope: Envelope) -> _Routes:
        routes = getattr(envelope, "mailrep_routes", None)
        if routes is None:
            routes = _Routes()
            envelope.mailrep_routes = routes  # type: ignore[attr-defined]
        return routes

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if len(envelope.rcpt_tos) >= self.config.max_recipients:
            return Reply.TOO_MANY_RCPT
        route = classify(address, self.config)
        if route is None:
            return Reply.UNKNOWN
        try:
            route = admit(route, envelope.mail_from or "", self.config)
            owner = await self.intake.open(route)
        except MailrepError as e:
            return status_for(e)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        routes = self._routes(envelope).items
        if all((r.door, r.key) != (route.door, route.key) for r, _ in routes):
            routes.append((route, owner))  # one set of reports per owner, one trap hit per mail
        return Reply.OK_RCPT

    async def handle_RSET(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        envelope.mailrep_routes = _Routes()  # type: ignore[attr-defined]
        return Reply.OK

    def build(self, raw: bytes, reading: Reading, routes: Sequence[tuple[Route, Owner]],
              session: Session) -> list[Submission]:
        """The submissions of a mail read by `read_mail`, per recipient door."""
        items: list[Submission] = []
        for route, owner in routes:
            if route.door is Door.SUBMIT:
                items.extend(Submission(route, owner, one, flags) for one, flags in reading.spams)
            elif route.door is Door.FBL:
                items.extend(Submission(route, owner, one) for one in reading.complaints)
            else:
                peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
                head = received_header(helo=session.host_name or "", peer_ip=peer,
                                       hostname=self.config.banner_host, tls=session.ssl is not None,
                                       raw=raw)
                items.append(Submission(route, owner, head + raw))
        return items

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        routes = list(self._routes(envelope).items)
        try:
            doors = frozenset(route.door for route, _ in routes)
            reading = await self.offload(read_mail, raw, doors, self.config)
            items = self.build(raw, reading, routes, session)
            receipts = list(await self.intake.accept(items))
        except MailrepError as e:
            return status_for(e)
        if len(receipts) != len(items):
            log.error("smtp: intake returned %d receipts for %d items", len(receipts), len(items))
            return Reply.LOCAL_ERROR
        self._send_reply(envelope, items, receipts)
        new = sum(not r.duplicate for r in receipts)
        refused = f", {sum(reading.refused.values())} refused: {reading.refused_text()}" if reading.refused else ""
        ids = " ".join(str(r.id) for r in receipts[:20])
        return Reply.STORED.with_text(f"{len(receipts)} report(s) stored ({new} new){refused}"
                                      + (f"; ids: {ids}" if refused and ids else f": {ids}" if ids else ""))

    def _send_reply(self, envelope: Envelope, items: list[Submission], receipts: list[Receipt]) -> None:
        sender = (envelope.mail_from or "").strip("<>")
        pairs = [(s, r) for s, r in zip(items, receipts, strict=True) if s.route.door is Door.SUBMIT]
        if self.reply is None or not sender or not pairs:
            return
        task = asyncio.get_running_loop().create_task(self._reply_safely(sender, pairs))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reply_safely(self, to: str, pairs: list[tuple[Submission, Receipt]]) -> None:
        assert self.reply is not None
        try:
            await self.reply(to, pairs)
        except Exception as e:  # a reply failure never touches the stored reports
            log.warning("smtp: reply to %s failed: %s", to, e)

    async def handle_exception(self, error: Exception) -> str:
        return status_for(error)

    async def drain(self, timeout: float = 10.0) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
