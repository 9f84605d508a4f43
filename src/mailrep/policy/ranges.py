"""What can be listed: canonical keys, and the ranges that never are.

Only public unicast addresses are listable. Never listed: private (RFC 1918, ULA), shared
(100.64/10), loopback, link-local, multicast, documentation and benchmarking ranges, reserved
space, and the operator's exemption networks. Keys are read by `mailrep.net` (IPv4-mapped
IPv6 addresses are IPv4).
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from mailrep.net import IPAddress, IPNetwork, ipv4_int, parse_key

# Named special-purpose ranges, so an explanation can say which one (first match wins).
SPECIAL: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(net), name)
    for net, name in (
        ("0.0.0.0/8", "'this network' (RFC 791)"),
        ("10.0.0.0/8", "private network (RFC 1918)"),
        ("100.64.0.0/10", "shared address space (RFC 6598)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private network (RFC 1918)"),
        ("192.0.0.0/24", "IETF protocol assignments"),
        ("192.0.2.0/24", "documentation (TEST-NET-1)"),
        ("192.168.0.0/16", "private network (RFC 1918)"),
        ("198.18.0.0/15", "benchmarking (RFC 2544)"),
        ("198.51.100.0/24", "documentation (TEST-NET-2)"),
        ("203.0.113.0/24", "documentation (TEST-NET-3)"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("64:ff9b:1::/48", "local-use IPv4/IPv6 translation"),
        ("100::/64", "discard-only"),
        ("2001:db8::/32", "documentation"),
        ("fc00::/7", "unique local (private)"),
        ("fe80::/10", "link-local"),
        ("ff00::/8", "multicast"),
    )
)


def _span(key: IPAddress | IPNetwork) -> tuple[int, int]:
    if isinstance(key, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return int(key.network_address), int(key.broadcast_address)
    n = int(key)
    return n, n


# (version, first, last, text) of each special range, as integers for a cheap test per key.
_SPECIAL_SPANS: tuple[tuple[int, int, int, str], ...] = tuple(
    (net.version, *_span(net), f"{name} {net}") for net, name in SPECIAL
)


@lru_cache(maxsize=64)
def _exemption_spans(exemptions: tuple[IPNetwork, ...]) -> tuple[tuple[int, int, int, str], ...]:
    return tuple((net.version, *_span(net), f"operator exemption {net}") for net in exemptions)


def never_listed_reason(
    key: str | IPAddress | IPNetwork, exemptions: tuple[IPNetwork, ...] = ()
) -> str | None:
    """Why `key` can never be listed, or None when it can.

    An address is never listed inside a special range or an exemption; a network is never
    listed when it overlaps a special range or lies inside an exemption. A dotted-quad string
    takes a fast path (no `ipaddress` object), for recomputing many stored keys.
    """
    if isinstance(key, str):
        if "/" not in key and ":" not in key:
            version, lo = 4, ipv4_int(key)
            hi = lo
            return _check(version, lo, hi, exemptions, key)
        key = parse_key(key)
    version = key.version
    lo, hi = _span(key)
    return _check(version, lo, hi, exemptions, key)


def _check(version: int, lo: int, hi: int, exemptions: tuple[IPNetwork, ...],
           key: str | IPAddress | IPNetwork) -> str | None:
    for v, first, last, text in _exemption_spans(tuple(exemptions)) if exemptions else ():
        if v == version and first <= lo and hi <= last:
            return text
    for v, first, last, text in _SPECIAL_SPANS:
        if v == version and lo <= last and hi >= first:
            return text
    if version == 6 and not isinstance(key, str):  # the IPv6 registry has more non-global blocks
        net_or_ip = key.network_address if isinstance(key, ipaddress.IPv6Network) else key
        if not net_or_ip.is_global:
            return "not a public unicast address"
    return None
