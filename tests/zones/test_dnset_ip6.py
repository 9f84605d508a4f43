"""Domain (dnset) and IPv6 (ip6tset/ip6trie) zones, and a naive model for IPv6 prefixes."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailrep.zones import ENT
from mailrep.zones.dnset import DnBuilder
from mailrep.zones.ip6parse import cidr, text
from mailrep.zones.ip6set import Ip6Builder
from mailrep.zones.value import Value
from tests.zones.util import ask, labels, zone_from

DNSET = """\
:127.0.0.2:Domain $ listed
example.com
*.wild.com :3:wild $
.both.com :4
!bad.both.com
!*.deep.both.com
sub.wild.com :5:exact $
Mixed.Case.COM
trailing.dot.com.
!excluded.org
*.excluded.org
!x.y.excluded.org
dup.com :6:one
dup.com :7:two
*.
"""

DN_CASES = [
    ("example.com", ("127.0.0.2", "Domain example.com listed")),
    ("www.example.com", None),  # exact entries do not cover subdomains
    ("com", "ENT"),  # a name above an entry exists (NODATA)
    ("wild.com", "ENT"),  # *.x lists below x, not x
    ("a.wild.com", ("127.0.0.3", "wild wild.com")),  # '$' is the wildcard's base, as in rbldnsd
    ("b.a.wild.com", ("127.0.0.3", "wild wild.com")),  # any depth
    ("sub.wild.com", ("127.0.0.5", "exact sub.wild.com")),  # exact beats wildcard
    ("x.sub.wild.com", ("127.0.0.3", "wild wild.com")),
    ("both.com", ("127.0.0.4", "Domain both.com listed")),  # .x lists x and below
    ("a.both.com", ("127.0.0.4", "Domain both.com listed")),
    ("bad.both.com", None),  # an exact exclusion
    ("x.bad.both.com", ("127.0.0.4", "Domain both.com listed")),  # ...covers the name only
    ("x.deep.both.com", None),  # a wildcard exclusion
    ("deep.both.com", ("127.0.0.4", "Domain both.com listed")),
    ("mixed.case.com", ("127.0.0.2", "Domain mixed.case.com listed")),
    ("trailing.dot.com", ("127.0.0.2", "Domain trailing.dot.com listed")),
    ("excluded.org", None),
    ("a.excluded.org", ("127.0.0.2", "Domain excluded.org listed")),
    ("x.y.excluded.org", None),
    ("z.x.y.excluded.org", ("127.0.0.2", "Domain excluded.org listed")),
    ("dup.com", (("127.0.0.6", "127.0.0.7"), ("one", "two"))),
    ("nothing.net", None),
]


@pytest.mark.parametrize(("name", "want"), DN_CASES)
def test_dnset(tmp_path, name, want):
    zone, snap = zone_from(tmp_path, "dnset", DNSET, zone="dbl.example")
    assert ask(zone, name) == want
    assert len(snap.warnings) == 1  # '*.' is not a domain


IP6TRIE = """\
:127.0.1.2: Listed, see http://example.com/lookup?$
2001:21ab:c000/36
2001:21ab:def7:4242 :127.0.1.3: This one smells funny
2605:6001:42::/52
::1
!2605:6001:42::bead
2001:db8::/32 :4:doc
2001:db8:1::/48 :5:more
!2001:db8:1:1::/64
2001:db8::/32 :7:dup
2001:db8:0:0:0:0:0:1/64
::ffff:7f00:2
"""


def rev6(ip: str) -> str:
    return ".".join(reversed(ipaddress.IPv6Address(ip).exploded.replace(":", "")))


IP6_CASES = [
    ("2001:21ab:c000::1", ("127.0.1.2", "Listed, see http://example.com/lookup?2001:21ab:c000::1")),
    ("2001:21ab:cfff::1", ("127.0.1.2", "Listed, see http://example.com/lookup?2001:21ab:cfff::1")),
    ("2001:21ab:d000::1", None),
    ("2001:21ab:def7:4242::9", ("127.0.1.3", "This one smells funny")),
    ("2605:6001:42::bead", None),
    ("::1", ("127.0.1.2", "Listed, see http://example.com/lookup?::1")),  # '::' is not a ':A' line
    ("::ffff:7f00:2", ("127.0.1.2", "Listed, see http://example.com/lookup?::ffff:7f00:2")),
    ("2001:db8:9::1", ("127.0.0.4", "doc")),  # the first value of a duplicated prefix wins
    ("2001:db8:1:9::1", ("127.0.0.5", "more")),
    ("2001:db8:1:1::1", None),
    ("2001:db9::1", None),
]


@pytest.mark.parametrize(("ip", "want"), IP6_CASES)
def test_ip6trie(tmp_path, ip, want):
    zone, snap = zone_from(tmp_path, "ip6trie", IP6TRIE, zone="v6.example")
    assert ask(zone, rev6(ip)) == want
    assert len(snap.warnings) == 2  # the duplicate and the /64 with host bits


def test_ip6tset_and_names(tmp_path):
    text_ = ":127.0.0.2:v6 $\n2001:db8:1:2\n!2001:db8:1:2::5\n2001:db8:1:3 :5:ignored\n" \
            "2001:db8:1:4::/64\n2001:db8::\n2001:db8:1:5:0:0:0:1\n"
    zone, snap = zone_from(tmp_path, "ip6tset", text_, zone="v6.example")
    assert ask(zone, rev6("2001:db8:1:2::1")) == ("127.0.0.2", "v6 2001:db8:1:2::1")
    assert ask(zone, rev6("2001:db8:1:2::5")) is None
    assert ask(zone, rev6("2001:db8:1:3::5")) == ("127.0.0.2", "v6 2001:db8:1:3::5")
    assert ask(zone, rev6("2001:db8:1:4::5")) is None
    assert len(snap.warnings) == 3
    full = labels(rev6("2001:db8:1:2::1"))
    assert zone.lookup(full[16:]) is ENT  # the /64 exists as an empty non-terminal
    assert zone.lookup(full[31:]) is ENT
    assert zone.lookup(labels(rev6("3001:db8:1:2::1"))[16:]) is None
    assert zone.lookup(full[1:]) is ENT  # 31 nibbles: not an address, but a name above one
    assert zone.lookup((*full, b"0")) is None  # 33 labels
    assert zone.lookup((b"g", *full[1:])) is None  # not a nibble
    assert zone.lookup((b"10", *full[2:])) is None  # two hex digits in one label


@pytest.mark.parametrize(("src", "want"), [
    ("2001:db8::/32", ("2001:db8::", 32, False)),
    ("2001:db8:1:2", ("2001:db8:1:2::", 64, False)),
    ("::1", ("::1", 128, False)),
    ("2001:db8::1/64", ("2001:db8::", 64, True)),
    ("2001", None), ("1:2:3:4:5:6:7:8:9", None), ("1::2::3", None), ("12345::", None),
    ("2001:db8::/129", None),
])
def test_ip6_parse(src, want):
    got = cidr(src)
    assert (None if got is None else (text(got[0]), got[1], got[3])) == want


@pytest.mark.parametrize(("ip", "want"), [
    ("2001:db8::1", "2001:db8::1"), ("::", "::"), ("1:0:0:2:0:0:0:3", "1:0:0:2::3"),
    ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"), ("::ffff:7f00:2", "::ffff:7f00:2"),
])
def test_ip6_text(ip, want):
    assert text(int(ipaddress.IPv6Address(ip))) == want


VALS = [None] + [Value((bytes([127, 0, 0, i]),), None, 60) for i in (2, 3, 4)]
a6 = st.integers(min_value=0, max_value=(1 << 20) - 1).map(lambda x: (0x20010DB8 << 96) | (x << 88))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(a6, st.integers(min_value=32, max_value=128), st.integers(0, 3)), max_size=20),
       st.lists(a6, min_size=1, max_size=20))
def test_ip6_matches_naive_model(entries, queries):
    b = Ip6Builder()
    for v in VALS[1:]:
        b.value_index(v)
    first: dict[tuple[int, int], int] = {}
    for a, plen, v in entries:
        net = a >> (128 - plen) << (128 - plen)
        if b.add(net, plen, v, first_wins=True):
            first[(net, plen)] = v
    ds = b.build()
    for q in list(queries) + [a for a, _, _ in entries]:
        best = max(((p, v) for (n, p), v in first.items() if q >> (128 - p) << (128 - p) == n), default=None)
        want = None if best is None or best[1] == 0 else VALS[best[1]].a
        got = ds.lookup_ip6(q)
        assert (None if got is None else got.a) == want


# ---- property: DnSet answers like a naive reading of the dnset rules ------------------------


label = st.sampled_from(["a", "b", "c"])
dname = st.lists(label, min_size=1, max_size=4).map(".".join)
dn_entry = st.tuples(st.sampled_from(["", "*.", "."]), dname, st.integers(0, 3))


def _dn_model(entries, q: str):
    exact: dict[str, set[int]] = {}
    wild: dict[str, set[int]] = {}
    for form, name, v in entries:
        if form in ("", "."):
            exact.setdefault(name, set()).add(v)
        if form in ("*.", "."):
            wild.setdefault(name, set()).add(v)

    def decide(vs):
        return None if 0 in vs else sorted(VALS[v].a[0] for v in vs)

    if q in exact:
        return decide(exact[q])
    parts = q.split(".")
    for i in range(1, len(parts)):
        base = ".".join(parts[i:])
        if base in wild:
            return decide(wild[base])
    return None


@settings(max_examples=150, deadline=None)
@given(st.lists(dn_entry, max_size=12), st.lists(dname, min_size=1, max_size=10))
def test_dnset_matches_naive_model(entries, queries):
    b = DnBuilder()
    for v in VALS[1:]:
        b.value_index(v)
    for form, name, v in entries:
        b.add(name.encode(), v, exact=form in ("", "."), wild=form in ("*.", "."))
    ds = b.build()
    for q in list(queries) + [n for _, n, _ in entries]:
        got = ds.lookup(tuple(q.encode().split(b".")))
        want = _dn_model(entries, q)
        if want is None:
            assert got is None or got is ENT
            # ENT exactly when some listed entry lies strictly below (or a wildcard at) the name
            below = any(v and (n.endswith("." + q) or (f != "" and n == q)) for f, n, v in entries)
            if got is ENT:
                assert below
        else:
            assert got is not None and got is not ENT and sorted(got.a) == want
