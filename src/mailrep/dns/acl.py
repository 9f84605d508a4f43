"""Who may ask what: per-zone client ACLs, a per-client query budget, keyed access.

    acl = Acl([Rule(Networks(["8.8.8.0/24"]), Action.ERROR)], zones=("bl.mailrep.test",))
    acl.action(client_ip_packed, zone_name) -> Action
    budget = Budget(limit=100_000, window=86400.0)      # queries per client /24 per window
    view = keyed_view(snapshot, {"bl.mailrep.test": {"k3y"}})   # answers only <key>.bl.<base>

Actions: `refuse` (REFUSED), `ignore` (silence), `error` (the RFC 5782 error answer
127.255.255.254, e.g. for big public resolvers), `allow`. A client over its budget gets
127.255.255.255. Both error codes lie in 127.255.255.0/24, which a zone can never use for a
listing (zones.build refuses such values), so they are never confused with a listing.

Keyed access works on the snapshot, not per query: the keyed zone is served under
`<key>.<zone>` for each known key (the same datasets, no copy) and no longer under its own
name, so an unknown key or no key at all finds no zone and gets REFUSED from the ordinary
answer path, and the question name, SOA and caching behave exactly as for any zone.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from mailrep.dns.constants import HEADER_LEN, POINTER_TO_QNAME, Flag, Rcode, RRClass, RRType
from mailrep.errors import BadInput

ERROR_RESOLVER = b"\x7f\xff\xff\xfe"  # 127.255.255.254: query through a public/open resolver
ERROR_EXCESSIVE = b"\x7f\xff\xff\xff"  # 127.255.255.255: excessive number of queries
ERROR_TTL = 60
_HDR = struct.Struct("!HHHHHH")
_MAPPED = b"\0" * 10 + b"\xff\xff"
_RR_PTR = struct.Struct("!HHHIH")


class Action(Enum):
    ALLOW = "allow"
    REFUSE = "refuse"
    IGNORE = "ignore"
    ERROR = "error"


class Networks:
    """A set of IPv4/IPv6 networks; membership of a packed address in a few dict lookups."""

    def __init__(self, nets: Iterable[str]) -> None:
        self.nets = [ipaddress.ip_network(n.strip(), strict=False) for n in nets]
        self._v4: dict[int, set[int]] = {}
        self._v6: dict[int, set[int]] = {}
        for n in self.nets:
            table = self._v4 if n.version == 4 else self._v6
            width = 32 if n.version == 4 else 128
            table.setdefault(n.prefixlen, set()).add(int(n.network_address) >> (width - n.prefixlen))
        self._v4_items = sorted(self._v4.items(), reverse=True)
        self._v6_items = sorted(self._v6.items(), reverse=True)

    def __bool__(self) -> bool:
        return bool(self.nets)

    def contains_packed(self, packed: bytes) -> bool:
        if len(packed) == 4:
            q, items, width = int.from_bytes(packed, "big"), self._v4_items, 32
        else:
            q, items, width = int.from_bytes(packed, "big"), self._v6_items, 128
            if packed[:12] == _MAPPED and self.contains_packed(packed[12:]):  # IPv4-mapped
                return True
        return any(q >> width - plen in keys for plen, keys in items)

    def contains(self, ip: str) -> bool:
        try:
            fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
            return self.contains_packed(socket.inet_pton(fam, ip.split("%")[0]))
        except OSError:
            return False


@dataclass(frozen=True)
class Rule:
    networks: Networks
    action: Action


class Acl:
    """Rules tried in order; the first whose networks hold the client decides. Per zone: a rule
    set applies to the zones named (all zones when `zones` is empty)."""

    def __init__(self, rules: Iterable[Rule], *, zones: Iterable[str] = (), default: Action = Action.ALLOW) -> None:
        self.rules = list(rules)
        self.zones = frozenset(z.rstrip(".").lower() for z in zones)
        self.default = default

    def action(self, client: bytes, zone: str | None) -> Action:
        if self.zones and (zone is None or zone not in self.zones):
            return Action.ALLOW
        for rule in self.rules:
            if rule.networks.contains_packed(client):
                return rule.action
        return self.default


class Budget:
    """Queries per client network (/24 IPv4, /56 IPv6) per fixed window; memory bounded by
    `max_clients` (when full, the window's counts restart: a flood of sources forgets, it does
    not grow)."""

    def __init__(self, limit: int, window: float = 86400.0, *, max_clients: int = 1_000_000) -> None:
        self.limit = limit
        self.window = window
        self.max_clients = max_clients
        self.counts: dict[bytes, int] = {}
        self.started = 0.0

    def over(self, client: bytes, now: float) -> bool:
        if now - self.started >= self.window or len(self.counts) >= self.max_clients:
            self.counts.clear()
            self.started = now
        key = client[:3] if len(client) == 4 else client[:7]
        n = self.counts.get(key, 0) + 1
        self.counts[key] = n
        return n > self.limit


def question_end(query: bytes) -> int:
    """Offset just past the question's type and class; -1 when it does not parse."""
    pos, n = HEADER_LEN, len(query)
    while pos < n:
        ln = query[pos]
        if ln == 0:
            end = pos + 5
            return end if end <= n else -1
        if ln > 63:
            return -1
        pos += 1 + ln
    return -1


def refused(query: bytes) -> bytes | None:
    end = question_end(query)
    if len(query) < HEADER_LEN or query[2] & 0x80:
        return None
    flags = int(Flag.QR) | (query[2] << 8 & int(Flag.RD)) | int(Rcode.REFUSED)
    if end < 0:
        return query[:2] + _HDR.pack(0, flags, 0, 0, 0, 0)[2:]
    return query[:2] + _HDR.pack(0, flags, 1, 0, 0, 0)[2:] + query[HEADER_LEN:end]


def error_answer(query: bytes, code: bytes) -> bytes | None:
    """The RFC 5782 error answer: A `code` (127.255.255.254/.255) for A/ANY questions, a TXT
    saying why for TXT, REFUSED for anything else."""
    end = question_end(query)
    if end < 0 or query[2] & 0x80:
        return refused(query)
    qtype = query[end - 4] << 8 | query[end - 3]
    flags = int(Flag.QR) | int(Flag.AA) | (query[2] << 8 & int(Flag.RD))
    if qtype in (RRType.A, RRType.ANY):
        rr = _RR_PTR.pack(POINTER_TO_QNAME, int(RRType.A), int(RRClass.IN), ERROR_TTL, 4) + code
    elif qtype == RRType.TXT:
        text = (b"Query refused: public/open resolver" if code == ERROR_RESOLVER
                else b"Query refused: excessive number of queries")
        rdata = bytes((len(text),)) + text
        rr = _RR_PTR.pack(POINTER_TO_QNAME, int(RRType.TXT), int(RRClass.IN), ERROR_TTL, len(rdata)) + rdata
    else:
        return refused(query)
    return query[:2] + _HDR.pack(0, flags, 1, 1, 0, 0)[2:] + query[HEADER_LEN:end] + rr


def keyed_view(snapshot: Any, keys: Mapping[str, Iterable[str]]) -> Any:
    """A snapshot serving each keyed zone only as `<key>.<zone>` for its known keys."""
    if not keys:
        return snapshot
    from mailrep.zones.zone import Snapshot, Zone

    zones = []
    for name, zone in snapshot.zones.items():
        ks = keys.get(name)
        if ks is None:
            zones.append(zone)
            continue
        for key in ks:
            k = key.strip().lower()
            if not k or "." in k or len(k) > 63:
                raise BadInput(f"bad access key {key!r} for {name}")
            zones.append(Zone(f"{k}.{name}", soa=zone.soa, ns=zone.ns, ns_ttl=zone.ns_ttl,
                              ttl=zone.ttl, datasets=zone.datasets))
    return Snapshot(zones, serial=snapshot.serial, warnings=snapshot.warnings, meta=snapshot.meta)
