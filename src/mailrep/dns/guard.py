"""The per-reply checks of a public DNS node, run on UDP only and only when configured:
ACL, query budget, query counting, metrics, RRL, in that order.

    guard = Guard(acl=..., budget=..., rrl=..., counter=..., metrics=...)
    reply = guard.filter(client_packed, query, reply, snapshot, now)   # None = send nothing

With nothing configured the server never builds a Guard and runs D's plain loops; with a
guard the loops below answer exactly as before, then pass each reply through `filter`.
This is the reference: with the C fast path (the default) the server turns the guard into a
`mailrep.dns.shield.FastGuard`, the same decisions with their state in C.
TCP is not filtered by RRL (a slipped client retries there); the TCP path applies the
ACL only (see `tcp_filter`).
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import time
from collections.abc import Callable
from typing import Any

from mailrep.dns.acl import (
    ERROR_EXCESSIVE,
    ERROR_RESOLVER,
    Acl,
    Action,
    Budget,
    error_answer,
    refused,
)
from mailrep.dns.constants import HEADER_LEN
from mailrep.dns.metrics import DnsMetrics
from mailrep.dns.querycount import QueryCounter
from mailrep.dns.rrl import RateLimiter, Verdict, response_class, slip_reply
from mailrep.dns.udpbatch import (
    _IOVLEN64,
    _MM_WORDS32,
    _MM_WORDS64,
    _MSGLEN32,
    _NAME64,
    _NAMELEN32,
    MSG_WAITFORONE,
    NAME,
    SLOT,
    BatchLoop,
    _Mmsghdr,
    send_all,
)

AF_INET_LE = socket.AF_INET.to_bytes(2, "little")
AF_INET6_LE = socket.AF_INET6.to_bytes(2, "little")


def qlabels(query: bytes) -> tuple[bytes, ...] | None:
    """Lowercase question labels, None when the question does not parse."""
    pos, n = HEADER_LEN, len(query)
    out = []
    while pos < n:
        ln = query[pos]
        if ln == 0:
            return tuple(out)
        if ln > 63 or pos + 1 + ln > n:
            return None
        out.append(query[pos + 1 : pos + 1 + ln].lower())
        pos += 1 + ln
    return None


class Guard:
    def __init__(self, *, acl: Acl | None = None, budget: Budget | None = None,
                 rrl: RateLimiter | None = None, counter: QueryCounter | None = None,
                 count_zones: frozenset[str] = frozenset(), metrics: DnsMetrics | None = None) -> None:
        self.acl = acl if acl is not None and acl.rules else None
        self.budget = budget
        self.rrl = rrl
        self.counter = counter
        self.count_zones = count_zones
        self.metrics = metrics
        # the zone of each query (one dict lookup per label depth) for everything but RRL alone
        self.need_zone = (self.acl is not None or budget is not None or counter is not None
                          or metrics is not None)

    def zone_of(self, query: bytes, snapshot: Any) -> tuple[str | None, tuple[bytes, ...]]:
        """(zone name, labels below it) of the question when a check needs them, else (None, ())."""
        if self.need_zone:
            labels = qlabels(query)
            found = snapshot.find(labels) if labels is not None else None
            if found is not None:
                return found[0].name, found[1]
        return None, ()

    def filter(self, client: bytes, query: bytes, reply: bytes | None, snapshot: Any, now: float) -> bytes | None:
        if reply is None:
            return None
        zone_name, sub = self.zone_of(query, snapshot)
        m = self.metrics
        acl = self.acl
        if acl is not None:
            action = acl.action(client, zone_name)
            if action is not Action.ALLOW:
                if m is not None:
                    m.acl_action(action.value)
                if action is Action.IGNORE:
                    return None
                reply = refused(query) if action is Action.REFUSE else error_answer(query, ERROR_RESOLVER)
                if reply is None:
                    return None
        budget = self.budget
        if budget is not None and zone_name is not None and budget.over(client, now):
            if m is not None:
                m.acl_action("over_budget")
            reply = error_answer(query, ERROR_EXCESSIVE)
            if reply is None:
                return None
        counter = self.counter
        if counter is not None and zone_name is not None and sub and (
                not self.count_zones or zone_name in self.count_zones):
            counter.count(sub)
        rrl = self.rrl
        if rrl is not None:
            verdict = rrl.check(client, response_class(reply), now)
            if verdict is Verdict.DROP:
                return None
            if verdict is Verdict.SLIP:
                reply = slip_reply(reply)
        if m is not None:
            m.query(zone_name or "", reply[3] & 0xF)
        return reply


def client_of_name(name: bytes | bytearray | memoryview) -> bytes:
    """The packed source address in a struct sockaddr (AF_INET or AF_INET6)."""
    fam = bytes(name[0:2])
    if fam == AF_INET_LE:
        return bytes(name[4:8])
    if fam == AF_INET6_LE:
        return bytes(name[8:24])
    return b""


def client_of_addr(addr: tuple[Any, ...]) -> bytes:
    host = addr[0]
    try:
        return socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host.split("%")[0])
    except OSError:
        return b""


class GuardedBatchLoop(BatchLoop):
    """BatchLoop whose every reply passes the guard (cache hits too).

    run_guarded is a deliberate copy of BatchLoop.run's receive loop: the guard check sits
    inside the per-packet loop, and hooking it into run would cost every unguarded packet a
    call or a branch on the DNS hot path.
    """

    def run_guarded(self, responder: Callable[[], Any], failed: Callable[[bytes], bytes | None],
                    stopping: Callable[[], bool], guard: Guard) -> None:
        fd = self.sock.fileno()
        recvmmsg, sendmmsg = self.libc.recvmmsg, self.libc.sendmmsg
        rptr, sptr = ctypes.addressof(self.rmsg), ctypes.addressof(self.smsg)
        r32, s32, s64, siov64 = self.r32, self.s32, self.s64, self.siov64
        rview, sbuf, name_addr, batch = self.rview, self.sbuf, self.name_addr, self.batch
        names = memoryview(self.names)
        w32, w64, mmsize = _MM_WORDS32, _MM_WORDS64, ctypes.sizeof(_Mmsghdr)
        gfilter = guard.filter
        for i in range(batch):
            r32[i * w32 + _NAMELEN32] = NAME
        while not stopping():
            k = recvmmsg(fd, rptr, batch, MSG_WAITFORONE, None)
            if k <= 0:
                err = ctypes.get_errno()
                if k < 0 and err not in (errno.EINTR, errno.EAGAIN, errno.ENOMEM, errno.ECONNREFUSED):
                    if stopping():
                        return
                    raise OSError(err, os.strerror(err))
                continue
            now = time.monotonic()
            resp = responder()
            snap = resp.snapshot
            cget = resp.cache.get
            out = 0
            for i in range(k):
                base = i * w32
                off = i * SLOT
                n = r32[base + _MSGLEN32]
                namelen = r32[base + _NAMELEN32]
                r32[base + _NAMELEN32] = NAME
                if n < 12:
                    continue
                query = bytes(rview[off : off + n])
                tail = cget(query[2:])
                if tail is None:
                    try:
                        reply = resp.udp_miss(query)
                    except Exception:
                        reply = failed(query)
                elif tail:
                    reply = query[:2] + tail
                else:
                    continue
                client = client_of_name(names[i * NAME : i * NAME + 28])
                reply = gfilter(client, query, reply, snap, now)
                if reply is None or len(reply) > SLOT:
                    continue
                so = out * SLOT
                m = len(reply)
                sbuf[so : so + m] = reply
                siov64[out * 2 + _IOVLEN64] = m
                s64[out * w64 + _NAME64] = name_addr[i]
                s32[out * w32 + _NAMELEN32] = namelen
                out += 1
            send_all(sendmmsg, fd, sptr, mmsize, out)


def run_guarded(server: Any, sock: socket.socket, guard: Guard) -> None:
    """The UDP loop of `server` (a DnsServer) with every reply through the guard: batched where
    recvmmsg works (and the server wants batches), else one recvfrom per query."""
    responder: Callable[[], Any] = lambda: server._responder  # noqa: E731
    stopping: Callable[[], bool] = lambda: server._stopping  # noqa: E731
    if server.batch:
        try:
            loop = GuardedBatchLoop(sock)
        except OSError:
            pass
        else:
            loop.run_guarded(responder, server._failed, stopping, guard)
            return
    run_plain_guarded(sock, responder, server._failed, stopping, guard)


def run_plain_guarded(sock: socket.socket, responder: Callable[[], Any],
                      failed: Callable[[bytes], bytes | None], stopping: Callable[[], bool],
                      guard: Guard) -> None:
    """One recvfrom per query, every reply through the guard."""
    recvfrom, sendto = sock.recvfrom, sock.sendto
    while not stopping():
        try:
            data, addr = recvfrom(SLOT)  # as the batched loops: a longer query is cut -> FORMERR
        except OSError:
            if stopping():
                break
            continue
        if len(data) < 12:
            continue
        resp = responder()
        try:
            reply = resp.udp(data)
        except Exception:
            reply = failed(data)
        reply = guard.filter(client_of_addr(addr), data, reply, resp.snapshot, time.monotonic())
        if reply is not None:
            try:
                sendto(reply, addr)
            except OSError:
                pass
