from __future__ import annotations

import pytest

from mailrep.errors import BadInput
from mailrep.net import canonical, parse_key
from mailrep.policy.config import parse_networks
from mailrep.policy.ranges import never_listed_reason


@pytest.mark.parametrize(
    "key, reason_part",
    [
        ("45.33.1.2", None),
        ("8.8.8.0/24", None),
        ("2a00:1450:4001::1", None),
        ("10.1.2.3", "RFC 1918"),
        ("172.31.255.255", "RFC 1918"),
        ("192.168.0.1", "RFC 1918"),
        ("100.64.0.1", "shared"),
        ("127.0.0.2", "loopback"),
        ("169.254.1.1", "link-local"),
        ("192.0.2.1", "documentation"),
        ("198.51.100.7", "documentation"),
        ("203.0.113.9", "documentation"),
        ("198.18.0.1", "benchmarking"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("0.1.2.3", "this network"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fd00::1", "unique local"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "documentation"),
        ("::ffff:10.0.0.1", "RFC 1918"),  # IPv4-mapped is read as IPv4
        ("10.0.0.0/16", "RFC 1918"),
        ("8.0.0.0/6", "RFC 1918"),  # a network overlapping a private range
    ],
)
def test_never_listed(key, reason_part):
    reason = never_listed_reason(parse_key(key))
    if reason_part is None:
        assert reason is None
    else:
        assert reason is not None and reason_part in reason


def test_operator_exemptions():
    ex = parse_networks(["45.33.0.0/16", "2a00:1450::/32"])
    assert "exemption" in never_listed_reason(parse_key("45.33.200.1"), ex)
    assert "exemption" in never_listed_reason(parse_key("45.33.1.0/24"), ex)
    assert "exemption" in never_listed_reason(parse_key("2a00:1450:4001::1"), ex)
    assert never_listed_reason(parse_key("45.34.0.1"), ex) is None


@pytest.mark.parametrize(
    "text, canon",
    [("45.33.1.2", "45.33.1.2"), (" 2A00:1450:4001:0::1 ", "2a00:1450:4001::1"),
     ("::ffff:45.33.1.2", "45.33.1.2"), ("45.33.1.0/24", "45.33.1.0/24"), ("45.33.1.2/32", "45.33.1.2")],
)
def test_canonical(text, canon):
    assert canonical(text) == canon


@pytest.mark.parametrize("text", ["", "x", "1.2.3", "45.33.1.2/24", "1.2.3.4/33", "1.2.3.4.in-addr.arpa"])
def test_bad_keys(text):
    with pytest.raises(BadInput):
        canonical(text)
