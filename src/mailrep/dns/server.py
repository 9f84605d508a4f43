"""The DNS server: UDP in a tight synchronous loop on its own thread, TCP on asyncio.

    server = DnsServer(snapshot)            # checks the RFC 5782 test points, or raises
    host, port = await server.start("127.0.0.1", 0)
    server.swap(new_snapshot)               # atomic: build the responder, then swap the reference
    await server.stop()

The loops only move bytes; `Responder` (answer.py) decides everything, except that the
batched UDP loop runs in C (mailrep.dns.fastpath) when the extension is built: a
per-snapshot Table answers the common IPv4 A/TXT query there, byte for byte as the
responder would, and hands every other query to the responder; a configured guard (ACL,
budget, counting, RRL, metrics) then runs in C as well (mailrep.dns.shield). A swap replaces one
reference (the responder, and the (Table, responder) pair the C loop reads once per burst),
so a query is answered wholly from the old or wholly from the new snapshot and serving never
pauses. Any exception escaping the responder becomes SERVFAIL here (the one
place where this front door turns errors into wire codes); nothing kills a loop.

Hostile input: a UDP datagram is read up to 4096 octets (udpbatch.SLOT) in every loop, so a
longer one is answered as its cut first part (FORMERR, the records it announces are cut);
under 12 octets there is no header and no reply. Over TCP a length under 12 closes the
connection, as does a length whose octets do not arrive within `tcp_idle`. TCP slots are
shared out by mailrep.dns.tcpslots: `max_tcp` in all, `max_tcp_per_client` per client
network, and a newcomer closes the longest-idle connection rather than being refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import threading
from collections.abc import Callable
from typing import Any

from mailrep.dns import fastpath
from mailrep.dns.answer import Responder, servfail
from mailrep.dns.constants import HEADER_LEN, TCP_MAX
from mailrep.dns.guard import client_of_addr
from mailrep.dns.tcpslots import PER_NETWORK_DEFAULT, TcpSlots, client_network
from mailrep.dns.testpoints import check_snapshot
from mailrep.dns.udpbatch import SLOT, BatchLoop
from mailrep.dns.xfr import is_xfr  # zone transfers on the TCP path

log = logging.getLogger("mailrep.dns")

UDP_RCVBUF = 4 << 20


class DnsServer:
    """One DNS listener (UDP + TCP on the same address) serving one swappable snapshot."""

    def __init__(self, snapshot: Any, *, tcp_idle: float = 10.0, max_tcp: int = 256,
                 max_tcp_per_client: int = PER_NETWORK_DEFAULT, reuse_port: bool = False,
                 cache_size: int = 100_000, batch: bool = True,
                 responder: Callable[[Any], Responder] | None = None, fast: bool = True) -> None:
        self.tcp_idle = tcp_idle
        self.tcp_slots: TcpSlots[asyncio.Task[Any]] = TcpSlots(max_tcp, max_tcp_per_client)
        self.batch = batch  # recvmmsg/sendmmsg where available
        self.fast = fast and fastpath.AVAILABLE  # the batched loop in C (needs batch)
        self.reuse_port = reuse_port
        self._make = responder or (lambda snap: Responder(snap, cache_size=cache_size))
        check_snapshot(snapshot)
        self._guard: Any = None
        self._fast_guard: Any = None  # the guard with its state in C (mailrep.dns.shield)
        self.clock: Callable[[], float] | None = None  # the C loop's `now` (None: monotonic)
        self._responder: Responder = self._make(snapshot)
        self._state = self._fast_state(self._responder)
        self._udp: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._tcp: asyncio.AbstractServer | None = None
        self._stopping = False
        self.address: tuple[str, int] | None = None
        self.errors = 0  # replies turned into SERVFAIL
        # Hooks set by mailrep.dns.node.Node.attach: per-reply UDP guard (ACL, RRL,
        # counting, metrics; the `guard` property), zone transfers, and callbacks told of every
        # swapped-in snapshot
        self.xfr: Any = None
        self.on_swap: list[Callable[[Any], None]] = []

    @property
    def guard(self) -> Any:
        return self._guard

    @guard.setter
    def guard(self, guard: Any) -> None:
        """Set before start(). With the C loop the guard's state moves into C (a FastGuard)."""
        self._guard = guard
        self._fast_guard = None
        if guard is not None and self.batch and self.fast:
            from mailrep.dns.shield import fast_guard

            self._fast_guard = fast_guard(guard)
        self._state = self._fast_state(self._responder)

    @property
    def snapshot(self) -> Any:
        return self._responder.snapshot

    def swap(self, snapshot: Any) -> None:
        """Serve `snapshot` from now on; raises (and keeps the current one) if it fails the checks."""
        check_snapshot(snapshot)
        responder = self._make(snapshot)
        state = self._fast_state(responder)
        self._responder, self._state = responder, state
        log.info("dns: serving snapshot serial %s", getattr(snapshot, "serial", "?"))
        for callback in self.on_swap:  # transfers (render, IXFR delta, NOTIFY), metrics
            callback(snapshot)

    def _fast_state(self, responder: Responder) -> tuple[Any, Callable[..., bytes | None]]:
        """What the C loop reads once per burst: the snapshot's Table (None: answer all in
        Python) and the responder for the queries it hands back; one object, swapped whole.
        Only a plain Responder's answers are known to the Table: a subclass may answer
        otherwise, so it answers everything itself. With a guard, what C hands back is
        answered and guarded here: udp(client, query, now)."""
        plain = type(responder) is Responder
        fg = self._fast_guard
        zone_info = fg.zone_info if fg is not None else None
        table = fastpath.table_for(responder.snapshot, zone_info) if self.fast and plain else None
        if fg is None:
            return table, responder.udp
        udp, snap, gfilter, failed = responder.udp, responder.snapshot, fg.filter, self._failed

        def guarded(client: bytes, query: bytes, now: float) -> bytes | None:
            try:
                reply = udp(query)
            except Exception:
                reply = failed(query)
            return gfilter(client, query, reply, snap, now)

        return table, guarded

    @property
    def fast_table(self) -> Any:
        """The C Table now serving (None when every query goes to the responder)."""
        return self._state[0]

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        for attempt in range(20):
            udp = self._socket(family, socket.SOCK_DGRAM)
            try:
                udp.bind((host, port))
                bound = udp.getsockname()[1]
                tcp = self._socket(family, socket.SOCK_STREAM)
                try:
                    tcp.bind((host, bound))
                except OSError as e:
                    tcp.close()
                    if port == 0 and e.errno == errno.EADDRINUSE and attempt < 19:
                        udp.close()
                        continue  # the ephemeral UDP port is taken for TCP: pick another
                    raise
            except BaseException:
                udp.close()
                raise
            break
        tcp.listen(128)
        tcp.setblocking(False)
        self._udp = udp
        self.address = (host, bound)
        self._tcp = await asyncio.start_server(self._tcp_client, sock=tcp)
        self._thread = threading.Thread(target=self._udp_loop, name=f"dns-udp-{bound}", daemon=True)
        self._thread.start()
        log.info("dns: listening on %s port %d (udp+tcp)", host, bound)
        return self.address

    def _socket(self, family: int, kind: int) -> socket.socket:
        s = socket.socket(family, kind)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if self.reuse_port:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if kind == socket.SOCK_DGRAM:
            with contextlib.suppress(OSError):
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RCVBUF)
        return s

    async def stop(self) -> None:
        self._stopping = True
        if self._tcp is not None:
            self._tcp.close()
            tasks: list[Any] = list(self.tcp_slots)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._tcp.wait_closed()
            self._tcp = None
        if self._udp is not None and self._thread is not None:
            self._wake_udp()
            await asyncio.to_thread(self._thread.join, 5)
            self._udp.close()
            self._udp = None
            self._thread = None

    def _wake_udp(self) -> None:
        """Unblock recvfrom with one empty datagram to ourselves."""
        assert self._udp is not None
        addr = self._udp.getsockname()
        with socket.socket(self._udp.family, socket.SOCK_DGRAM) as s, contextlib.suppress(OSError):
            s.sendto(b"", addr[:2])

    # --- UDP: a tight blocking loop -------------------------------------------------------

    def _failed(self, data: bytes) -> bytes | None:
        """Called from inside an `except` block: log, count, answer SERVFAIL."""
        self.errors += 1
        log.exception("dns: answering a UDP query failed")
        return servfail(data)

    def _udp_loop(self) -> None:
        assert self._udp is not None
        sock = self._udp
        fg = self._fast_guard
        if self.batch and self.fast and fastpath.usable(sock):
            fastpath.serve(sock, lambda: self._state, self._failed, lambda: self._stopping,
                           shield=fg.shield if fg is not None else None, clock=self.clock)
            return
        if self.guard is not None:  # ACL/RRL/counting/metrics: only when configured
            from mailrep.dns.guard import run_guarded

            run_guarded(self, sock, self.guard)
            return
        if self.batch:
            fastpath.note_missing()
            try:
                loop = BatchLoop(sock)
            except OSError as e:
                log.info("dns: no batched UDP I/O (%s); one recvfrom per query", e)
            else:
                loop.run(lambda: self._responder, self._failed, lambda: self._stopping)
                return
        recvfrom, sendto = sock.recvfrom, sock.sendto
        while not self._stopping:
            try:
                data, addr = recvfrom(SLOT)  # a longer datagram is cut here, as in the batched loops
            except OSError:
                if self._stopping:
                    break
                continue
            try:
                reply = self._responder.udp(data)
            except Exception:
                self.errors += 1
                log.exception("dns: answering a UDP query failed")
                reply = servfail(data)
            if reply is not None:
                try:
                    sendto(reply, addr)
                except OSError:
                    pass

    # --- TCP: length-prefixed, several queries per connection, idle timeout ---------------

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None  # asyncio runs each stream handler as a task
        slots = self.tcp_slots
        peer = writer.get_extra_info("peername") or ("",)
        admitted, evicted = slots.open(task, client_network(client_of_addr(peer)))
        if evicted is not None:
            evicted.cancel()  # the longest-idle connection makes room (mailrep.dns.tcpslots)
        if not admitted:
            writer.close()
            return
        try:
            while True:
                size = int.from_bytes(await asyncio.wait_for(reader.readexactly(2), self.tcp_idle))
                if size < HEADER_LEN:
                    break  # no message fits in that length, and a stream cannot skip it
                query = await asyncio.wait_for(reader.readexactly(size), self.tcp_idle)
                slots.busy(task)
                if self.xfr is not None and is_xfr(query):  # AXFR/IXFR (mailrep.dns.xfr)
                    for message in await self.xfr.transfer(query, peer[0], self._xfr_snapshot()):
                        writer.write(len(message).to_bytes(2, "big") + message)
                    await writer.drain()
                    slots.idle(task)
                    continue
                reply = self.answer_tcp(query)
                if reply is None:
                    break  # not a query we answer: a stream cannot skip it quietly
                for message in [reply] if isinstance(reply, bytes) else reply:
                    writer.write(len(message).to_bytes(2, "big") + message)
                # a client that does not read its replies holds its slot no longer than an idle one
                await asyncio.wait_for(writer.drain(), self.tcp_idle)
                slots.idle(task)
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            slots.close(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _xfr_snapshot(self) -> Any:
        """The snapshot as loaded (not a keyed view of it) for zone transfers."""
        return getattr(self.xfr, "current", None) or self.snapshot

    def answer_tcp(self, query: bytes) -> bytes | list[bytes] | None:
        """The reply to one TCP query. A subclass (zone transfers) may return several
        messages for one query, as a list; None closes the connection."""
        try:
            reply = self._responder.answer(query, tcp=True)
        except Exception:
            self.errors += 1
            log.exception("dns: answering a TCP query failed")
            reply = servfail(query)
        if reply is not None and len(reply) > TCP_MAX:
            reply = servfail(query)
        return reply
