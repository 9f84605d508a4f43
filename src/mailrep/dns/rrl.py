"""Response Rate Limiting: token buckets per client network and response class.

    rrl = RateLimiter(RrlConfig(answers=200, negative=400, errors=20, window=5, slip=2))
    rrl.check(client_packed, response_class(reply), now) -> Verdict.PASS | DROP | SLIP

A client network is the /24 (IPv4) or /56 (IPv6) of the source address. Each (network,
class) pair has a bucket holding `window` seconds of credit at its class's rate; a reply
without credit is *limited*: every `slip`-th limited reply goes out as an empty TC=1 reply
(a real resolver retries over TCP, which RRL does not limit), the others are dropped.

Defaults suit a DNSBL: almost every answer is NXDOMAIN (not listed), and a big resolver's
NXDOMAIN stream is its normal traffic, so negative answers get the highest rate (BIND's
5/s `nxdomains-per-second` would throttle honest mail servers); keys do not include the
query name (every DNSBL query is a different name; per-name keys only cost memory).

Memory is bounded: at most `max_buckets` buckets; when full, the oldest buckets that are not
in debt are evicted (a flood from random source addresses churns through cheap buckets while
the networks being limited keep theirs). `log_only` counts what would be limited and lets
everything pass. Exempt networks are never limited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from itertools import islice

from mailrep.dns.acl import Networks


class Verdict(IntEnum):
    PASS = 0
    DROP = 1
    SLIP = 2


class RClass(IntEnum):
    """Response classes limited separately."""

    ANSWER = 0  # NOERROR with records
    NEGATIVE = 1  # NXDOMAIN or NODATA
    ERROR = 2  # REFUSED, FORMERR, SERVFAIL, ...


@dataclass
class RrlConfig:
    answers: float = 200.0  # responses per second per client network
    negative: float = 400.0  # NXDOMAIN/NODATA per second (DNSBL traffic is mostly these)
    errors: float = 20.0
    window: float = 5.0  # seconds of credit a bucket holds
    slip: int = 2  # every Nth limited reply is TC=1 (0 = never, 1 = always)
    ipv4_prefix: int = 24
    ipv6_prefix: int = 56
    exempt: list[str] = field(default_factory=list)
    log_only: bool = False
    max_buckets: int = 100_000


def response_class(reply: bytes) -> RClass:
    rcode = reply[3] & 0xF
    if rcode == 0:
        return RClass.ANSWER if reply[6] or reply[7] else RClass.NEGATIVE
    if rcode == 3:
        return RClass.NEGATIVE
    return RClass.ERROR


def slip_reply(reply: bytes) -> bytes:
    """An empty truncated reply: header (TC=1, counts cleared but QDCOUNT) and the question."""
    pos, n = 12, len(reply)
    while pos < n and reply[pos]:
        pos += 1 + reply[pos]
    end = pos + 5
    if reply[4:6] != b"\x00\x01" or end > n:
        return reply[:2] + bytes((reply[2] | 0x02, reply[3])) + b"\x00" * 8
    return reply[:2] + bytes((reply[2] | 0x02, reply[3])) + b"\x00\x01" + b"\x00" * 6 + reply[12:end]


class RateLimiter:
    __slots__ = ("buckets", "cfg", "depth", "drops", "evictions", "exempt", "limited", "m4", "m6",
                 "rates", "slips", "would_limit")

    def __init__(self, cfg: RrlConfig | None = None) -> None:
        self.cfg = cfg = cfg or RrlConfig()
        self.rates = (cfg.answers, cfg.negative, cfg.errors)
        self.depth = tuple(r * cfg.window for r in self.rates)
        self.exempt = Networks(cfg.exempt)
        self.m4 = cfg.ipv4_prefix // 8
        self.m6 = cfg.ipv6_prefix // 8
        # key -> [tokens, last time, limited count]
        self.buckets: dict[bytes, list[float]] = {}
        self.drops = 0
        self.slips = 0
        self.limited = 0
        self.would_limit = 0  # log-only mode
        self.evictions = 0

    @property
    def size(self) -> int:
        """Buckets held."""
        return len(self.buckets)

    def key(self, client: bytes, rclass: int) -> bytes:
        return (client[: self.m4] if len(client) == 4 else client[: self.m6]) + bytes((rclass,))

    def check(self, client: bytes, rclass: int, now: float) -> Verdict:
        rate = self.rates[rclass]
        if rate <= 0:
            return Verdict.PASS
        k = self.key(client, rclass)
        b = self.buckets.get(k)
        if b is None:
            if self.exempt and self.exempt.contains_packed(client):
                return Verdict.PASS
            if len(self.buckets) >= self.cfg.max_buckets:
                self._evict()
            self.buckets[k] = [self.depth[rclass] - 1.0, now, 0.0]
            return Verdict.PASS
        tokens = b[0] + (now - b[1]) * rate
        depth = self.depth[rclass]
        if tokens > depth:
            tokens = depth
        b[1] = now
        if tokens >= 1.0:
            b[0] = tokens - 1.0
            return Verdict.PASS
        b[0] = tokens
        if self.exempt and self.exempt.contains_packed(client):
            return Verdict.PASS
        if self.cfg.log_only:
            self.would_limit += 1
            return Verdict.PASS
        self.limited += 1
        b[2] += 1
        slip = self.cfg.slip
        if slip and int(b[2]) % slip == 0:
            self.slips += 1
            return Verdict.SLIP
        self.drops += 1
        return Verdict.DROP

    def _evict(self) -> None:
        """Free a quarter of the table: oldest first, keeping (moving to the end) buckets in debt."""
        target = max(1, self.cfg.max_buckets // 4)
        buckets = self.buckets
        freed = 0
        kept: list[tuple[bytes, list[float]]] = []
        for k in list(islice(buckets, target * 2)):
            b = buckets.pop(k)
            if b[0] < 1.0 and len(kept) < target:
                kept.append((k, b))  # being limited right now: keep it
            else:
                freed += 1
        for k, b in kept:
            buckets[k] = b
        self.evictions += freed
