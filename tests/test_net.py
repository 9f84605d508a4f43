"""The one IP/network parser: table tests of what every door accepts and refuses."""

from __future__ import annotations

import ipaddress

import pytest

from mailrep.errors import BadInput
from mailrep.net import (
    BadIP,
    BadNetwork,
    canonical,
    canonical_ip,
    client_network,
    ipv6_text,
    parse_hostport,
    parse_ip,
    parse_key,
    parse_literal,
    parse_network,
)


@pytest.mark.parametrize(("text", "expected"), [
    ("192.0.2.1", "192.0.2.1"),
    (" 192.0.2.1\n", "192.0.2.1"),
    ("2001:DB8::1", "2001:db8::1"),
    ("2001:0db8:0000::0001", "2001:db8::1"),
    ("::ffff:192.0.2.1", "192.0.2.1"),
    ("::FFFF:c000:0201", "192.0.2.1"),
    ("::1", "::1"),
    ("::192.0.2.1", "::c000:201"),  # IPv4-compatible (deprecated) is not v4-mapped
])
def test_canonical_ip(text, expected):
    assert canonical_ip(text) == expected
    assert str(parse_ip(text)) == expected


def test_v4_mapped_is_ipv4():
    assert parse_ip("::ffff:198.51.100.7") == ipaddress.IPv4Address("198.51.100.7")


@pytest.mark.parametrize("text", [
    "", " ", "nope", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.4/24",
    "fe80::1%eth0", "fe80::1%1", "192.0.2.1\0", "\x00::1", "2001:db8::1::2", "[2001:db8::1]",
    "192.0.2.1 x",
])
def test_not_an_address(text):
    with pytest.raises(BadIP) as e:
        parse_ip(text)
    assert e.value.code == "bad_ip"
    assert isinstance(e.value, BadInput)
    with pytest.raises(BadIP):
        canonical_ip(text)


@pytest.mark.parametrize(("text", "strict", "expected"), [
    ("192.0.2.0/24", True, "192.0.2.0/24"),
    ("192.0.2.7/24", False, "192.0.2.0/24"),
    ("2001:db8::/32", True, "2001:db8::/32"),
    ("::ffff:192.0.2.0/120", True, "192.0.2.0/24"),
    ("::ffff:0:0/96", True, "0.0.0.0/0"),
    ("::/0", True, "::/0"),
    ("192.0.2.1", True, "192.0.2.1/32"),
])
def test_parse_network(text, strict, expected):
    assert str(parse_network(text, strict=strict)) == expected


@pytest.mark.parametrize("text", ["192.0.2.7/24", "192.0.2.0/33", "fe80::%eth0/64", "x/8",
                                  "10.0.0.0/8\0"])
def test_not_a_network(text):
    with pytest.raises(BadNetwork) as e:
        parse_network(text)
    assert isinstance(e.value, BadIP)


@pytest.mark.parametrize(("text", "expected"), [
    ("192.0.2.1", "192.0.2.1"),
    ("192.0.2.1/32", "192.0.2.1"),
    ("192.0.2.0/24", "192.0.2.0/24"),
    ("::ffff:192.0.2.1", "192.0.2.1"),
    ("::ffff:192.0.2.0/120", "192.0.2.0/24"),
    ("2001:db8::/128", "2001:db8::"),
])
def test_listing_keys(text, expected):
    assert canonical(text) == expected
    assert str(parse_key(text)) == expected


@pytest.mark.parametrize(("spec", "default_port", "default_host", "want"), [
    ("127.0.0.1:8080", 80, "127.0.0.1", ("127.0.0.1", 8080)),
    ("127.0.0.1/5300", 53, "0.0.0.0", ("127.0.0.1", 5300)),   # rbldnsd -b
    ("127.0.0.1", 53, "0.0.0.0", ("127.0.0.1", 53)),
    (":2525", 25, "127.0.0.1", ("127.0.0.1", 2525)),
    ("/5300", 53, "0.0.0.0", ("0.0.0.0", 5300)),
    ("[::1]:25", 25, "127.0.0.1", ("::1", 25)),
    ("[::1]/0", 53, "0.0.0.0", ("::1", 0)),
    ("::1/5300", 53, "0.0.0.0", ("::1", 5300)),
    ("::1", 53, "0.0.0.0", ("::1", 53)),
    ("mx.example", 25, "127.0.0.1", ("mx.example", 25)),
])
def test_parse_hostport(spec, default_port, default_host, want):
    assert parse_hostport(spec, default_port, default_host=default_host) == want


@pytest.mark.parametrize("spec", ["host:http", "host:65536", "host/-1", "[::1]:x"])
def test_parse_hostport_rejects_bad_ports(spec):
    with pytest.raises(BadInput, match="bad address"):
        parse_hostport(spec, 53)
@pytest.mark.parametrize(("text", "expected"), [
    ("[192.0.2.1]", "192.0.2.1"),
    ("IPv6:2001:DB8::1", "2001:db8::1"),
    ("[IPv6:fe80::1%eth0]", "fe80::1"),
    ("2a01:4f8::5%x", "2a01:4f8::5"),
    ("[::ffff:192.0.2.1]", "192.0.2.1"),
    ("nope", None),
    ("192.0.2.1\0", None),
])
def test_literal_as_mail_writes_it(text, expected):
    """Trace reads headers: brackets, `IPv6:` and a zone id are dropped, then the same rule."""
    ip = parse_literal(text)
    assert (None if ip is None else str(ip)) == expected


@pytest.mark.parametrize(("value", "expected"), [
    (0xFFFF_C000_0201, "192.0.2.1"),
    (1, "::1"),
    (0x2001_0DB8 << 96 | 1, "2001:db8::1"),
    (0xC000_0201, "::c000:201"),  # IPv4-compatible is not v4-mapped
])
def test_ipv6_text(value, expected):
    assert ipv6_text(value) == expected
    assert ipv6_text(value) == canonical_ip(str(ipaddress.IPv6Address(value)))


@pytest.mark.parametrize(("host", "expected"), [
    ("192.0.2.77", "192.0.2.0/24"),
    ("::ffff:192.0.2.77", "192.0.2.0/24"),
    ("2001:db8:1:2ff::9", "2001:db8:1:200::/56"),
    ("testclient", "testclient"),
])
def test_client_network(host, expected):
    assert client_network(host) == expected
    assert client_network("192.0.2.77", v4_prefix=32) == "192.0.2.77/32"
