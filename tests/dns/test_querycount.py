"""Which address a counted DNSBL query asks about: the names, read with `net`'s rule."""

from __future__ import annotations

import ipaddress

import pytest

from mailrep.dns.querycount import QueryCounter, queried_ip


def labels(name: str) -> tuple[bytes, ...]:
    return tuple(x.encode() for x in name.split("."))


def nibbles(ip: str) -> tuple[bytes, ...]:
    return labels(ipaddress.IPv6Address(ip).reverse_pointer.removesuffix(".ip6.arpa"))


@pytest.mark.parametrize(("sub", "expected"), [
    (labels("9.2.0.192"), "192.0.2.9"),
    (nibbles("2001:db8::1"), "2001:db8::1"),
    (nibbles("::ffff:192.0.2.9"), "192.0.2.9"),  # v4-mapped is the IPv4 address
    (tuple(x.upper() for x in nibbles("2001:db8::abc")), "2001:db8::abc"),
    (labels("2.0.192"), None),
    (labels("x.2.0.192"), None),
    (labels("256.2.0.192"), None),
])
def test_queried_ip(sub, expected):
    assert queried_ip(sub) == expected


def test_v4_mapped_counts_with_ipv4_and_test_points_do_not():
    qc = QueryCounter(flush=lambda counts: None)
    for sub in (labels("9.2.0.192"), nibbles("::ffff:192.0.2.9"), nibbles("::ffff:127.0.0.2"), labels("2.0.0.127")):
        qc.count(sub)
    assert qc.take() == {"192.0.2.9": 2}
