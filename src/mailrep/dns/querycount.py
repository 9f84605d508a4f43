"""Query volume as evidence: how often each IP address is looked up in the blocklist.

    qc = QueryCounter(flush=store_counts, interval=60.0, max_keys=500_000)
    qc.count(sub_labels)            # per query, from the DNS loop: one dict update
    await qc.run()                  # flushes every interval (and on stop) through the callback

SpamCop counted a "reputation point" for each blocklist query about an IP: mail servers ask
about the hosts that send them mail, so the query rate measures a source's mail volume, and
the policy compares complaints against it (the volume denominator). Counting happens in
memory only; every `interval` seconds (or sooner when `max_keys` distinct addresses have
been seen, so memory stays bounded) the counts are handed to `flush(counts: dict[str, int])`
in a worker thread; the composition root (`mailrep.run`) hands a callback that stores them
through the intake service, as volume evidence. No per-query writes; `dns` never imports the
store.

Only well-formed address queries count: four decimal octets (IPv4) or 32 nibbles (IPv6) in
a counted zone; the RFC 5782 test points do not count. A v4-mapped IPv6 name counts for
the IPv4 address (`net`'s rule). Other doors count with the same
machinery by passing `address` (the key -> address text, or None): the policy service counts
client addresses (`QueryCounter(flush, address=str)`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable
from typing import Any

from mailrep.net import ipv6_text

log = logging.getLogger("mailrep.dns")

_TEST_POINTS = frozenset({"127.0.0.2", "127.0.0.1"})  # v4-mapped names come out as IPv4
_OCTETS = frozenset(str(i).encode() for i in range(256))
_NIBBLES = frozenset(b"0123456789abcdef"[i:i + 1] for i in range(16))


def queried_ip(sub: tuple[bytes, ...]) -> str | None:
    """The address a DNSBL query name asks about (labels below the zone), or None."""
    n = len(sub)
    if n == 4:
        if all(x in _OCTETS for x in sub):
            return b".".join(reversed(sub)).decode()
        return None
    if n == 32 and all(x.lower() in _NIBBLES for x in sub):
        return ipv6_text(int(b"".join(reversed(sub)), 16))
    return None


class QueryCounter:
    def __init__(self, flush: Callable[[dict[str, int]], None], *, interval: float = 60.0,
                 max_keys: int = 500_000, address: Callable[[Any], str | None] = queried_ip) -> None:
        self.flush_cb = flush
        self.address = address
        self.interval = interval
        self.max_keys = max_keys
        self.counts: dict[Hashable, int] = {}
        self.flushed = 0  # batches handed over
        self.failed = 0
        self.pending: list[dict[Hashable, int]] = []  # full tables waiting for the flusher
        # more counts taken by take(), by address text (the C fast path's), and full such
        # tables waiting for the flusher: each a call that makes the table
        self.sources: list[Callable[[], dict[str, int]]] = []
        self.pending_text: list[Callable[[], dict[str, int]]] = []
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def count(self, sub: Hashable) -> None:
        counts = self.counts
        counts[sub] = counts.get(sub, 0) + 1
        if len(counts) >= self.max_keys:
            self.counts = {}
            self.spill(counts)

    def spill(self, table: dict[Hashable, int]) -> None:
        """A full table for the flusher."""
        self.pending.append(table)
        self._wake_flusher()

    def spill_text(self, table: Callable[[], dict[str, int]]) -> None:
        """A full table by address text for the flusher, made when taken (the C fast path's:
        the UDP thread only copies it out)."""
        self.pending_text.append(table)
        self._wake_flusher()

    def _wake_flusher(self) -> None:
        if self._wake is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def take(self) -> dict[str, int]:
        """All counts so far, by address text, and start afresh."""
        tables, self.pending = self.pending, []
        tables.append(self.counts)
        self.counts = {}
        made, self.pending_text = self.pending_text, []
        made.extend(self.sources)
        texts = [make() for make in made]
        out: dict[str, int] = {}
        for t in tables:
            for sub, n in list(t.items()):  # one C-level copy: the UDP thread may still add one
                ip = self.address(sub)
                if ip is not None and ip not in _TEST_POINTS:
                    out[ip] = out.get(ip, 0) + n
        for text in texts:
            if not out:
                out = text  # the common case with the fast path: one table, taken as it is
                continue
            for ip, n in text.items():
                out[ip] = out.get(ip, 0) + n
        for ip in _TEST_POINTS:
            out.pop(ip, None)
        return out

    async def flush_now(self) -> int:
        batch = self.take()
        if not batch:
            return 0
        try:
            await asyncio.to_thread(self.flush_cb, batch)
        except Exception:
            self.failed += 1
            log.exception("dns: query counts could not be stored (%d addresses dropped)", len(batch))
            return 0
        self.flushed += 1
        return len(batch)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        try:
            while True:
                try:
                    await asyncio.wait_for(self._wake.wait(), self.interval)
                except TimeoutError:
                    pass
                self._wake.clear()
                await self.flush_now()
        finally:
            await self.flush_now()

