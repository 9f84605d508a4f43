"""The policy service's TCP loop: read a request, answer from the current view, count volume.

    server = PolicyServer(view, cfg, counter=QueryCounter(flush, address=str))
    host, port = await server.start("127.0.0.1", 9998)
    server.swap(view)          # a new snapshot / new scores, atomically for the next request
    await server.stop()

One coroutine per Postfix connection, any number of requests on it (Postfix reuses its
connections). A malformed request is answered `action=DUNNO` and logged; a request larger
than `MAX_REQUEST` is answered `DUNNO` and the connection closed (its end cannot be found).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from mailrep.dns.querycount import QueryCounter
from mailrep.policyd.protocol import DUNNO_REPLY, END, MAX_REQUEST, MalformedRequest, parse, reply
from mailrep.policyd.verdict import PolicydConfig, View, verdict

log = logging.getLogger("mailrep.policyd")


class PolicyServer:
    def __init__(self, view: View, cfg: PolicydConfig, *, counter: QueryCounter | None = None) -> None:
        self.view = view
        self.cfg = cfg
        self.counter = counter
        self.requests = 0
        self.malformed = 0
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.Task[None]] = set()
        self._count_task: asyncio.Task[None] | None = None

    def swap(self, view: View) -> None:
        self.view = view

    def answer(self, block: bytes) -> bytes:
        """The reply to one request block (the pure path, also used by the benchmark)."""
        self.requests += 1
        try:
            attrs = parse(block)
        except MalformedRequest as e:
            self.malformed += 1
            log.warning("policyd: malformed request answered DUNNO: %s", e)
            return DUNNO_REPLY
        action, text, counted = verdict(attrs, self.view, self.cfg)
        if counted is not None and self.counter is not None:
            self.counter.count(counted)
        return reply(action, text)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._conns.add(task)
        try:
            while True:
                try:
                    block = await reader.readuntil(END)
                except asyncio.IncompleteReadError:
                    return  # Postfix closed the connection (idle or max use)
                except asyncio.LimitOverrunError:
                    self.malformed += 1
                    log.warning("policyd: request over %d bytes; DUNNO and closing", MAX_REQUEST)
                    writer.write(DUNNO_REPLY)
                    return
                writer.write(self.answer(block))
                if writer.transport.get_write_buffer_size() > 65536:
                    await writer.drain()
        except (ConnectionError, OSError):
            return
        finally:
            if task is not None:
                self._conns.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def start(self, host: str, port: int) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._handle, host, port, limit=MAX_REQUEST,
                                                  reuse_address=True)
        if self.counter is not None:
            self._count_task = asyncio.create_task(self.counter.run())
        sock = self._server.sockets[0].getsockname()
        return str(sock[0]), int(sock[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for t in list(self._conns):
                t.cancel()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
        if self._count_task is not None:
            self._count_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._count_task  # the counter flushes what it holds on the way out
