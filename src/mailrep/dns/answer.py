"""Answering: one query packet in, one reply packet (or silence) out. Pure, no I/O.

    answer(query, snapshot) -> bytes | None

`Responder(snapshot)` is the same thing with per-snapshot memos (encoded SOA/NS, a bounded
reply cache keyed by the query bytes after the ID); the server swaps whole responders, so a
swap also drops every memo that belonged to the old snapshot. Errors become rcodes here and
only here: a header that does not parse is silence, any other FormError is FORMERR.

The zones contract (mailrep.zones.zone) is used duck-typed through the Protocols below:
`snapshot.find(labels) -> (zone, sub) | None` and `zone.lookup(sub) -> Hit | ENT | None`.
"""

from __future__ import annotations

import struct
from typing import Any, Protocol

from mailrep.dns.constants import (
    EDNS_DO,
    EDNS_VERSION,
    HEADER_LEN,
    MAX_TXT_STRING,
    OPCODE_MASK,
    POINTER_TO_QNAME,
    TCP_MAX,
    UDP_CLASSIC,
    UDP_SERVER_MAX,
    Flag,
    Opcode,
    Rcode,
    RRClass,
    RRType,
)
from mailrep.dns.wire import FormError, Reader, text_labels

_HEADER = struct.Struct("!HHHHHH")
_RR_PTR = struct.Struct("!HHHIH")  # pointer owner, type, class, ttl, rdlength
_SOA_TAIL = struct.Struct("!IIIII")
_OPT = struct.Struct("!BHHIH")  # root owner, type, class=payload size, ttl=ext rcode/version/flags, rdlength

_QUERY_FLAGS_KEPT = OPCODE_MASK | Flag.RD | Flag.CD
_NOT_IMPLEMENTED_TYPES = frozenset({RRType.AXFR, RRType.IXFR, RRType.MAILA, RRType.MAILB})
_IN = int(RRClass.IN)
_ANYCLASS = int(RRClass.ANY)
_A, _TXT, _ANY, _SOA, _NS, _OPT_T = (int(RRType.A), int(RRType.TXT), int(RRType.ANY),
                                     int(RRType.SOA), int(RRType.NS), int(RRType.OPT))


class ZoneLike(Protocol):
    labels: tuple[bytes, ...]
    soa: Any
    ns: tuple[str, ...]
    ns_ttl: int

    def lookup(self, sub: tuple[bytes, ...]) -> Any: ...


class SnapshotLike(Protocol):
    serial: int

    def find(self, qlabels: tuple[bytes, ...]) -> tuple[ZoneLike, tuple[bytes, ...]] | None: ...


def answer(query: bytes, snapshot: SnapshotLike, *, tcp: bool = False) -> bytes | None:
    """The reply to one query packet, or None for silence (no parsable header, or a response)."""
    return Responder(snapshot, cache_size=0).answer(query, tcp=tcp)


def split_txt(txt: bytes) -> bytes:
    """TXT rdata: the text as <=255-byte character-strings (an empty text is one empty string)."""
    if not txt:
        return b"\x00"
    out = bytearray()
    for i in range(0, len(txt), MAX_TXT_STRING):
        chunk = txt[i : i + MAX_TXT_STRING]
        out.append(len(chunk))
        out += chunk
    return bytes(out)


class _ZoneWire:
    """Encoded pieces of one zone's apex records, relative to where the apex sits in the reply."""

    __slots__ = ("mname", "neg_ttl", "ns_names", "ns_ttl", "origin", "rname", "soa_tail", "soa_ttl")

    def __init__(self, zone: ZoneLike) -> None:
        soa = zone.soa
        self.origin = tuple(zone.labels)
        self.mname = text_labels(soa.mname)
        self.rname = text_labels(soa.rname)
        self.soa_tail = _SOA_TAIL.pack(soa.serial & 0xFFFFFFFF, soa.refresh, soa.retry, soa.expire,
                                       soa.minimum)
        self.soa_ttl = soa.ttl
        self.neg_ttl = min(soa.ttl, soa.minimum)
        self.ns_names = tuple(text_labels(n) for n in zone.ns)
        self.ns_ttl = zone.ns_ttl

    def name_at(self, labels: tuple[bytes, ...], apex_ptr: int) -> bytes:
        """A name, compressed against the longest suffix of the origin it shares."""
        origin = self.origin
        delta = 0
        for j in range(len(origin)):
            tail = origin[j:]
            if len(labels) > len(tail) and labels[len(labels) - len(tail) :] == tail:
                head = labels[: len(labels) - len(tail)]
                return (b"".join(bytes((len(x),)) + x for x in head)
                        + struct.pack("!H", apex_ptr + delta))
            if labels == tail:
                return struct.pack("!H", apex_ptr + delta)
            delta += len(origin[j]) + 1
        return b"".join(bytes((len(x),)) + x for x in labels) + b"\x00"

    def soa_rr(self, apex_ptr: int, ttl: int) -> bytes:
        rdata = self.name_at(self.mname, apex_ptr) + self.name_at(self.rname, apex_ptr) + self.soa_tail
        return _RR_PTR.pack(apex_ptr, _SOA, _IN, ttl, len(rdata)) + rdata

    def ns_rrs(self, apex_ptr: int) -> list[bytes]:
        out = []
        for name in self.ns_names:
            rdata = self.name_at(name, apex_ptr)
            out.append(_RR_PTR.pack(apex_ptr, _NS, _IN, self.ns_ttl, len(rdata)) + rdata)
        return out


class Responder:
    """Answers queries from one immutable snapshot. Replace it (don't mutate it) to swap data."""

    __slots__ = ("_cache", "_cache_size", "_zones", "snapshot")

    def __init__(self, snapshot: SnapshotLike, *, cache_size: int = 100_000) -> None:
        self.snapshot = snapshot
        self._zones: dict[int, _ZoneWire] = {}
        self._cache: dict[bytes, bytes | None] = {}
        self._cache_size = cache_size

    def udp(self, query: bytes) -> bytes | None:
        """answer() for UDP through the reply cache (keyed by everything after the ID)."""
        key = query[2:]
        cache = self._cache
        tail = cache.get(key, b"")
        if tail == b"":
            reply = self.answer(query)
            if self._cache_size:
                if len(cache) >= self._cache_size:
                    cache.clear()
                cache[key] = None if reply is None else reply[2:]
            return reply
        return None if tail is None else query[:2] + tail

    def _wire(self, zone: ZoneLike) -> _ZoneWire:
        zw = self._zones.get(id(zone))
        if zw is None:
            zw = self._zones[id(zone)] = _ZoneWire(zone)
        return zw

    def answer(self, query: bytes, *, tcp: bool = False) -> bytes | None:
        if len(query) < HEADER_LEN:
            return None
        qid, flags, qd, an, ns, ar = _HEADER.unpack_from(query, 0)
        if flags & Flag.QR:
            return None
        kept = flags & _QUERY_FLAGS_KEPT
        if flags & OPCODE_MASK != Opcode.QUERY:
            return _HEADER.pack(qid, Flag.QR | kept | Rcode.NOTIMP, 0, 0, 0, 0)
        try:
            if qd != 1:
                raise FormError("QDCOUNT must be 1")
            rd = Reader(query, HEADER_LEN)
            qlabels = rd.name()
            qtype = rd.u16()
            qclass = rd.u16()
            qend = rd.pos
            edns = self._edns(rd, an, ns, ar)
        except FormError:
            return _HEADER.pack(qid, Flag.QR | kept | Rcode.FORMERR, 0, 0, 0, 0)
        question = query[HEADER_LEN:qend]
        if edns is not None and edns[1] != EDNS_VERSION:
            return self._finish(qid, kept, Rcode.BADVERS, question, [], [], edns, tcp)
        if qtype == _OPT_T:
            return self._finish(qid, kept, Rcode.FORMERR, question, [], [], edns, tcp)
        if qclass != _IN and qclass != _ANYCLASS:
            return self._finish(qid, kept, Rcode.REFUSED, question, [], [], edns, tcp)
        if qtype in _NOT_IMPLEMENTED_TYPES:
            return self._finish(qid, kept, Rcode.NOTIMP, question, [], [], edns, tcp)
        lower = tuple(x.lower() for x in qlabels)
        found = self.snapshot.find(lower)
        if found is None:
            return self._finish(qid, kept, Rcode.REFUSED, question, [], [], edns, tcp)
        zone, sub = found
        zw = self._wire(zone)
        apex_ptr = POINTER_TO_QNAME + sum(len(x) + 1 for x in sub)
        kept |= Flag.AA
        if not sub:
            if qtype == _SOA:
                return self._finish(qid, kept, Rcode.NOERROR, question,
                                    [zw.soa_rr(apex_ptr, zw.soa_ttl)], [], edns, tcp)
            if qtype == _NS and zw.ns_names:
                return self._finish(qid, kept, Rcode.NOERROR, question, zw.ns_rrs(apex_ptr), [],
                                    edns, tcp)
            if qtype == _ANY:
                return self._finish(qid, kept, Rcode.NOERROR, question,
                                    [zw.soa_rr(apex_ptr, zw.soa_ttl), *zw.ns_rrs(apex_ptr)], [],
                                    edns, tcp)
            hit = None  # the apex holds only SOA and NS: anything else is NODATA
        else:
            hit = zone.lookup(sub)
            if hit is None:
                return self._finish(qid, kept, Rcode.NXDOMAIN, question, [],
                                    [zw.soa_rr(apex_ptr, zw.neg_ttl)], edns, tcp)
        records: list[bytes] = []
        if hit is not None and hasattr(hit, "ttl"):  # a Hit; ENT has no records
            ttl = hit.ttl
            if qtype in (_A, _ANY):
                records.extend(_RR_PTR.pack(POINTER_TO_QNAME, _A, _IN, ttl, 4) + a for a in hit.a)
            if (qtype in (_TXT, _ANY)) and hit.txt is not None:
                rdata = split_txt(hit.txt)
                records.append(_RR_PTR.pack(POINTER_TO_QNAME, _TXT, _IN, ttl, len(rdata)) + rdata)
        if records:
            return self._finish(qid, kept, Rcode.NOERROR, question, records, [], edns, tcp)
        return self._finish(qid, kept, Rcode.NOERROR, question, [],
                            [zw.soa_rr(apex_ptr, zw.neg_ttl)], edns, tcp)

    @staticmethod
    def _edns(rd: Reader, an: int, ns: int, ar: int) -> tuple[int, int, int] | None:
        """(payload size, version, DO flag) of the query's OPT record, None without one."""
        edns = None
        for i in range(an + ns + ar):
            owner = rd.name()
            rtype, rclass, ttl, rdlen = rd.rr_fixed()
            rd.take(rdlen)
            if rtype == _OPT_T:
                if edns is not None or owner or i < an + ns:
                    raise FormError("misplaced or repeated OPT record")
                edns = (rclass, (ttl >> 16) & 0xFF, ttl & EDNS_DO)
        if rd.remaining():
            raise FormError("trailing bytes after the message")
        return edns

    @staticmethod
    def _finish(qid: int, flags: int, rcode: int, question: bytes, answers: list[bytes],
                authority: list[bytes], edns: tuple[int, int, int] | None, tcp: bool) -> bytes:
        opt = b""
        if edns is not None:
            opt = _OPT.pack(0, _OPT_T, UDP_SERVER_MAX, (rcode >> 4) << 24 | edns[2], 0)
            limit = TCP_MAX if tcp else max(UDP_CLASSIC, min(edns[0], UDP_SERVER_MAX))
        else:
            limit = TCP_MAX if tcp else UDP_CLASSIC
        hflags = Flag.QR | flags | (rcode & 0xF)
        body = b"".join(answers) + b"".join(authority)
        if HEADER_LEN + len(question) + len(body) + len(opt) > limit:
            return (_HEADER.pack(qid, hflags | Flag.TC, 1, 0, 0, 1 if opt else 0) + question + opt)
        return (_HEADER.pack(qid, hflags, 1, len(answers), len(authority), 1 if opt else 0)
                + question + body + opt)


def servfail(query: bytes) -> bytes | None:
    """The reply when answering itself failed (a bug or a broken zone): SERVFAIL, header only."""
    if len(query) < HEADER_LEN:
        return None
    qid, flags = struct.unpack_from("!HH", query, 0)
    if flags & Flag.QR:
        return None
    return _HEADER.pack(qid, Flag.QR | (flags & _QUERY_FLAGS_KEPT) | Rcode.SERVFAIL, 0, 0, 0, 0)
