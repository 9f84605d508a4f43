"""Snapshots built from the store's listings: zones bl., dbl., wl. under a base name.

    build_snapshot([("bl", "192.0.2.1", "127.0.0.2", None), ("dbl", "spam.example", ...)],
                   base="mailrep.test", serial=7, site_url="https://rep.example")

Keys are IPv4 or IPv6 addresses or CIDRs, or domain names (`a.com`, `*.a.com`, `.a.com`
as in rbldnsd's dnset); a leading `!` excludes. Every zone gets the RFC 5782 test points
(127.0.0.2, ::ffff:7f00:2 and TEST listed; 127.0.0.1, ::ffff:7f00:1 and INVALID excluded
whatever else is listed). A values must be in 127/8 and outside 127.255.255.0/24, the
range reserved for error answers. Bad entries are skipped with a warning on the snapshot.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from mailrep.errors import BadInput
from mailrep.zones import heap
from mailrep.zones.datafile import dn_key
from mailrep.zones.dnset import DnBuilder, DnSet
from mailrep.zones.ip4set import OCTET, Ip4Builder, Ip4Set
from mailrep.zones.ip6set import Ip6Builder, Ip6Set, nibbles_to_int
from mailrep.zones.value import Value, a_bytes, compile_template
from mailrep.zones.zone import DEFAULT_TTL, ENT, Answer, Hit, Snapshot, Soa, Zone, merge_answers

ZONES: Final = ("bl", "dbl", "wl")
ERROR_NET: Final = ipaddress.IPv4Network("127.255.255.0/24")
LOOPBACK: Final = ipaddress.IPv4Network("127.0.0.0/8")
TEST_LISTED: Final = ("127.0.0.2", "::ffff:7f00:2", "test")
TEST_NEVER: Final = ("127.0.0.1", "::ffff:7f00:1", "invalid")

Entry = tuple[str, str, str, str | None]  # zone suffix, key, A value, TXT template or None


class Mixed:
    """One zone's IPv4, IPv6 and domain sets, routed by the shape of the name."""

    kind: Final = "mixed"
    __slots__ = ("dn", "ip4", "ip6")

    def __init__(self, ip4: Ip4Set, ip6: Ip6Set, dn: DnSet) -> None:
        self.ip4, self.ip6, self.dn = ip4, ip6, dn

    def lookup_ip4(self, q: int) -> Hit | None:
        return self.ip4.lookup_ip4(q)

    def lookup(self, sub: tuple[bytes, ...]) -> Answer:
        n = len(sub)
        if n == 4 and sub[0] in OCTET:
            got = self.ip4.lookup(sub)
            if got is not None:
                return got
            if len(sub[0]) == len(sub[1]) == len(sub[2]) == len(sub[3]) == 1:
                # four one-digit labels are also nibbles: an IPv6 name may lie beneath
                # (0.0.0.0 is above every ::/16 name), and then the name exists (NODATA)
                return merge_answers([self.ip6.lookup(sub), self.dn.lookup(sub)])
        elif n == 32 and nibbles_to_int(sub) is not None:
            got = self.ip6.lookup(sub)  # IPv4-mapped names also find IPv4 listings (rbldnsd does)
            return got if got is not None else self.ip4.lookup(sub)
        elif n < 32:
            return merge_answers([self.ip4.lookup(sub), self.ip6.lookup(sub), self.dn.lookup(sub)])
        return self.dn.lookup(sub)

    def __len__(self) -> int:
        return len(self.ip4) + len(self.ip6) + len(self.dn)

    def entries(self) -> Iterator[tuple[str, object, object, int]]:
        """('ip4'|'ip6', network, plen, value index) then ('dn', name, wildcard, value index)."""
        for a, plen, vi in self.ip4.entries():
            yield "ip4", a, plen, vi
        for a6, plen6, vi6 in self.ip6.entries():
            yield "ip6", a6, plen6, vi6
        for name, wild, vid in self.dn.entries():
            yield "dn", name, wild, vid


@dataclass(frozen=True)
class ZoneSettings:
    """What build_snapshot needs besides the entries (from [dns] settings)."""

    base: str = "mailrep.test"
    site_url: str = "http://127.0.0.1:8080"
    ttl: int = DEFAULT_TTL
    ns: tuple[str, ...] = ()
    rname: str = ""
    refresh: int = 3600
    retry: int = 600
    expire: int = 604800
    minimum: int = 60
    txt_template: str = "Blocked - see {site_url}/lookup?ip=$"


class _ZoneBuild:
    def __init__(self) -> None:
        self.ip4 = Ip4Builder()
        self.ip6 = Ip6Builder()
        self.dn = DnBuilder()
        self.vi4: dict[int, int] = {}  # id(Value) -> index in ip4 (Values are kept alive by the caller)


def _add(zb: _ZoneBuild, key: str, value: Value | None) -> str | None:
    """Add one entry; returns an error message or None."""
    if value is not None and "/" not in key and ":" not in key:
        try:  # the common case: one plain IPv4 address
            packed = socket.inet_pton(socket.AF_INET, key)
        except (OSError, ValueError):
            pass
        else:
            vi = zb.vi4.get(id(value))
            if vi is None:
                vi = zb.vi4[id(value)] = zb.ip4.value_index(value)
            zb.ip4.add(int.from_bytes(packed, "big"), 32, vi)
            return None
    excl = key.startswith("!")
    k = key[1:].strip() if excl else key.strip()
    if excl:
        value = None
    try:
        net = ipaddress.ip_network(k, strict=True)
    except ValueError:
        net = None
        if "/" in k or (k.replace(".", "").isdigit() and k.count(".") == 3):
            return f"bad network {key!r}"
    if isinstance(net, ipaddress.IPv4Network):
        vi = zb.ip4.value_index(value)
        # each CIDR at its own level: the most specific prefix wins, bit by bit
        zb.ip4.add(int(net.network_address), net.prefixlen, vi)
        return None
    if isinstance(net, ipaddress.IPv6Network):
        vi = zb.ip6.value_index(value)
        zb.ip6.add(int(net.network_address), net.prefixlen, vi)
        return None
    exact, wild = True, False
    if k.startswith("*."):
        k, exact, wild = k[2:], False, True
    elif k.startswith("."):
        k, wild = k[1:], True
    name = dn_key(k)
    if name is None or b"\0" in name:
        return f"bad key {key!r}"
    zb.dn.add(name, zb.dn.value_index(value), exact=exact, wild=wild)
    return None


def build_snapshot(
    entries: Iterable[Entry], *, base: str = "mailrep.test", serial: int,
    site_url: str = "http://127.0.0.1:8080", ttl: int = DEFAULT_TTL, ns: Sequence[str] = (),
    settings: ZoneSettings | None = None, zones: Sequence[str] = ZONES,
    test_txt: Mapping[str, str] | None = None,
) -> Snapshot:
    """A new Snapshot with one zone per suffix in `zones` under `base`. `test_txt` gives a
    zone's test point a TXT of its own (an allowlist's must not say "Blocked")."""
    cfg = settings or ZoneSettings(base=base, site_url=site_url, ttl=ttl, ns=tuple(ns))
    base_n = cfg.base.strip().rstrip(".").lower()
    default_txt = compile_template(cfg.txt_template.replace("{site_url}", cfg.site_url.rstrip("/")))
    default = Value((b"\x7f\x00\x00\x02",), default_txt, cfg.ttl)
    builds = {z: _ZoneBuild() for z in zones}
    warnings: list[str] = []
    values: dict[tuple[str, str | None], Value] = {}
    for zone, key, a_text, txt in entries:
        zb = builds.get(zone)
        if zb is None:
            warnings.append(f"unknown zone {zone!r} for {key!r}")
            continue
        v = values.get((a_text, txt))
        if v is None:
            try:
                a = a_bytes(a_text)
            except BadInput as e:
                warnings.append(f"{zone}: {key!r}: {e.message}")
                continue
            ip = ipaddress.IPv4Address(a)
            if ip not in LOOPBACK or ip in ERROR_NET:
                warnings.append(f"{zone}: {key!r}: A value {ip} outside 127/8 or in 127.255.255/24")
                continue
            tmpl = default_txt if txt is None else compile_template(txt)
            v = values[(a_text, txt)] = Value((a,), tmpl, cfg.ttl)
        err = _add(zb, key, v)
        if err:
            warnings.append(f"{zone}: {err}")
    out = []
    ns_names = cfg.ns or (f"ns1.{base_n}",)
    for zone, zb in builds.items():
        own = (test_txt or {}).get(zone)
        point = default if own is None else Value(default.a, compile_template(own), cfg.ttl)
        for k in TEST_LISTED:
            _add(zb, k, point)
        for k in TEST_NEVER:
            _add(zb, "!" + k, None)
        name = f"{zone}.{base_n}"
        soa = Soa(ns_names[0], cfg.rname or f"hostmaster.{base_n}", serial, cfg.refresh,
                  cfg.retry, cfg.expire, cfg.minimum, cfg.ttl)
        data = Mixed(zb.ip4.build(), zb.ip6.build(), zb.dn.build())
        out.append(Zone(name, soa=soa, ns=ns_names, ttl=cfg.ttl, datasets=[data]))
    snap = Snapshot(out, serial=serial, warnings=warnings, meta={"source": "store", "base": base_n})
    heap.trim()
    return snap


__all__ = ["ENT", "Mixed", "ZoneSettings", "build_snapshot"]
