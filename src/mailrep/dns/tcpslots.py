"""DNS-over-TCP connection slots: a bounded number in all, a smaller one per client network,
and when all are taken the longest-idle connection makes room for a newcomer.

    slots = TcpSlots(total=256, per_network=16, clock=time.monotonic)
    admitted, evicted = slots.open(conn, client_network(packed_source))
    if evicted is not None: close it
    slots.busy(conn) ... slots.idle(conn)     # around answering each query
    slots.close(conn)                         # when it ends (evicted or not; idempotent)

A client network is the /24 (IPv4) or /56 (IPv6) of the source, the prefixes RRL and the
query budget use; an IPv4-mapped IPv6 source (a dual-stack listener) counts as IPv4. A
newcomer whose network already holds `per_network` connections is refused. Otherwise, when
all `total` slots are taken, the connection waiting longest for its next query is closed
(one still writing its last replies is never chosen): a client holding idle connections can
no longer keep every other client off TCP. Only when every connection is busy writing is a
newcomer refused. Pure bookkeeping: the caller closes what this names.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterator
from typing import Generic, TypeVar

Conn = TypeVar("Conn", bound=Hashable)

PER_NETWORK_DEFAULT = 16  # `mailrep dns --max-tcp-per-client`, `[dns] max_tcp_per_client`
IPV4_NETWORK_OCTETS = 3  # /24
IPV6_NETWORK_OCTETS = 7  # /56
_V4_MAPPED = bytes(10) + b"\xff\xff"  # ::ffff:a.b.c.d


def client_network(packed: bytes) -> bytes:
    """The client network of a packed source address (4 or 16 octets)."""
    if len(packed) == 16 and packed[:12] == _V4_MAPPED:
        packed = packed[12:]
    return packed[:IPV4_NETWORK_OCTETS] if len(packed) == 4 else packed[:IPV6_NETWORK_OCTETS]


class TcpSlots(Generic[Conn]):
    """Which TCP connections hold a slot, their networks, and since when each has been idle."""

    def __init__(self, total: int, per_network: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self.per_network = per_network
        self.clock = clock
        self._net: dict[Conn, bytes] = {}
        self._idle_since: dict[Conn, float] = {}  # only the connections waiting for a query
        self._per_net: Counter[bytes] = Counter()
        self.refused = 0  # newcomers turned away
        self.evicted = 0  # idle connections closed to make room

    def __len__(self) -> int:
        return len(self._net)

    def __iter__(self) -> Iterator[Conn]:
        return iter(list(self._net))

    def held_by(self, net: bytes) -> int:
        return self._per_net[net]

    def open(self, conn: Conn, net: bytes) -> tuple[bool, Conn | None]:
        """Give `conn` (from client network `net`) a slot, idle from now: (admitted, the
        connection to close to make room or None)."""
        if self._per_net[net] >= self.per_network:
            self.refused += 1
            return False, None
        victim = None
        if len(self._net) >= self.total:
            victim = self.longest_idle()
            if victim is None:
                self.refused += 1
                return False, None
            self.close(victim)
            self.evicted += 1
        self._net[conn] = net
        self._per_net[net] += 1
        self._idle_since[conn] = self.clock()
        return True, victim

    def longest_idle(self) -> Conn | None:
        since = self._idle_since
        return min(since, key=since.__getitem__) if since else None

    def busy(self, conn: Conn) -> None:
        """`conn` has a query to answer: it cannot be evicted until it is idle again."""
        self._idle_since.pop(conn, None)

    def idle(self, conn: Conn) -> None:
        """`conn` has sent its replies and waits for its next query."""
        if conn in self._net:
            self._idle_since[conn] = self.clock()

    def close(self, conn: Conn) -> None:
        net = self._net.pop(conn, None)
        if net is None:
            return
        self._idle_since.pop(conn, None)
        self._per_net[net] -= 1
        if not self._per_net[net]:
            del self._per_net[net]
