"""IPv4 zones: rbldnsd ip4set/ip4tset/ip4trie semantics, ENT, label rules, a naive model."""

from __future__ import annotations

from array import array

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailrep.zones import ENT
from mailrep.zones.ip4set import EXCLUDED, Ip4Builder, Ip4Set, octet_blocks
from mailrep.zones.value import Value
from tests.zones.util import ask, labels, rev4, short, zone_from

IP4SET = """\
# comment
; another comment
:127.0.0.4:Listed $ here
127.0.0.2
1.2.3.4 :3:custom $
1.2.3.5 :6
1.2.3.6 just text $
1.2.3.7 # default value, comment ignored
1.2.3.8 :9:
10.0.0.0/8
!10.1.2.3
10.1.2.4 :5:five
!10.2.0.0/16
10.2.3.0/24 :8:deep $
10.3/16
10.4.0.0-10.4.1.255
10.5.0.10-20 :11:small $
10.6.16-10.6.31
10.7.16-31
10.9.0.128/25
192.168.1.1/24
20.0.0.1-20.0.0.0
30.1.2.3 :0:zero
010.011.012.013
60.1.1.1 :14:a
60.1.1.1 :15:b
60.1.1.2 :16:x
!60.1.1.2
"""

CASES = [
    # exact /32 entries and their values
    ("127.0.0.2", ("127.0.0.4", "Listed 127.0.0.2 here")),
    ("127.0.0.1", None),
    ("1.2.3.4", ("127.0.0.3", "custom 1.2.3.4")),
    ("1.2.3.5", ("127.0.0.6", "Listed 1.2.3.5 here")),  # ':A' alone keeps the default TXT
    ("1.2.3.6", ("127.0.0.4", "just text 1.2.3.6")),  # text alone keeps the default A
    ("1.2.3.7", ("127.0.0.4", "Listed 1.2.3.7 here")),
    ("1.2.3.8", ("127.0.0.9", None)),  # ':A:' means no TXT at all
    ("1.2.3.9", None),
    # ranges, most specific wins, exclusions
    ("10.0.0.1", ("127.0.0.4", "Listed 10.0.0.1 here")),
    ("10.1.2.3", None),  # excluded /32 inside a listed /8
    ("10.1.2.4", ("127.0.0.5", "five")),
    ("10.2.0.1", None),  # excluded /16
    ("10.2.3.4", ("127.0.0.8", "deep 10.2.3.4")),  # a /24 inside the excluded /16
    ("10.3.4.5", ("127.0.0.4", "Listed 10.3.4.5 here")),
    ("10.4.1.255", ("127.0.0.4", "Listed 10.4.1.255 here")),
    ("10.5.0.9", ("127.0.0.4", "Listed 10.5.0.9 here")),  # via 10/8
    ("10.5.0.10", ("127.0.0.11", "small 10.5.0.10")),
    ("10.5.0.20", ("127.0.0.11", "small 10.5.0.20")),
    ("10.6.31.255", ("127.0.0.4", "Listed 10.6.31.255 here")),
    ("10.9.0.127", ("127.0.0.4", "Listed 10.9.0.127 here")),
    ("192.168.1.1", None),  # a CIDR with host bits is rejected, like rbldnsd without -e
    ("20.0.0.1", None),  # a backwards range is rejected
    ("30.1.2.3", None),  # A value 0 is invalid
    ("10.11.12.13", ("127.0.0.4", "Listed 10.11.12.13 here")),  # octets with leading zeros in files
    ("60.1.1.1", (("127.0.0.14", "127.0.0.15"), ("a", "b"))),  # duplicates: every value answers
    ("60.1.1.2", None),  # an exclusion beats a listing of the same key
    ("8.8.8.8", None),
]


@pytest.fixture
def ip4zone(tmp_path):
    return zone_from(tmp_path, "ip4set", IP4SET)


@pytest.mark.parametrize(("ip", "want"), CASES)
def test_ip4set_lookup(ip4zone, ip, want):
    zone, _ = ip4zone
    assert ask(zone, rev4(ip)) == want
    q = int.from_bytes(bytes(int(x) for x in ip.split(".")), "big")
    assert short(zone.lookup_ip4(q)) == want


def test_ip4set_warnings(ip4zone):
    _, snap = ip4zone
    bad_lines = sorted(int(w.split("(")[1].split(")")[0]) for w in snap.warnings)
    assert bad_lines == [21, 22, 23]


NAMES = [
    ("127", "ENT"), ("0.127", "ENT"), ("0.0.127", "ENT"),  # empty non-terminals (RFC 8020)
    ("1", "ENT"), ("2.1", "ENT"), ("3.2.1", "ENT"), ("4.2.1", None), ("9", None),
    ("60", "ENT"), ("1.1.60", "ENT"),
    ("02.0.0.127", None),  # leading zeros: not the canonical name
    ("256.0.0.127", None), ("x.0.0.127", None), ("-1.0.0.127", None),
    ("2.0.0.127.5", None), ("1.2.0.0.127", None),  # label count must be exactly 4
    ("0.0.0.0.127", None), ("", None),
]


@pytest.mark.parametrize(("name", "want"), NAMES)
def test_ip4_names(ip4zone, name, want):
    zone, _ = ip4zone
    assert ask(zone, name) == want


def test_ip4tset_and_ip4trie(tmp_path):
    tset, snap = zone_from(tmp_path, "ip4tset", ":127.0.0.5:t $\n1.2.3.4\n1.2.3.5 :6:ignored\n1.2.3\n!1.2.3.4\n")
    assert ask(tset, "4.3.2.1") == ("127.0.0.5", "t 1.2.3.4")  # no exclusions in a trivial set
    assert ask(tset, "5.3.2.1") == ("127.0.0.5", "t 1.2.3.5")  # per-line values are ignored
    assert len(snap.warnings) == 2
    trie, snap = zone_from(tmp_path, "ip4trie", "\n".join([
        ":2:t $", "10.0.0.0/8", "10.1.0.0/16 :3:s $", "!10.1.2.0/24", "10.1.2.128/25 :4:",
        "10.1.2.3/32 :5:h", "10.1.0.0/16 :6:dup", "1.2.3.4-1.2.3.5", "10.3.0.0/12", ""]), name="t.txt")
    assert ask(trie, rev4("10.0.0.1")) == ("127.0.0.2", "t 10.0.0.1")
    assert ask(trie, rev4("10.1.0.1")) == ("127.0.0.3", "s 10.1.0.1")  # first value of a dup wins
    assert ask(trie, rev4("10.1.2.1")) is None
    assert ask(trie, rev4("10.1.2.200")) == ("127.0.0.4", None)
    assert ask(trie, rev4("10.1.2.3")) == ("127.0.0.5", "h")
    assert len(snap.warnings) == 3


def test_ttl_soa_ns_and_substitutions(tmp_path):
    text = "\n".join([
        "$SOA 1h ns1.ex.com admin.ex.com 0 2h 10m 1w 1h", "$SOA 5 other. other. 1 1 1 1 1",
        "$NS 1d ns1.ex.com -ns3.ex.com ns2.ex.com", "$TTL 600", "$1 http://one", "$= see $= ($)",
        ":2:$1/$", "1.2.3.4", "1.2.3.5 =plain $$5 $", "1.2.3.6 :3:", "$TTL 300", "$bogus", ""])
    zone, snap = zone_from(tmp_path, "ip4set", text)
    assert zone.soa.mname == "ns1.ex.com" and zone.soa.serial == 7 and zone.soa.retry == 600
    assert zone.soa.ttl == 3600 and zone.soa.expire == 604800
    assert zone.ns == ("ns1.ex.com", "ns2.ex.com") and zone.ns_ttl == 86400
    hit = zone.lookup(labels("4.3.2.1"))
    # the base template is expanded; the entry's text goes in verbatim (rbldnsd 1.0 does that)
    assert hit.txt == b"see $1/$ (1.2.3.4)" and hit.ttl == 300  # last $TTL rules
    assert zone.lookup(labels("5.3.2.1")).txt == b"plain $5 1.2.3.5"
    assert zone.lookup(labels("6.3.2.1")).txt == b"see 1.2.3.6 (1.2.3.6)"  # base template, no text
    assert any("special" in w for w in snap.warnings)
    plain, _ = zone_from(tmp_path, "ip4set", "$1 one\n1.2.3.4 :5:x $1 $2 $$ $9 end $\n", name="p.txt")
    assert plain.lookup(labels("4.3.2.1")).txt == b"x one $2 $ $9 end 1.2.3.4"  # undefined $n stays


def test_long_txt_truncated_to_255(tmp_path):
    zone, _ = zone_from(tmp_path, "ip4set", "1.2.3.4 :2:" + "x" * 300 + "\n")
    assert zone.lookup(labels("4.3.2.1")).txt == b"x" * 255


def test_octet_blocks_examples():
    ip = lambda s: int.from_bytes(bytes(int(x) for x in s.split(".")), "big")  # noqa: E731
    assert list(octet_blocks(ip("1.2.3.0"), ip("1.2.4.255"))) == [(ip("1.2.3.0"), 24), (ip("1.2.4.0"), 24)]
    assert list(octet_blocks(ip("1.2.3.254"), ip("1.2.4.1"))) == [
        (ip("1.2.3.254"), 32), (ip("1.2.3.255"), 32), (ip("1.2.4.0"), 32), (ip("1.2.4.1"), 32)]
    assert list(octet_blocks(0, 0xFFFFFFFF)) == [(i << 24, 8) for i in range(256)]


def test_memory_layout_is_compact():
    ds = Ip4Set.from_arrays([(32, array("I", range(0, 4000, 4)), None, 1)], [None, Value((b"\x7f\0\0\2",), None, 60)])
    plen, _mask, addrs, idx, single, n = ds.levels[0]
    assert (plen, addrs.itemsize, idx, single, n) == (32, 4, None, 1, 1000)
    b = Ip4Builder()
    vals = [b.value_index(Value((bytes([127, 0, 0, i]),), None, 60)) for i in range(2, 6)]
    for k in range(100):
        b.add(k, 32, vals[k % 4])
    built = b.build()
    assert built.levels[0][3].typecode == "B"  # one byte of value index per entry


# ---- property: the compact structure answers like a naive list of ranges ---------------------

BASE = 0x0A000000  # 10.0.0.0: keep entries in a small universe so they collide often
addr = st.integers(min_value=BASE, max_value=BASE + 0x3FFFF)
entry = st.tuples(addr, st.integers(min_value=0, max_value=600), st.integers(min_value=0, max_value=3))
VALUES = [None] + [Value((bytes([127, 0, 0, i]),), (f"v{i} ".encode(), b""), 60) for i in (2, 3, 4)]


def _mask(p: int) -> int:
    return (0xFFFFFFFF << (32 - p)) & 0xFFFFFFFF


def _blocks_model(lo: int, hi: int) -> set[tuple[int, int]]:
    """Maximal octet-aligned blocks inside lo..hi, found without octet_blocks()."""
    out = set()
    for plen in (32, 24, 16, 8):
        size = 1 << (32 - plen)
        start = (lo + size - 1) & _mask(plen)
        for b in range(start, hi + 1, size):
            if b + size - 1 > hi:
                break
            parent = 8 if plen == 8 else plen - 8
            pb = b & _mask(parent)
            if plen != 8 and pb >= lo and pb + (1 << (32 - parent)) - 1 <= hi:
                continue
            out.add((b, plen))
    return out


def _model(entries):
    by_block: dict[tuple[int, int], list[int]] = {}
    for lo, span, v in entries:
        hi = min(lo + span, 0xFFFFFFFF)
        for blk in _blocks_model(lo, hi):
            by_block.setdefault(blk, []).append(v)
    return by_block


def _model_lookup(by_block, q):
    for plen in (32, 24, 16, 8):
        vs = by_block.get((q & _mask(plen), plen))
        if vs:
            if 0 in vs:
                return None
            return sorted({VALUES[v].a[0] for v in vs})
    return None


def _model_ent(by_block, base, bits):
    end = base + (1 << (32 - bits))
    for (b, plen), vs in by_block.items():
        if 0 in vs:
            continue
        if b < end and b + (1 << (32 - plen)) > base:
            return True
    return False


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(entry, max_size=25), st.lists(addr, min_size=1, max_size=40))
def test_ip4set_matches_naive_model(entries, queries):
    b = Ip4Builder(VALUES)
    for lo, span, v in entries:
        b.add_range(lo, min(lo + span, 0xFFFFFFFF), v)
    ds = b.build()
    model = _model(entries)
    probes = list(queries) + [lo for lo, _, _ in entries] + [lo + s + 1 for lo, s, _ in entries]
    for q in probes:
        got = ds.lookup_ip4(q)
        want = _model_lookup(model, q)
        assert (None if got is None else sorted(got.a)) == want, hex(q)
        name = tuple(str(q >> s & 255).encode() for s in (0, 8, 16, 24))
        assert ds.lookup(name) == got
        for k in (1, 2, 3):
            bits = 8 * k
            pre = name[4 - k :]
            assert (ds.lookup(pre) is ENT) == _model_ent(model, q & _mask(bits), bits)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(addr, st.integers(min_value=20, max_value=32), st.integers(0, 3)), max_size=25),
       st.lists(addr, min_size=1, max_size=40))
def test_trie_mode_longest_prefix_first_value(entries, queries):
    b = Ip4Builder(VALUES)
    first: dict[tuple[int, int], int] = {}
    for a, plen, v in entries:
        net = a & _mask(plen)
        if b.add_cidr_once(net, plen, v):
            first[(net, plen)] = v
        else:
            assert (net, plen) in first
    ds = b.build()
    for q in list(queries) + [a for a, _, _ in entries]:
        best = max(((p, v) for (n, p), v in first.items() if q & _mask(p) == n), default=None)
        want = None if best is None or best[1] == EXCLUDED else VALUES[best[1]].a
        got = ds.lookup_ip4(q)
        assert (None if got is None else got.a) == want


def _mapped(ip: str) -> tuple[bytes, ...]:
    import ipaddress
    return labels(".".join(reversed(ipaddress.IPv6Address("::ffff:" + ip).exploded.replace(":", ""))))


def test_ipv4_mapped_ipv6_names_answer_from_ipv4_data(ip4zone):
    """rbldnsd answers ::ffff:a.b.c.d (32 nibbles) from IPv4 datasets; so do we."""
    zone, _ = ip4zone
    assert short(zone.lookup(_mapped("1.2.3.4"))) == ("127.0.0.3", "custom 1.2.3.4")
    assert zone.lookup(_mapped("10.1.2.3")) is None and zone.lookup(_mapped("8.8.8.8")) is None
    full = _mapped("1.2.3.4")
    assert zone.lookup(full[8:]) is ENT  # ::ffff:1.2/16 as nibbles: something lies beneath
    assert zone.lookup(full[10:]) is ENT and zone.lookup(full[20:]) is ENT
    assert zone.lookup(_mapped("200.2.3.4")[6:]) is None  # 200.0.0.0/8: nothing beneath
    compat = labels(".".join(reversed("0" * 24 + "01020304")))  # ::1.2.3.4 is not mapped
    assert zone.lookup(compat) is None and zone.lookup(compat[8:]) is None


def test_ranges_flatten_to_intervals_at_the_edges_of_the_address_space():
    b = Ip4Builder(VALUES)
    assert b.add_cidr_once(0, 0, 1)  # 0/0: everything
    assert b.add_cidr_once(0xFFFFFF00, 24, 2)  # the last /24
    assert b.add_cidr_once(0xFFFFFFFF, 32, 0)  # ...but not the broadcast address
    assert b.add_cidr_once(0, 8, 0)  # nor 0/8
    assert b.add_cidr_once(0x0A000000, 8, 3)
    assert b.add_cidr_once(0x0A010000, 16, 0)
    ds = b.build()
    want = {0: None, 0x00FFFFFF: None, 0x01000000: 2, 0x09FFFFFF: 2, 0x0A000000: 4, 0x0A00FFFF: 4,
            0x0A010000: None, 0x0A01FFFF: None, 0x0A020000: 4, 0x0AFFFFFF: 4, 0x0B000000: 2,
            0xFFFFFEFF: 2, 0xFFFFFF00: 3, 0xFFFFFFFE: 3, 0xFFFFFFFF: None}
    for q, a in want.items():
        got = ds.lookup_ip4(q)
        assert (None if got is None else got.a[0][3]) == a, hex(q)
    starts = list(ds._seg_starts)
    assert starts == sorted(starts) and starts[0] == 0 and len(starts) <= 2 * 5 + 1


def test_default_line_rules(tmp_path):
    # a ':A' default line takes no TXT from the previous default line (rbldnsd parses default
    # lines against its built-in default)
    zone, _ = zone_from(tmp_path, "ip4set", ":7:first $\n1.1.1.1\n:2\n1.1.1.2\n1.1.1.3 :4\n")
    assert ask(zone, "1.1.1.1") == ("127.0.0.7", "first 1.1.1.1")
    assert ask(zone, "2.1.1.1") == ("127.0.0.2", None)
    assert ask(zone, "3.1.1.1") == ("127.0.0.4", None)
    # a trivial set has one value: its first good default line, even for entries above it
    tset, _ = zone_from(tmp_path, "ip4tset", "1.1.1.1\n:x:bad\n:3:first $\n:4:second $\n1.1.1.2\n", name="t.txt")
    assert ask(tset, "1.1.1.1") == ("127.0.0.3", "first 1.1.1.1")
    assert ask(tset, "2.1.1.1") == ("127.0.0.3", "first 1.1.1.2")
