"""The SMTP front door's server: aiosmtpd's protocol with our limits, TLS, start and stop.

    server = SmtpServer(intake, config)        # intake: anything with open() and accept()
    await server.start("127.0.0.1", 2525)      # in the running event loop (mailrep serve)
    ...
    await server.stop()
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from typing import Any

from aiosmtpd.smtp import SMTP, syntax

from mailrep.errors import BadInput, OverQuota
from mailrep.intake.addresses import SmtpConfig
from mailrep.intake.smtp.codes import AIOSMTPD_LINE_TOO_LONG, AIOSMTPD_TOO_BIG, Reply
from mailrep.intake.smtp.handler import Offload, ReplyHook, SmtpIntake, SubmissionHandler
from mailrep.ratelimit import TokenBucket

log = logging.getLogger(__name__)


class IntakeSMTP(SMTP):
    """aiosmtpd's protocol with our limits: connection rate, mails per connection, and precise
    size and line-length replies."""

    def __init__(self, handler: SubmissionHandler, *, limiter: TokenBucket, max_messages: int,
                 **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._limiter = limiter
        self._max_messages = max_messages
        self._mails = 0

    async def push(self, status: Any) -> None:
        # aiosmtpd words its size and line refusals itself; give them the enhanced code
        # (RFC 3463) and the limit.
        if isinstance(status, str) and status.startswith(AIOSMTPD_TOO_BIG):
            status = Reply.TOO_BIG.with_text(f"; the limit is {self.data_size_limit} bytes ([smtp] max_message_bytes)")
        elif isinstance(status, str) and status.startswith(AIOSMTPD_LINE_TOO_LONG):
            status = Reply.LINE_TOO_LONG
        await super().push(status)

    @syntax("MAIL FROM: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_MAIL(self, arg: str | None) -> None:
        if self._mails >= self._max_messages:
            await self.push(Reply.TOO_MANY_MAILS)
            if self.transport is not None:
                self.transport.close()
            return
        self._mails += 1
        await super().smtp_MAIL(arg)

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

    def __init__(self, intake: SmtpIntake, config: SmtpConfig, *, reply: ReplyHook | None = None,
                 offload: Offload = asyncio.to_thread) -> None:
        self.config = config
        self.handler = SubmissionHandler(intake, config, reply=reply, offload=offload)
        self.limiter = TokenBucket(capacity=config.connections, per_seconds=config.connections_per)
        self.tls = tls_context(config)
        self._server: asyncio.base_events.Server | None = None

    def protocol(self) -> IntakeSMTP:
        return IntakeSMTP(
            self.handler, limiter=self.limiter, max_messages=self.config.max_messages,
            hostname=self.config.banner_host,
            data_size_limit=self.config.max_message_bytes, tls_context=self.tls,
            require_starttls=bool(self.tls and self.config.require_tls),
            ident="mailrep intake", enable_SMTPUTF8=True, decode_data=False,
        )

    async def start(self, host: str, port: int) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self.protocol, host=host, port=port, reuse_address=True)
        sock = self._server.sockets[0].getsockname()
        log.info("smtp intake listening on %s:%s", sock[0], sock[1])
        if self.config.fbl_open:
            log.warning("smtp: fbl_open: fbl@%s files complaints from ANY sender under feed account %r",
                        self.config.domain, self.config.fbl_account)
        return sock[0], sock[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        await self.handler.drain()
