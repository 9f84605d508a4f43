"""Any zone as a real DNS zone: the records a standard server (NSD, BIND, Knot) needs to answer
the way mailrep does, in canonical order, for AXFR, IXFR diffs and the BIND export.

    records(zone) -> Iterator[Record]     # SOA first, then NS, then the data, sorted by owner
    rdata_text(rec) -> str                 # presentation form of the rdata

Rendering follows `rbldnsd -d`: a /32 (IPv4) or /128 (IPv6) entry is a name with its A and
TXT records (the `$` in a TXT template replaced by the address); a range is a wildcard at its
octet (IPv4) or nibble (IPv6) boundary (`*.2.0.10` for 10.0.2.0/24); a prefix not on a
boundary is cut into the boundary blocks it covers. Because a DNS wildcard never matches
below a name that exists, every name that exists inside a range (the empty non-terminals
above a more specific entry) gets its own *intermediate* wildcard carrying the covering
range's answer; without it NSD or BIND would answer NXDOMAIN for the rest of that range.

Known differences from mailrep's own answers (named in tests): an exclusion (`!`) inside a
range is rendered as nothing (a standard server answers it from the range); a TXT template
with `$` on a range is filled with the range's network text, not the queried address; names
shorter than a full address inside a range answer from the wildcard instead of NODATA.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from mailrep.zones.rrtype import RRType
from mailrep.zones.value import Value
from mailrep.zones.zone import Zone

EXCLUDED = 0


class Record(NamedTuple):
    """One resource record: owner relative to the origin ('' = apex, '*.x' = wildcard)."""

    owner: str
    rtype: int
    ttl: int
    rdata: bytes  # wire rdata with uncompressed names

    def key(self) -> tuple[str, int, bytes]:
        return self.owner, self.rtype, self.rdata


def name_wire(name: str) -> bytes:
    """An absolute dotted name -> uncompressed wire form."""
    name = name.rstrip(".")
    out = bytearray()
    for label in name.split(".") if name else ():
        raw = label.encode("ascii")
        out.append(len(raw))
        out += raw
    out.append(0)
    return bytes(out)


def txt_rdata(text: bytes) -> bytes:
    if len(text) < 256:
        return bytes((len(text),)) + text
    return b"".join(bytes((len(text[i:i + 255]),)) + text[i:i + 255] for i in range(0, len(text), 255))


def soa_record(zone: Zone) -> Record:
    s = zone.soa
    rdata = (name_wire(s.mname) + name_wire(s.rname)
             + b"".join(x.to_bytes(4, "big") for x in (s.serial & 0xFFFFFFFF, s.refresh, s.retry,
                                                       s.expire, s.minimum)))
    return Record("", int(RRType.SOA), s.ttl, rdata)


def ns_names(zone: Zone) -> tuple[str, ...]:
    """The zone's NS names; a zone without one gets its SOA MNAME (a zone file needs an NS)."""
    return zone.ns or (zone.soa.mname,)


def _value_records(owner: str, value: Value, key: bytes) -> Iterator[Record]:
    for a in value.a:
        yield Record(owner, int(RRType.A), value.ttl, a)
    for segs in value.templates():
        text = segs[0] if len(segs) == 1 else key.join(segs)
        yield Record(owner, int(RRType.TXT), value.ttl, txt_rdata(text))


def _rev4(net: int, octets: int) -> str:
    return ".".join(str(net >> (24 - 8 * i) & 255) for i in range(octets - 1, -1, -1))


def _rev6(net: int, nibbles: int) -> str:
    return ".".join(format(net >> (124 - 4 * i) & 15, "x") for i in range(nibbles - 1, -1, -1))


class _Family(NamedTuple):
    bits: int  # address width
    step: int  # bits per label
    rev: Any  # (net, labels) -> relative name
    text: Any  # net -> address text for `$`


_V4 = _Family(32, 8, _rev4, lambda n: str(ipaddress.IPv4Address(n)))
_V6 = _Family(128, 4, _rev6, lambda n: str(ipaddress.IPv6Address(n)))


class _AddressRender:
    """Records for (network, plen, value index) entries of one address family."""

    def __init__(self, fam: _Family, entries: Iterable[tuple[int, int, int]], values: Any,
                 suffix: str) -> None:
        self.fam, self.values, self.suffix = fam, values, suffix
        self.full = fam.bits // fam.step
        self.mask = (1 << fam.bits) - 1
        self.exact: dict[int, int] = {}
        self.ranges: dict[int, dict[int, int]] = {}  # labels -> {network: value index}, aligned
        ranked = sorted((plen, net, vi) for net, plen, vi in entries if vi != EXCLUDED)
        # the most specific entry wins: apply shorter prefixes first, longer ones overwrite
        for plen, net, vi in ranked:
            if plen == fam.bits:
                self.exact[net] = vi
                continue
            labels = -(-plen // fam.step)
            # a block at the full depth is a set of plain names, not a wildcard
            lvl = self.exact if labels == self.full else self.ranges.setdefault(labels, {})
            size = 1 << (fam.bits - labels * fam.step)
            for k in range(1 << (labels * fam.step - plen)):
                lvl[net + k * size] = vi
        self.levels = sorted(self.ranges, reverse=True)

    def _prefix(self, net: int, labels: int) -> int:
        return net & (self.mask ^ ((1 << (self.fam.bits - labels * self.fam.step)) - 1))

    def covering(self, net: int, labels: int) -> int | None:
        """The value of the most specific range at or above the node (net, labels)."""
        for lab in self.levels:
            if lab <= labels:
                vi = self.ranges[lab].get(self._prefix(net, lab))
                if vi is not None:
                    return vi
        return None

    def _name(self, rel: str) -> str:
        return f"{rel}.{self.suffix}" if self.suffix else rel

    def records(self) -> Iterator[Record]:
        fam, full = self.fam, self.full
        nodes: set[tuple[int, int]] = set()

        def add_ancestors(net: int, labels: int) -> None:
            for j in range(labels, 0, -1):
                key = (self._prefix(net, j), j)
                if key in nodes:
                    return
                nodes.add(key)

        if self.levels:  # intermediate wildcards exist only under ranges
            for net in self.exact:
                add_ancestors(net, full)
            for labels, lvl in self.ranges.items():
                for net in lvl:
                    add_ancestors(net, labels)
        values, name = self.values, self._name
        if fam.step == 8:  # IPv4, the bulk of any zone: names and texts without ipaddress
            for net, vi in self.exact.items():
                a, b, c, d = net >> 24, net >> 16 & 255, net >> 8 & 255, net & 255
                yield from _value_records(name(f"{d}.{c}.{b}.{a}"), values[vi], f"{a}.{b}.{c}.{d}".encode())
        else:
            for net, vi in self.exact.items():
                yield from _value_records(name(fam.rev(net, full)), values[vi], fam.text(net).encode())
        for net, labels in nodes:
            if labels < full:
                yield from self._wildcard(net, labels)

    def _wildcard(self, net: int, labels: int) -> Iterator[Record]:
        vi = self.covering(net, labels)
        if vi is not None:
            yield from _value_records(self._name("*." + self.fam.rev(net, labels)), self.values[vi],
                                      self.fam.text(net).encode())

    def parse(self, owner: tuple[str, ...]) -> tuple[int, int] | None:
        """A node name (labels below the suffix, reversed address order) -> (net, labels)."""
        fam = self.fam
        if not 0 < len(owner) <= self.full:
            return None
        net = 0
        for lab in reversed(owner):
            if fam.step == 8:
                if not lab.isdigit() or (len(lab) > 1 and lab[0] == "0") or int(lab) > 255:
                    return None
                net = net << 8 | int(lab)
            else:
                if len(lab) != 1 or lab not in "0123456789abcdef":
                    return None
                net = net << 4 | int(lab, 16)
        return net << (fam.bits - fam.step * len(owner)), len(owner)

    def fill(self, owner: tuple[str, ...], has_own: bool) -> Iterator[Record]:
        """Records a node made by *another* family needs so this family's ranges still answer
        below it (or, for a full address, at it)."""
        parsed = self.parse(owner)
        if parsed is None:
            return
        net, labels = parsed
        if labels == self.full:
            vi = None if has_own or net in self.exact else self.covering(net, labels)
            if vi is not None:
                yield from _value_records(self._name(".".join(owner)), self.values[vi],
                                          self.fam.text(net).encode())
        else:
            yield from self._wildcard(net, labels)


def _dn_records(ds: Any, suffix: str) -> Iterator[Record]:
    for key, wild, vi in ds.entries():
        if vi == EXCLUDED:
            continue
        k = key.decode("ascii")
        owner = ("*." + k) if wild else k
        yield from _value_records(f"{owner}.{suffix}" if suffix else owner, ds.values[vi], key)


def dataset_records(ds: Any, suffix: str = "",
                    renders: list[_AddressRender] | None = None) -> Iterator[Record]:
    """Records for one dataset of any kind, owners relative to the origin (below `suffix`);
    the address renderers are appended to `renders` for the cross-family pass."""
    kind = getattr(ds, "kind", "")
    if kind == "mixed":
        yield from dataset_records(ds.ip4, suffix, renders)
        yield from dataset_records(ds.ip6, suffix, renders)
        yield from dataset_records(ds.dn, suffix, renders)
    elif kind in ("ip4", "ip6"):
        r = _AddressRender(_V4 if kind == "ip4" else _V6, ds.entries(), ds.values, suffix)
        if renders is not None:
            renders.append(r)
        yield from r.records()
    elif kind == "dn":
        yield from _dn_records(ds, suffix)
    elif kind == "combined":
        for sub, dss in ds.subzones.items():
            s = ".".join(x.decode("ascii") for x in sub)
            inner = ".".join(x for x in (s, suffix) if x)
            for d in dss:
                yield from dataset_records(d, inner, renders)
    else:
        raise TypeError(f"cannot render dataset kind {kind!r} as a zone")


def _sort_key(rec: Record) -> tuple[tuple[str, ...], int, bytes]:
    return tuple(reversed(rec.owner.split("."))) if rec.owner else (), rec.rtype, rec.rdata


def data_records(zone: Zone) -> list[Record]:
    """The zone's data (no SOA/NS), deduplicated and in canonical order."""
    seen: dict[tuple[str, int, bytes], Record] = {}
    renders: list[_AddressRender] = []
    for ds in zone.datasets:
        for rec in dataset_records(ds, "", renders):
            seen.setdefault(rec.key(), rec)
    renders = [r for r in renders if r.levels]  # only ranges have wildcards to block
    if renders:
        _cross_family(seen, renders)
    return sorted(seen.values(), key=_sort_key)


def _cross_family(seen: dict[tuple[str, int, bytes], Record], renders: list[_AddressRender]) -> None:
    """Names of one family can make names of another exist (the nibble names of 2001:... end
    in `1.0.0.2`, an IPv4 name inside 2.0.0.0/8): such a node blocks the other family's
    wildcard, so it gets that family's covering records (a full address) or an intermediate
    wildcard (a shorter name). Repeated until no new name appears."""
    owners = {r.owner for r in seen.values()}
    done: set[tuple[int, str]] = set()
    while True:
        nodes: set[tuple[str, ...]] = set()
        for o in owners:
            parts = tuple(o.split("."))
            for i in range(len(parts)):
                nodes.add(parts[i:])
        new = []
        for idx, r in enumerate(renders):
            suffix = tuple(r.suffix.split(".")) if r.suffix else ()
            for node in nodes:
                if node[:1] == ("*",) or (suffix and node[len(node) - len(suffix):] != suffix):
                    continue
                own = node[: len(node) - len(suffix)] if suffix else node
                key = (idx, ".".join(node))
                if key in done or not own:
                    continue
                done.add(key)
                for rec in r.fill(own, ".".join(node) in owners):
                    if rec.key() not in seen:
                        seen[rec.key()] = rec
                        new.append(rec.owner)
        if not new:
            return
        owners.update(new)


def apex_records(zone: Zone) -> list[Record]:
    """SOA then NS records."""
    return [soa_record(zone)] + [Record("", int(RRType.NS), zone.ns_ttl, name_wire(ns))
                                 for ns in ns_names(zone)]


def records(zone: Zone) -> Iterator[Record]:
    """The whole zone: SOA, NS, then the data (an AXFR adds the closing SOA itself)."""
    yield from apex_records(zone)
    yield from data_records(zone)


def _wire_name_text(data: bytes, pos: int) -> tuple[str, int]:
    labels = []
    while data[pos]:
        n = data[pos]
        labels.append(data[pos + 1:pos + 1 + n].decode("ascii"))
        pos += 1 + n
    return ".".join(labels) + ".", pos + 1


def _quote(s: bytes) -> str:
    out = []
    for b in s:
        c = chr(b)
        if c in '"\\':
            out.append("\\" + c)
        elif 32 <= b < 127:
            out.append(c)
        else:
            out.append(f"\\{b:03d}")
    return '"' + "".join(out) + '"'


def rdata_text(rec: Record) -> str:
    """Presentation form of the rdata (zone file syntax)."""
    d = rec.rdata
    if rec.rtype == RRType.A:
        return ".".join(str(b) for b in d)
    if rec.rtype == RRType.TXT:
        parts, i = [], 0
        while i < len(d):
            n = d[i]
            parts.append(_quote(d[i + 1:i + 1 + n]))
            i += 1 + n
        return " ".join(parts)
    if rec.rtype == RRType.NS:
        return _wire_name_text(d, 0)[0]
    if rec.rtype == RRType.SOA:
        mname, p = _wire_name_text(d, 0)
        rname, p = _wire_name_text(d, p)
        nums = [int.from_bytes(d[p + 4 * i:p + 4 * i + 4], "big") for i in range(5)]
        return f"{mname} {rname} " + " ".join(str(x) for x in nums)
    raise ValueError(f"no presentation form for type {rec.rtype}")
