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

import functools
import struct
from typing import Any, Protocol

from mailrep.dns.constants import (
    EDNS_DO,
    EDNS_VERSION,
    HEADER_LEN,
    MAX_LABEL,
    MAX_TXT_STRING,
    OPCODE_MASK,
    POINTER_TO_QNAME,
    TCP_MAX,
    UDP_CLASSIC,
    UDP_SERVER_MAX,
    Flag,
    Rcode,
    RRClass,
    RRType,
)
from mailrep.dns.wire import FormError, Reader, text_labels

_HEADER = struct.Struct("!HHHHHH")
_RR_PTR = struct.Struct("!HHHIH")  # pointer owner, type, class, ttl, rdlength
_SOA_TAIL = struct.Struct("!IIIII")
_OPT = struct.Struct("!BHHIH")  # root owner, type, class=payload size, ttl=ext rcode/version/flags, rdlength

_U16X5 = struct.Struct("!HHHHH")
_U16X3 = struct.Struct("!HHH")
_QR, _AA, _TC = int(Flag.QR), int(Flag.AA), int(Flag.TC)
_QUERY_FLAGS_KEPT = int(OPCODE_MASK | Flag.RD | Flag.CD)
_NOERROR, _FORMERR, _NXDOMAIN, _NOTIMP, _REFUSED, _BADVERS = (
    int(Rcode.NOERROR), int(Rcode.FORMERR), int(Rcode.NXDOMAIN), int(Rcode.NOTIMP),
    int(Rcode.REFUSED), int(Rcode.BADVERS))
_ONE_QUESTION = b"\x00\x01\x00\x00\x00\x00\x00\x00"  # QDCOUNT 1, no other records
_QR_AA_HI, _RD_HI, _CD_LO = (int(Flag.QR) | int(Flag.AA)) >> 8, int(Flag.RD) >> 8, int(Flag.CD)


def _reply_headers(rcode: int, an: int, ns: int) -> dict[bytes, bytes]:
    """Query flag octets (opcode QUERY, QR clear) -> reply flags and counts, RD and CD copied."""
    out = {}
    for hi in range(8):
        for lo in range(256):
            flags = _QR_AA_HI << 8 | (hi & _RD_HI) << 8 | (lo & _CD_LO) | rcode
            out[bytes((hi, lo))] = struct.pack("!HHHHH", flags, 1, an, ns, 0)
    return out


_HDR_AN1 = _reply_headers(_NOERROR, 1, 0)
_HDR_NODATA = _reply_headers(_NOERROR, 0, 1)
_HDR_NX = _reply_headers(_NXDOMAIN, 0, 1)
_NOT_IMPLEMENTED_TYPES = frozenset(int(t) for t in (RRType.AXFR, RRType.IXFR, RRType.MAILA, RRType.MAILB))
_IN = int(RRClass.IN)
_ANYCLASS = int(RRClass.ANY)
_A, _TXT, _ANY, _SOA, _NS, _OPT_T = (int(RRType.A), int(RRType.TXT), int(RRType.ANY),
                                     int(RRType.SOA), int(RRType.NS), int(RRType.OPT))
_a_head = functools.partial(_RR_PTR.pack, POINTER_TO_QNAME, _A, _IN)  # (ttl, 4) -> A RR head


class ZoneLike(Protocol):
    labels: tuple[bytes, ...]
    soa: Any
    ns: tuple[str, ...]
    ns_ttl: int

    def lookup(self, sub: tuple[bytes, ...]) -> Any: ...


class SnapshotLike(Protocol):
    serial: int
    zones: dict[str, Any]

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

    __slots__ = ("_neg", "mname", "neg_ttl", "ns_names", "ns_ttl", "origin", "origin_len", "rname",
                 "soa_tail", "soa_ttl")

    def __init__(self, zone: ZoneLike) -> None:
        soa = zone.soa
        self.origin = tuple(zone.labels)
        self.origin_len = sum(len(x) + 1 for x in self.origin)  # wire octets before the root
        self._neg: dict[int, bytes] = {}
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

    def negative(self, apex_offset: int) -> bytes:
        """The SOA for the authority section of NXDOMAIN/NODATA, the apex at `apex_offset`."""
        rr = self._neg.get(apex_offset)
        if rr is None:
            rr = self._neg[apex_offset] = self.soa_rr(0xC000 | apex_offset, self.neg_ttl)
        return rr

    def ns_rrs(self, apex_ptr: int) -> list[bytes]:
        out = []
        for name in self.ns_names:
            rdata = self.name_at(name, apex_ptr)
            out.append(_RR_PTR.pack(apex_ptr, _NS, _IN, self.ns_ttl, len(rdata)) + rdata)
        return out


class Responder:
    """Answers queries from one immutable snapshot. Replace it (don't mutate it) to swap data."""

    __slots__ = ("_cache", "_cache_size", "_fast", "_zones", "snapshot")

    def __init__(self, snapshot: SnapshotLike, *, cache_size: int = 100_000) -> None:
        self.snapshot = snapshot
        self._zones: dict[int, _ZoneWire] = {}
        self._cache: dict[bytes, bytes] = {}
        self._cache_size = cache_size
        # origin in wire form (lowercase, with the root octet) -> zone, for the four-label fast
        # path; only when no origin lies inside another (else the longest match could differ)
        zones = list(getattr(snapshot, "zones", {}).values())
        origins = [tuple(z.labels) for z in zones]
        nested = any(a != b and a[len(a) - len(b) :] == b for a in origins for b in origins)
        self._fast: dict[bytes, tuple[Any, _ZoneWire]] = {} if nested else {
            b"".join(bytes((len(x),)) + x for x in z.labels) + b"\x00": (z, self._wire(z)) for z in zones
        }

    @property
    def cache(self) -> dict[bytes, bytes]:
        """Reply cache for UDP: query bytes after the ID -> reply bytes after the ID, b"" = silence."""
        return self._cache

    def udp(self, query: bytes) -> bytes | None:
        """answer() for UDP through the reply cache."""
        tail = self._cache.get(query[2:])
        if tail is None:
            return self.udp_miss(query)
        return query[:2] + tail if tail else None

    def udp_miss(self, query: bytes) -> bytes | None:
        """answer() for a UDP query not in the cache, remembering the reply."""
        reply = (self._fast and self._four_labels(query)) or self.answer_general(query)
        if self._cache_size:
            cache = self._cache
            if len(cache) >= self._cache_size:
                cache.clear()
            cache[query[2:]] = b"" if reply is None else reply[2:]
        return reply

    def _wire(self, zone: ZoneLike) -> _ZoneWire:
        zw = self._zones.get(id(zone))
        if zw is None:
            zw = self._zones[id(zone)] = _ZoneWire(zone)
        return zw

    def answer(self, query: bytes, *, tcp: bool = False) -> bytes | None:
        """The reply to `query` (None = silence): the four-label fast path, else the general one."""
        fast = self._fast and self._four_labels(query)
        return fast or self.answer_general(query, tcp=tcp)

    def _four_labels(self, q: bytes) -> bytes | None:
        """The common DNSBL query, answered with the fewest steps: header QUERY with one question
        and nothing else, four labels of 1-3 octets, then exactly a zone origin, class IN, type
        A or TXT. Anything else (or a reply over 512 octets) returns None for the general path,
        which gives the same bytes (tests/dns/test_answer.py checks this)."""
        if q[4:12] != _ONE_QUESTION or q[2] & 0xF8:
            return None
        n = len(q)
        if q[n - 2 : n] != b"\x00\x01":
            return None
        qtype = q[n - 4] << 8 | q[n - 3]
        if qtype != _A and qtype != _TXT:
            return None
        a = q[12]
        if not 0 < a < 4:
            return None
        b = 13 + a
        lb = q[b] if b < n else 0
        if not 0 < lb < 4:
            return None
        c = b + 1 + lb
        lc = q[c] if c < n else 0
        if not 0 < lc < 4:
            return None
        d = c + 1 + lc
        ld = q[d] if d < n else 0
        if not 0 < ld < 4:
            return None
        p = d + 1 + ld  # where the origin starts
        lower = q[12 : n - 4].lower()
        found = self._fast.get(lower[p - 12 :])
        if found is None:
            return None
        zone, zw = found
        hit = zone.lookup((lower[1 : 1 + a], lower[b - 11 : b - 11 + lb], lower[c - 11 : c - 11 + lc],
                           lower[d - 11 : d - 11 + ld]))
        fl = q[2:4]
        if hit is None:
            out = q[:2] + _HDR_NX[fl] + q[12:] + zw.negative(p)
        elif hasattr(hit, "ttl"):
            if qtype == _A:
                if len(hit.a) != 1:
                    return None
                out = q[:2] + _HDR_AN1[fl] + q[12:] + _a_head(hit.ttl, 4) + hit.a[0]
            elif hit.txt is not None:
                rdata = split_txt(hit.txt)
                out = (q[:2] + _HDR_AN1[fl] + q[12:]
                       + _RR_PTR.pack(POINTER_TO_QNAME, _TXT, _IN, hit.ttl, len(rdata)) + rdata)
            else:
                out = q[:2] + _HDR_NODATA[fl] + q[12:] + zw.negative(p)
        else:  # an empty non-terminal: NODATA
            out = q[:2] + _HDR_NODATA[fl] + q[12:] + zw.negative(p)
        return out if len(out) <= UDP_CLASSIC else None

    def answer_general(self, query: bytes, *, tcp: bool = False) -> bytes | None:
        n = len(query)
        if n < HEADER_LEN:
            return None
        flags = query[2] << 8 | query[3]
        if flags & _QR:
            return None
        kept = flags & _QUERY_FLAGS_KEPT
        if flags & OPCODE_MASK:
            return query[:2] + _U16X5.pack(_QR | kept | _NOTIMP, 0, 0, 0, 0)
        # the question: one uncompressed name at offset 12 (a pointer there cannot be valid)
        pos = HEADER_LEN
        lname = query[HEADER_LEN : HEADER_LEN + 256].lower()  # length octets (<64) stay as they are
        labels = []
        try:
            if query[4] or query[5] != 1:
                raise FormError("QDCOUNT must be 1")
            while True:
                ln = query[pos]  # IndexError past the end
                if not ln:
                    break
                if ln > MAX_LABEL:
                    raise FormError("compressed or unknown label type in the question")
                end = pos + 1 + ln
                labels.append(lname[pos - 11 : end - HEADER_LEN])
                pos = end
            if pos > HEADER_LEN + 254:
                raise FormError("name longer than 255 octets")
            qend = pos + 5
            if qend > n:
                raise FormError("question cut short")
            qtype = query[pos + 1] << 8 | query[pos + 2]
            qclass = query[pos + 3] << 8 | query[pos + 4]
            if qend == n and not (query[6] or query[7] or query[8] or query[9] or query[10] or query[11]):
                edns = None
            elif (n == qend + 11 and query[qend : qend + 3] == b"\x00\x00\x29"
                  and query[qend + 9] == 0 and query[qend + 10] == 0 and query[6:12] == b"\0\0\0\0\0\x01"):
                # the usual EDNS query: one empty OPT record and nothing else
                edns = (query[qend + 3] << 8 | query[qend + 4], query[qend + 6],
                        query[qend + 7] << 8 & EDNS_DO)
            else:
                an, ns, ar = _U16X3.unpack_from(query, 6)
                edns = self._edns(Reader(query, qend), an, ns, ar)
        except (FormError, IndexError):
            return query[:2] + _U16X5.pack(_QR | kept | _FORMERR, 0, 0, 0, 0)
        question = query[HEADER_LEN:qend]
        if edns is not None and edns[1] != EDNS_VERSION:
            return self._finish(query, kept, _BADVERS, question, (), (), edns, tcp)
        if qclass != _IN and qclass != _ANYCLASS:
            return self._finish(query, kept, _REFUSED, question, (), (), edns, tcp)
        if qtype == _OPT_T:
            return self._finish(query, kept, _FORMERR, question, (), (), edns, tcp)
        if qtype in _NOT_IMPLEMENTED_TYPES:
            return self._finish(query, kept, _NOTIMP, question, (), (), edns, tcp)
        found = self.snapshot.find(tuple(labels))
        if found is None:
            return self._finish(query, kept, _REFUSED, question, (), (), edns, tcp)
        zone, sub = found
        zw = self._zones.get(id(zone)) or self._wire(zone)
        kept |= _AA
        if not sub:
            apex_ptr = POINTER_TO_QNAME
            if qtype == _SOA:
                return self._finish(query, kept, _NOERROR, question,
                                    (zw.soa_rr(apex_ptr, zw.soa_ttl),), (), edns, tcp)
            if qtype == _NS and zw.ns_names:
                return self._finish(query, kept, _NOERROR, question, zw.ns_rrs(apex_ptr), (),
                                    edns, tcp)
            if qtype == _ANY:
                return self._finish(query, kept, _NOERROR, question,
                                    (zw.soa_rr(apex_ptr, zw.soa_ttl), *zw.ns_rrs(apex_ptr)), (),
                                    edns, tcp)
            hit = None  # the apex holds only SOA and NS: anything else is NODATA
        else:
            hit = zone.lookup(sub)
            if hit is None:
                return self._finish(query, kept, _NXDOMAIN, question, (),
                                    (zw.negative(pos - zw.origin_len),),
                                    edns, tcp)
        if hit is not None and hasattr(hit, "ttl"):  # a Hit; ENT has no records
            ttl = hit.ttl
            if qtype == _A:
                if len(hit.a) == 1:
                    return self._finish(query, kept, _NOERROR, question,
                                        (_a_head(ttl, 4) + hit.a[0],), (), edns, tcp)
                return self._finish(query, kept, _NOERROR, question,
                                    [_a_head(ttl, 4) + a for a in hit.a], (), edns, tcp)
            records: list[bytes] = []
            if qtype == _ANY:
                records.extend(_a_head(ttl, 4) + a for a in hit.a)
            if qtype in (_TXT, _ANY) and hit.txt is not None:
                rdata = split_txt(hit.txt)
                records.append(_RR_PTR.pack(POINTER_TO_QNAME, _TXT, _IN, ttl, len(rdata)) + rdata)
            if records:
                return self._finish(query, kept, _NOERROR, question, records, (), edns, tcp)
        return self._finish(query, kept, _NOERROR, question, (), (zw.negative(pos - zw.origin_len),),
                            edns, tcp)

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
    def _finish(query: bytes, flags: int, rcode: int, question: bytes,
                answers: tuple[bytes, ...] | list[bytes], authority: tuple[bytes, ...],
                edns: tuple[int, int, int] | None, tcp: bool) -> bytes:
        if edns is None:
            opt = b""
            limit = TCP_MAX if tcp else UDP_CLASSIC
        else:
            opt = _OPT.pack(0, _OPT_T, UDP_SERVER_MAX, (rcode >> 4) << 24 | edns[2], 0)
            limit = TCP_MAX if tcp else max(UDP_CLASSIC, min(edns[0], UDP_SERVER_MAX))
        hflags = _QR | flags | (rcode & 0xF)
        body = b"".join(answers) + b"".join(authority) if authority else b"".join(answers)
        if HEADER_LEN + len(question) + len(body) + len(opt) > limit:
            return query[:2] + _U16X5.pack(hflags | _TC, 1, 0, 0, 1 if opt else 0) + question + opt
        return (query[:2] + _U16X5.pack(hflags, 1, len(answers), len(authority), 1 if opt else 0)
                + question + body + opt)

def servfail(query: bytes) -> bytes | None:
    """The reply when answering itself failed (a bug or a broken zone): SERVFAIL, header only."""
    if len(query) < HEADER_LEN:
        return None
    qid, flags = struct.unpack_from("!HH", query, 0)
    if flags & Flag.QR:
        return None
    return _HEADER.pack(qid, Flag.QR | (flags & _QUERY_FLAGS_KEPT) | Rcode.SERVFAIL, 0, 0, 0, 0)
