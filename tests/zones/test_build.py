"""build_snapshot: zones from the store's listings, RFC 5782 test points, value checks."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailrep.zones import ENT, build_snapshot
from tests.zones.util import labels, short

ENTRIES = [
    ("bl", "192.0.2.1", "127.0.0.2", None),
    ("bl", "198.51.100.0/24", "127.0.0.3", "net $"),
    ("bl", "198.51.100.64/26", "127.0.0.5", "inner $"),
    ("bl", "!198.51.100.7", "127.0.0.2", None),
    ("bl", "127.0.0.0/8", "127.0.0.4", None),  # would list the test point 127.0.0.1
    ("bl", "2001:db8:1::/48", "127.0.0.2", None),
    ("bl", "::ffff:7f00:0/104", "127.0.0.2", None),
    ("dbl", "spam.example", "127.0.1.2", None),
    ("dbl", "*.evil.example", "127.0.1.3", "dom $"),
    ("dbl", ".invalid", "127.0.1.2", None),
    ("wl", "203.0.113.5", "127.0.2.1", "good $"),
    ("bl", "x.example", "127.255.255.2", None),  # reserved error range: skipped
    ("bl", "1.2.3.4", "10.0.0.2", None),  # outside 127/8: skipped
    ("bl", "1.2.3.4", "127.0.0.300", None),  # not an address: skipped
    ("zz", "1.2.3.4", "127.0.0.2", None),  # no such zone: skipped
    ("bl", "300.1.2.3/8", "127.0.0.2", None),  # not a network: skipped
    ("bl", "192.0.2.128/24", "127.0.0.2", None),  # host bits set: skipped
]
SITE = "Blocked - see https://rep.example/lookup?ip="


@pytest.fixture(scope="module")
def snap():
    return build_snapshot(ENTRIES, base="Rep.Test.", serial=77, site_url="https://rep.example/")


def test_zones_soa_and_warnings(snap):
    assert sorted(snap.zones) == ["bl.rep.test", "dbl.rep.test", "wl.rep.test"] and snap.serial == 77
    for z in snap:
        assert z.soa.serial == 77 and z.ns == ("ns1.rep.test",) and z.soa.rname == "hostmaster.rep.test"
    assert len(snap.warnings) == 6


@pytest.mark.parametrize(("zone", "name", "want"), [
    ("bl", "1.2.0.192", ("127.0.0.2", SITE + "192.0.2.1")),
    ("bl", "9.100.51.198", ("127.0.0.3", "net 198.51.100.9")),
    ("bl", "70.100.51.198", ("127.0.0.5", "inner 198.51.100.70")),  # most specific prefix wins
    ("bl", "7.100.51.198", None),  # exclusion
    ("bl", "5.0.0.127", ("127.0.0.4", SITE + "127.0.0.5")),
    ("bl", "4.3.2.1", None),
    ("bl", "100.51.198", "ENT"), ("bl", "198", "ENT"), ("bl", "203", None),
    # four one-digit labels are IPv6 nibbles too: 0.0.0.0 lies above the ::ffff:7f00:2 and
    # 2001:db8:1:: names, so it exists (NODATA, as a secondary holding the export answers)
    ("bl", "0.0.0.0", "ENT"), ("bl", "1.0.0.2", "ENT"), ("bl", "1.0.0.0", None),
    ("dbl", "spam.example", ("127.0.1.2", SITE + "spam.example")),
    ("dbl", "a.b.evil.example", ("127.0.1.3", "dom evil.example")),
    ("dbl", "evil.example", "ENT"), ("dbl", "example", "ENT"),
    ("dbl", "x.invalid", ("127.0.1.2", SITE + "invalid")),
    ("wl", "5.113.0.203", ("127.0.2.1", "good 203.0.113.5")),
    ("wl", "5.113.0.204", None),
])
def test_lookups(snap, zone, name, want):
    z = snap.zones[f"{zone}.rep.test"]
    assert short(z.lookup(labels(name))) == want


def _rev6(ip: str) -> str:
    return ".".join(reversed(ipaddress.IPv6Address(ip).exploded.replace(":", "")))


@pytest.mark.parametrize("zone", ["bl", "dbl", "wl"])
def test_rfc5782_test_points_in_every_zone(snap, zone):
    z = snap.zones[f"{zone}.rep.test"]
    for listed in ("2.0.0.127", _rev6("::ffff:7f00:2"), "test"):
        hit = z.lookup(labels(listed))
        assert hit is not None and hit is not ENT and hit.a == (b"\x7f\x00\x00\x02",), listed
    for never in ("1.0.0.127", _rev6("::ffff:7f00:1"), "invalid"):
        assert z.lookup(labels(never)) is None, never  # even where a range would cover it
    assert z.lookup_ip4(0x7F000002) is not None and z.lookup_ip4(0x7F000001) is None


def test_ipv6_entries(snap):
    z = snap.zones["bl.rep.test"]
    hit = z.lookup(labels(_rev6("2001:db8:1:ffff::9")))
    assert hit is not None and hit.txt == (SITE + "2001:db8:1:ffff::9").encode()
    assert z.lookup(labels(_rev6("2001:db8:2::9"))) is None
    assert z.lookup(labels(_rev6("::ffff:7f00:9"))) is not None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2**32 - 1), st.sampled_from([8, 16, 20, 24, 28, 32]), st.booleans()),
                max_size=15), st.lists(st.integers(0, 2**32 - 1), max_size=20))
def test_built_zone_matches_longest_prefix_model(nets, queries):
    entries, model = [], {}
    for a, plen, excl in nets:
        net = ipaddress.IPv4Network((a, plen), strict=False)
        if net.overlaps(ipaddress.IPv4Network("127.0.0.0/8")):
            continue
        key = ("!" if excl else "") + str(net)
        entries.append(("bl", key, "127.0.0.3", None))
        model.setdefault(net, excl)
        model[net] = model[net] or excl  # an exclusion of the same prefix wins
    z = build_snapshot(entries, serial=1).zones["bl.mailrep.test"]
    for q in list(queries) + [int(n.network_address) for n in model]:
        ip = ipaddress.IPv4Address(q)
        if ip in ipaddress.IPv4Network("127.0.0.0/8"):
            continue
        best = max((n for n in model if ip in n), key=lambda n: n.prefixlen, default=None)
        want = best is not None and not model[best]
        assert (z.lookup_ip4(q) is not None) == want
