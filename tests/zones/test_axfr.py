"""Zones rendered as real DNS zones: a standard server applying DNS wildcard rules (RFC 1034
4.3.2, RFC 4592) to the rendered records must answer every full address like zone.lookup."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailrep.zones.axfr import data_records, rdata_text, records, txt_rdata
from mailrep.zones.build import build_snapshot
from mailrep.zones.rrtype import RRType
from mailrep.zones.zone import Hit

A, TXT = int(RRType.A), int(RRType.TXT)


class WildcardServer:
    """What NSD/BIND do with a zone's records, for names below the origin."""

    def __init__(self, recs) -> None:
        self.rrsets: dict[tuple[str, ...], dict[int, set[bytes]]] = {}
        self.nodes: set[tuple[str, ...]] = set()
        for r in recs:
            owner = tuple(r.owner.split(".")) if r.owner else ()
            self.rrsets.setdefault(owner, {}).setdefault(r.rtype, set()).add(r.rdata)
            for i in range(len(owner) + 1):
                self.nodes.add(owner[i:])

    def ask(self, name: tuple[str, ...], rtype: int):
        """('answer', rdatas) | 'NODATA' | 'NXDOMAIN'."""
        if name in self.nodes:
            got = self.rrsets.get(name, {}).get(rtype)
            return ("answer", got) if got else "NODATA"
        for i in range(1, len(name) + 1):
            encloser = name[i:]
            if encloser in self.nodes:
                wild = self.rrsets.get(("*", *encloser))
                if wild is None:
                    return "NXDOMAIN"
                got = wild.get(rtype)
                return ("answer", got) if got else "NODATA"
        return "NXDOMAIN"


def _rev(ip: str) -> tuple[str, ...]:
    a = ipaddress.ip_address(ip)
    if a.version == 4:
        return tuple(reversed(ip.split(".")))
    return tuple(reversed(a.exploded.replace(":", "")))


def _expect(hit, rtype: int):
    if not isinstance(hit, Hit):
        return "NXDOMAIN" if hit is None else "NODATA"
    if rtype == A:
        return ("answer", set(hit.a))
    txts = ([hit.txt] if hit.txt is not None else []) + list(hit.more_txt)
    return ("answer", {txt_rdata(t) for t in txts}) if txts else "NODATA"


def _check(snap, zone_name: str, ips: list[str]) -> None:
    zone = snap.zones[zone_name]
    server = WildcardServer(data_records(zone))
    for ip in ips:
        labels = _rev(ip)
        hit = zone.lookup(tuple(x.encode() for x in labels))
        for rtype in (A, TXT):
            assert server.ask(labels, rtype) == _expect(hit, rtype), (ip, rtype, hit)


nets = st.tuples(st.integers(8, 32), st.integers(0, (1 << 32) - 1), st.integers(3, 9))


@given(st.lists(nets, min_size=1, max_size=25), st.lists(st.integers(0, (1 << 32) - 1), max_size=30),
       st.randoms(use_true_random=False))
@settings(max_examples=60, deadline=None)
def test_rendered_ipv4_zone_answers_like_lookup(entries, extra, rnd):
    keys: dict[str, tuple[str, str | None]] = {}
    for plen, addr, a in entries:
        net = ipaddress.IPv4Network((addr, plen), strict=False)
        if net.overlaps(ipaddress.IPv4Network("127.0.0.0/8")):
            continue
        key = str(net.network_address) if plen == 32 else str(net)
        # ranges get a fixed TXT (a `$` there is filled with the network text, a named difference)
        keys[key] = (f"127.0.0.{a}", None if plen == 32 else f"range {net}")
    snap = build_snapshot([("bl", k, a, t) for k, (a, t) in keys.items()], serial=1, zones=("bl",))
    probes = [str(ipaddress.IPv4Address(x)) for x in extra]
    for k in keys:
        net = ipaddress.IPv4Network(k)
        for _ in range(4):
            probes.append(str(net.network_address + rnd.randrange(net.num_addresses)))
        probes.append(str(ipaddress.IPv4Address((int(net.network_address) - 1) % (1 << 32))))
        probes.append(str(ipaddress.IPv4Address((int(net.broadcast_address) + 1) % (1 << 32))))
    _check(snap, "bl.mailrep.test", [*probes, "127.0.0.2", "127.0.0.1"])


@given(st.lists(st.tuples(st.sampled_from([128, 64, 56, 48, 62]), st.integers(0, (1 << 128) - 1)),
                min_size=1, max_size=10), st.randoms(use_true_random=False))
@settings(max_examples=30, deadline=None)
def test_rendered_ipv6_zone_answers_like_lookup(entries, rnd):
    keys = {}
    for plen, addr in entries:
        net = ipaddress.IPv6Network((addr, plen), strict=False)
        if net.overlaps(ipaddress.IPv6Network("::ffff:0:0/96")):
            continue
        keys[str(net.network_address) if plen == 128 else str(net)] = None if plen == 128 else "v6 range"
    snap = build_snapshot([("bl", k, "127.0.0.2", t) for k, t in keys.items()], serial=1, zones=("bl",))
    probes = []
    for k in keys:
        net = ipaddress.IPv6Network(k)
        probes += [str(net.network_address + rnd.randrange(net.num_addresses)) for _ in range(3)]
        probes.append(str(ipaddress.IPv6Address((int(net.network_address) - 1) % (1 << 128))))
    _check(snap, "bl.mailrep.test", probes)


def test_domain_zone():
    snap = build_snapshot([("dbl", "spam.example", "127.0.1.2", "dom $"),
                           ("dbl", "*.wild.example", "127.0.1.3", None), ("dbl", ".both.example", "127.0.1.4", None)],
                          serial=1, zones=("dbl",))
    zone = snap.zones["dbl.mailrep.test"]
    server = WildcardServer(data_records(zone))
    for name in ["spam.example", "www.spam.example", "wild.example", "a.wild.example", "a.b.wild.example",
                 "both.example", "x.both.example", "example", "test", "invalid"]:
        labels = tuple(name.split("."))
        assert server.ask(labels, A) == _expect(zone.lookup(tuple(x.encode() for x in labels)), A), name


def test_apex_and_order():
    snap = build_snapshot([("bl", "192.0.2.1", "127.0.0.2", None)], serial=77, ns=["a.example.net", "b.example.net"])
    recs = list(records(snap.zones["bl.mailrep.test"]))
    assert recs[0].rtype == RRType.SOA and recs[0].owner == ""
    assert rdata_text(recs[0]).split()[2] == "77"
    assert [rdata_text(r) for r in recs[1:3]] == ["a.example.net.", "b.example.net."]
    owners = [r.owner for r in recs[3:]]
    keys = [tuple(reversed(o.split("."))) for o in owners]
    assert keys == sorted(keys)  # canonical-ish order: parents before children
    a = [r for r in recs if r.owner == "1.2.0.192" and r.rtype == A]
    assert [socket.inet_ntoa(r.rdata) for r in a] == ["127.0.0.2"]
    assert not [r for r in recs if r.owner == "1.0.0.127"]  # the never-listed test point


@pytest.mark.parametrize(("text", "wire"), [
    (b"", b"\x00"), (b"abc", b"\x03abc"), (b"x" * 300, b"\xff" + b"x" * 255 + b"\x2d" + b"x" * 45),
])
def test_txt_rdata(text, wire):
    assert txt_rdata(text) == wire
