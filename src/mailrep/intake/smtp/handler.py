"""The aiosmtpd handler of the SMTP intake: submission addresses, feedback loops, spamtraps.

The hooks are thin (STYLE 6): RCPT classifies the address and opens its door (unknown or
revoked 550 5.1.1, a stranger at fbl@ 550 5.7.1, over quota 452 4.5.3); DATA checks the mail
and finds the reports in it in a worker thread (a large mail never blocks the event loop that
HTTP shares), hands them to `SmtpIntake.accept` which returns only after they are durably
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
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiosmtpd.smtp import SMTP, Envelope, Session

from mailrep.errors import MailrepError, TooBig
from mailrep.intake.addresses import Door, Route, SmtpConfig, admit, classify
from mailrep.intake.forward import MAX_SPAMS, extract, feedback_reports
from mailrep.intake.service import Receipt
from mailrep.intake.smtp.codes import Reply, status_for
from mailrep.intake.smtp.content import HeaderTooBig, check_headers, check_wire
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


@dataclass
class Built:
    """The reports a mail carries, and the ones refused: reason -> how many."""

    items: list[Submission] = field(default_factory=list)
    refused: Counter[str] = field(default_factory=Counter)

    def refused_text(self) -> str:
        return "; ".join(f"{n} {why}" for why, n in self.refused.items())


class SubmissionHandler:
    """aiosmtpd handler: classify at RCPT, store at DATA, answer."""

    def __init__(self, intake: SmtpIntake, config: SmtpConfig, *, reply: ReplyHook | None = None) -> None:
        self.intake = intake
        self.config = config
        self.reply = reply
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

    def build(self, raw: bytes, routes: Sequence[tuple[Route, Owner]], session: Session) -> Built:
        """Every report a mail carries, per recipient door (pure apart from the clock); the
        spams over a limit are refused with the reason, the rest go on."""
        if len(raw) > self.config.max_message_bytes:
            raise TooBig(f"the message is {len(raw)} bytes; the limit is {self.config.max_message_bytes}")
        check_wire(raw)
        check_headers(raw, self.config)
        built = Built()
        found: list[tuple[Route, Owner, bytes, tuple[Flag, ...]]] = []
        extraction = None
        for route, owner in routes:
            if route.door is Door.SUBMIT:
                extraction = extraction if extraction is not None else extract(raw)
                found.extend((route, owner, s.raw, s.flags) for s in extraction.spams)
            elif route.door is Door.FBL:
                found.extend((route, owner, r, ()) for r in feedback_reports(raw))
            else:
                peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
                head = received_header(helo=session.host_name or "", peer_ip=peer,
                                       hostname=self.config.banner_host, tls=session.ssl is not None,
                                       raw=raw)
                built.items.append(Submission(route, owner, head + raw))
        if extraction is not None and extraction.over:
            built.refused[f"over the limit of {MAX_SPAMS} spams per mail (send them in another mail)"] += extraction.over
        if extraction is not None and extraction.too_deep:
            built.refused["nested deeper than the MIME nesting limit (not read)"] += 1
        first: HeaderTooBig | None = None
        for n, (route, owner, one, flags) in enumerate(found, 1):
            try:
                check_headers(one, self.config, what=f"attached message {n}")
            except HeaderTooBig as e:
                first = first or e
                built.refused[e.message.replace(f"attached message {n}", "attached message")] += 1
                continue
            built.items.append(Submission(route, owner, one, flags))
        if not built.items and first is not None:
            raise first
        return built

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        routes = list(self._routes(envelope).items)
        try:
            built = await asyncio.to_thread(self.build, raw, routes, session)
            items = built.items
            receipts = list(await self.intake.accept(items))
        except MailrepError as e:
            return status_for(e)
        if len(receipts) != len(items):
            log.error("smtp: intake returned %d receipts for %d items", len(receipts), len(items))
            return Reply.LOCAL_ERROR
        self._send_reply(envelope, items, receipts)
        new = sum(not r.duplicate for r in receipts)
        refused = f", {sum(built.refused.values())} refused: {built.refused_text()}" if built.refused else ""
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
