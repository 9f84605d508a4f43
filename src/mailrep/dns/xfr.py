"""Zone transfers over TCP: AXFR (RFC 5936) and IXFR (RFC 1995) of the zones being served.

    xfr = Transfers(allow=Networks(["127.0.0.0/8"]), keep=8, notify=[("127.0.0.1", 5353)])
    await xfr.observe(snapshot)                      # on every new snapshot (renders, diffs, NOTIFY)
    messages = await xfr.transfer(query, client_ip, snapshot)   # DNS messages to stream back

A transfer is allowed only to clients inside `allow` (none by default: REFUSED). The zone is
rendered by `mailrep.zones.axfr` once per serial in a worker thread; IXFR answers from the
last K deltas (`mailrep.zones.diff`) and falls back to a full AXFR-style answer when the
client's serial is older than the history. Errors become rcodes here: a malformed request is
FORMERR, a zone we do not serve NOTAUTH, a client outside the ACL REFUSED.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mailrep.dns.acl import Networks
from mailrep.dns.constants import HEADER_LEN, OPCODE_MASK, Flag, Rcode, RRClass, RRType
from mailrep.dns.wire import FormError, Reader, encode_name
from mailrep.zones.axfr import Record, apex_records, data_records, soa_record
from mailrep.zones.diff import ZoneHistory

log = logging.getLogger("mailrep.dns")

NOTAUTH = 9  # RFC 2136 rcode: not authoritative for the zone
MESSAGE_BUDGET = 16_000  # octets of records per transfer message (well under 64 KiB)
_HDR = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")
XFR_TYPES = frozenset((int(RRType.AXFR), int(RRType.IXFR)))


def is_xfr(query: bytes) -> bool:
    """Cheap test on a raw query: opcode QUERY, one question, type AXFR or IXFR."""
    if len(query) < HEADER_LEN + 5 or query[2] & 0x80 or (query[2] << 8 | query[3]) & OPCODE_MASK:
        return False
    pos = HEADER_LEN
    n = len(query)
    while pos < n and query[pos]:
        if query[pos] > 63:
            return False
        pos += 1 + query[pos]
    if pos + 5 > n:
        return False
    return (query[pos + 1] << 8 | query[pos + 2]) in XFR_TYPES


@dataclass
class _Request:
    qid: int
    flags: int
    qname: tuple[bytes, ...]
    qtype: int
    question: bytes  # raw question section (name + type + class), case preserved
    client_serial: int | None  # IXFR: the serial of the SOA in the authority section


def parse_request(query: bytes) -> _Request:
    rd = Reader(query)
    qid, flags, qd, an, ns, _ar = _HDR.unpack_from(query, 0) if len(query) >= HEADER_LEN else (0,) * 6
    if len(query) < HEADER_LEN or qd != 1:
        raise FormError("a transfer request has exactly one question")
    rd.pos = HEADER_LEN
    qname = rd.name()
    qtype = rd.u16()
    qclass = rd.u16()
    if qclass not in (int(RRClass.IN), int(RRClass.ANY)):
        raise FormError("transfer of a class other than IN")
    question = query[HEADER_LEN:rd.pos]
    serial = None
    if qtype == RRType.IXFR:
        for _ in range(an):
            rd.name()
            rd.take(rd.rr_fixed()[3])
        for _ in range(ns):
            rd.name()
            rtype, _c, _t, rdlen = rd.rr_fixed()
            body = rd.take(rdlen)
            if rtype == RRType.SOA:
                inner = Reader(body)
                inner.name()
                inner.name()
                serial = int.from_bytes(inner.take(4), "big")
        if serial is None:
            raise FormError("IXFR without an SOA in the authority section")
    return _Request(qid, flags, tuple(x.lower() for x in qname), qtype, question, serial)


@dataclass
class _ZoneState:
    serial: int = -1
    data: list[Record] = field(default_factory=list)
    history: ZoneHistory = field(default_factory=ZoneHistory)


class Transfers:
    """AXFR/IXFR for the zones of the current snapshot, plus NOTIFY on each new serial."""

    def __init__(self, *, allow: Networks | None = None, keep: int = 8,
                 notify: Sequence[tuple[str, int]] = (),
                 on_event: Callable[[str, str], None] | None = None) -> None:
        self.allow = allow or Networks([])
        self.keep = keep
        self.notify_targets = list(notify)
        self._on_event = on_event or (lambda kind, zone: None)  # metrics: ('axfr'|'ixfr'|..., zone)
        self.events: Counter[str] = Counter()  # transfers by kind, for logs and tests
        self._zones: dict[str, _ZoneState] = {}
        self.current: Any = None  # the newest snapshot observed (transfers use it, not a keyed view)
        self._lock = asyncio.Lock()
        self.notified: list[tuple[str, int, tuple[str, int], bool]] = []  # zone, serial, target, acked

    def on_event(self, kind: str, zone: str) -> None:
        self.events[kind] += 1
        log.info("dns: %s %s", kind, zone)
        self._on_event(kind, zone)

    async def observe(self, snapshot: Any) -> None:
        """Render every zone of a new snapshot, keep its delta, and NOTIFY the secondaries."""
        self.current = snapshot
        changed = await self._render(snapshot)
        if changed and self.notify_targets:
            from mailrep.dns.notify import notify_all

            for name, serial in changed:
                acks = await notify_all(name, serial, self.notify_targets)
                for target, ok in acks:
                    self.notified.append((name, serial, target, ok))
                    self.on_event("notify_ok" if ok else "notify_failed", name)

    async def _render(self, snapshot: Any) -> list[tuple[str, int]]:
        changed = []
        async with self._lock:
            for name, zone in snapshot.zones.items():
                st = self._zones.get(name)
                if st is None:
                    st = self._zones[name] = _ZoneState(history=ZoneHistory(self.keep))
                serial = zone.soa.serial
                if st.serial == serial:
                    continue
                data = await asyncio.to_thread(data_records, zone)
                st.history.add(serial, data)
                known = st.serial >= 0
                st.serial, st.data = serial, data
                if known:
                    changed.append((name, serial))
        return changed

    async def transfer(self, query: bytes, client: str, snapshot: Any) -> list[bytes]:
        """The messages answering one AXFR/IXFR request (one message for an error)."""
        try:
            req = parse_request(query)
        except (FormError, IndexError, struct.error):
            return [_error(query, int(Rcode.FORMERR))]
        if not self.allow.contains(client):
            self.on_event("refused", b".".join(req.qname).decode("ascii", "replace"))
            return [_error(query, int(Rcode.REFUSED), req)]
        name = b".".join(req.qname).decode("ascii", "replace")
        zone = snapshot.zones.get(name)
        if zone is None:
            return [_error(query, NOTAUTH, req)]
        await self._render(snapshot)
        st = self._zones[name]
        soa = soa_record(zone)
        origin = encode_name(zone.labels)
        if req.qtype == RRType.IXFR and req.client_serial is not None:
            chain = st.history.changes_since(req.client_serial)
            if chain is not None:
                self.on_event("ixfr", name)
                if not chain:  # already current: the SOA alone
                    return _messages(req, origin, [soa])
                body: list[Record] = [soa]
                for d in chain:
                    body.append(_soa_with_serial(soa, d.old_serial))
                    body.extend(d.deleted)
                    body.append(_soa_with_serial(soa, d.new_serial))
                    body.extend(d.added)
                body.append(soa)
                return _messages(req, origin, body)
        self.on_event("axfr", name)
        full = apex_records(zone) + st.data
        full.append(soa)
        return _messages(req, origin, full)


def _soa_with_serial(soa: Record, serial: int) -> Record:
    rdata = soa.rdata[:-20] + (serial & 0xFFFFFFFF).to_bytes(4, "big") + soa.rdata[-16:]
    return soa._replace(rdata=rdata)


def _error(query: bytes, rcode: int, req: _Request | None = None) -> bytes:
    qid = int.from_bytes(query[:2], "big") if len(query) >= 2 else 0
    flags = int(Flag.QR) | (rcode & 0xF)
    if req is None:
        return _HDR.pack(qid, flags, 0, 0, 0, 0)
    return _HDR.pack(qid, flags | (req.flags & int(Flag.RD)), 1, 0, 0, 0) + req.question


def _messages(req: _Request, origin: bytes, recs: list[Record]) -> list[bytes]:
    """Records packed into as few messages as fit; the question only in the first."""
    flags = int(Flag.QR) | int(Flag.AA) | (req.flags & int(Flag.RD))
    out: list[bytes] = []
    chunk: list[bytes] = []
    size = 0
    cache: dict[str, bytes] = {}

    def flush() -> None:
        first = not out
        head = _HDR.pack(req.qid, flags, 1 if first else 0, len(chunk), 0, 0)
        out.append(head + (req.question if first else b"") + b"".join(chunk))

    for r in recs:
        owner = cache.get(r.owner)
        if owner is None:
            owner = cache[r.owner] = (encode_name(tuple(x.encode("ascii") for x in r.owner.split(".")))[:-1]
                                      + origin) if r.owner else origin
        rr = owner + _RR.pack(r.rtype, int(RRClass.IN), r.ttl, len(r.rdata)) + r.rdata
        if chunk and size + len(rr) > MESSAGE_BUDGET:
            flush()
            chunk, size = [], 0
        chunk.append(rr)
        size += len(rr)
    flush()
    if len(cache) > 100_000:
        cache.clear()
    return out
