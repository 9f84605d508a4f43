"""SMTP intake: submission addresses, feedback loops and spamtraps (aiosmtpd).

The hooks are thin (STYLE 6): RCPT classifies the address and opens its door (unknown or
revoked 550 5.1.1, over quota 452 4.5.3); DATA finds the reports in the mail, hands them to
`SmtpIntake.accept` which returns only after they are durably committed, then answers 250.
Every `MailrepError` becomes an SMTP reply in exactly one place: `status_for()`.

    server = SmtpServer(intake, config)        # intake: anything with open() and accept()
    await server.start("127.0.0.1", 2525)      # in the running event loop (mailrep serve)
    ...
    await server.stop()

Limits: message size (552 5.3.4, also for SIZE= at MAIL), recipients per message (452 4.5.3),
new connections per client address (421 4.7.0, token bucket); STARTTLS when a certificate is
configured. A trap hit gets our own Received header naming the connecting client, so the
trace engine walks from the client that handed us the mail.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiosmtpd.smtp import SMTP, Envelope, Session

from mailrep.errors import (
    BadInput,
    MailrepError,
    NotAllowed,
    NotAuthenticated,
    NotFound,
    NotMail,
    OverQuota,
    StorageError,
    TooBig,
)
from mailrep.intake.addresses import Door, Route, SmtpConfig, classify
from mailrep.intake.forward import NoSpamAttached, extract_spams, feedback_reports
from mailrep.ratelimit import TokenBucket
from mailrep.trace.message import Flag

log = logging.getLogger(__name__)


class Reply:
    """SMTP replies (RFC 5321 codes with RFC 3463 enhanced status codes)."""

    OK_RCPT = "250 2.1.5 Recipient OK"
    UNKNOWN = "550 5.1.1 No such submission address (unknown or revoked)"
    TOO_MANY_RCPT = "452 4.5.3 Too many recipients"
    OVER_QUOTA = "452 4.5.3 Submission quota exhausted; try again later"
    TOO_BIG = "552 5.3.4 Message too big for this system"
    NO_SPAM = "554 5.6.0 "
    NOT_MAIL = "554 5.6.0 Not a mail message"
    REFUSED = "550 5.7.1 Not accepted"
    BAD = "501 5.5.4 "
    STORAGE = "451 4.3.0 Temporary storage failure; nothing was stored, try again"
    LOCAL_ERROR = "451 4.3.0 Local error; try again later"
    TOO_FAST = "421 4.7.0 Too many connections from your address; try again later"


def status_for(error: BaseException) -> str:
    """The one place where errors become SMTP replies."""
    if isinstance(error, NoSpamAttached):
        return Reply.NO_SPAM + error.message
    if isinstance(error, TooBig):
        return Reply.TOO_BIG
    if isinstance(error, NotMail):
        return Reply.NOT_MAIL
    if isinstance(error, BadInput):
        return Reply.BAD + error.message[:200]
    if isinstance(error, NotAuthenticated | NotFound):
        return Reply.UNKNOWN
    if isinstance(error, OverQuota):
        return Reply.OVER_QUOTA
    if isinstance(error, NotAllowed):
        return Reply.REFUSED
    if isinstance(error, StorageError):
        return Reply.STORAGE
    log.error("smtp: unexpected error %s: %s", type(error).__name__, error)
    return Reply.LOCAL_ERROR


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


@dataclass(frozen=True, slots=True)
class Receipt:
    """What the store answers for a committed report."""

    id: int
    source_ip: str | None
    url: str
    duplicate: bool = False


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
        return "250 2.0.0 OK"

    def build(self, raw: bytes, routes: Sequence[tuple[Route, Owner]], session: Session) -> list[Submission]:
        """Every report a mail carries, per recipient door (pure apart from the clock)."""
        if len(raw) > self.config.max_message_bytes:
            raise TooBig()
        items: list[Submission] = []
        spams = None
        for route, owner in routes:
            if route.door is Door.SUBMIT:
                spams = spams if spams is not None else extract_spams(raw)
                items.extend(Submission(route, owner, s.raw, s.flags) for s in spams)
            elif route.door is Door.FBL:
                items.extend(Submission(route, owner, r) for r in feedback_reports(raw))
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
            items = self.build(raw, routes, session)
            receipts = list(await self.intake.accept(items))
        except MailrepError as e:
            return status_for(e)
        if len(receipts) != len(items):
            log.error("smtp: intake returned %d receipts for %d items", len(receipts), len(items))
            return Reply.LOCAL_ERROR
        self._send_reply(envelope, items, receipts)
        new = sum(not r.duplicate for r in receipts)
        ids = " ".join(str(r.id) for r in receipts[:20])
        return f"250 2.0.0 {len(receipts)} report(s) stored ({new} new): {ids}".rstrip(": ")

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


class IntakeSMTP(SMTP):
    """aiosmtpd's protocol with our limits: connection rate and precise size replies."""

    def __init__(self, handler: SubmissionHandler, *, limiter: TokenBucket, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._limiter = limiter

    async def push(self, status: Any) -> None:
        # aiosmtpd words its size refusals itself; give them the enhanced code (RFC 3463 5.3.4).
        if isinstance(status, str) and status.startswith("552 Error"):
            status = Reply.TOO_BIG
        await super().push(status)

    async def _handle_client(self) -> None:
        peer = self.session.peer if self.session is not None else None
        ip = peer[0] if isinstance(peer, tuple) else str(peer)
        try:
            self._limiter.take(ip, time.monotonic())
        except OverQuota:
            await self.push(Reply.TOO_FAST)
            if self.transport is not None:
                self.transport.close()
            return
        await super()._handle_client()


def tls_context(config: SmtpConfig) -> ssl.SSLContext | None:
    if not (config.tls_cert and config.tls_key):
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        ctx.load_cert_chain(config.tls_cert, config.tls_key)
    except (OSError, ssl.SSLError) as e:
        raise BadInput(f"[smtp] tls_cert/tls_key: {e}") from e
    return ctx


class SmtpServer:
    """The SMTP front door, run inside an existing event loop."""

    def __init__(self, intake: SmtpIntake, config: SmtpConfig, *, reply: ReplyHook | None = None) -> None:
        self.config = config
        self.handler = SubmissionHandler(intake, config, reply=reply)
        self.limiter = TokenBucket(capacity=config.connections, per_seconds=config.connections_per)
        self.tls = tls_context(config)
        self._server: asyncio.base_events.Server | None = None

    def protocol(self) -> IntakeSMTP:
        return IntakeSMTP(
            self.handler, limiter=self.limiter, hostname=self.config.banner_host,
            data_size_limit=self.config.max_message_bytes, tls_context=self.tls,
            require_starttls=bool(self.tls and self.config.require_tls),
            ident="mailrep intake", enable_SMTPUTF8=True, decode_data=False,
        )

    async def start(self, host: str, port: int) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self.protocol, host=host, port=port, reuse_address=True)
        sock = self._server.sockets[0].getsockname()
        log.info("smtp intake listening on %s:%s", sock[0], sock[1])
        return sock[0], sock[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        await self.handler.drain()
