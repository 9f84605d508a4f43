"""The C Table answers a query either not at all (None) or with exactly the bytes of
mailrep.dns.answer.answer(): random and mutated queries against snapshots with /32s, ranges,
exclusions, several values, TXT templates, the 16-bit index, and `mailrep serve`'s Mixed zones."""

from __future__ import annotations

import os
import random
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailrep.dns import fastpath
from mailrep.dns.acl import keyed_view
from mailrep.dns.answer import answer
from mailrep.zones.build import Mixed, build_snapshot
from mailrep.zones.dnset import DnBuilder
from mailrep.zones.ip4set import INDEX_MIN, Ip4Builder
from mailrep.zones.ip6set import Ip6Builder
from mailrep.zones.value import Value, compile_template
from mailrep.zones.zone import Snapshot, Soa, Zone

if not fastpath.AVAILABLE:
    if os.environ.get("CI") == "true":  # CI builds the extension: its absence is a failure
        pytest.fail(f"mailrep.dns._fastpath is not built: {fastpath.MISSING}", pytrace=False)
    pytest.skip(f"mailrep.dns._fastpath is not built: {fastpath.MISSING}", allow_module_level=True)

ZONE = "bl.mailrep.test"
LISTED = b"\x7f\x00\x00\x02"


def soa(zone: str, serial: int) -> Soa:
    return Soa(f"ns.{zone}", f"hostmaster.{zone}", serial, 3600, 600, 86400, 60, 300)


def ip(text: str) -> int:
    a, b, c, d = (int(x) for x in text.split("."))
    return a << 24 | b << 16 | c << 8 | d


def small_set() -> tuple[Ip4Builder, list[int]]:
    """/32s with several values (one A, two A, no TXT, TXT with the key twice, a 700-octet TXT),
    ranges (octet-aligned and not), an exclusion inside a range, a /32 inside a /24."""
    b = Ip4Builder()
    default = b.value_index(Value((LISTED,), compile_template("Blocked - see https://mailrep.test/lookup?ip=$"), 2100))
    two_a = b.value_index(Value((LISTED, b"\x7f\x00\x00\x04"), compile_template("two $ values"), 60))
    no_txt = b.value_index(Value((b"\x7f\x00\x00\x03",), None, 300))
    key_twice = b.value_index(Value((LISTED,), compile_template("$ is $ ($$5)"), 0))
    long_txt = b.value_index(Value((LISTED,), compile_template("$-" * 55), 4294967295 >> 1))
    static = b.value_index(Value((b"\x7f\x00\x00\x0a",), compile_template("static text"), 10))
    empty_txt = b.value_index(Value((LISTED,), (b"",), 10))
    keys = []
    for text, vi in (("127.0.0.2", default), ("192.0.2.10", no_txt), ("198.51.100.7", long_txt),
                     ("10.20.30.40", default), ("10.20.30.41", two_a), ("1.2.3.4", key_twice),
                     ("203.0.113.77", static), ("0.0.0.0", default), ("255.255.255.255", default),
                     ("9.9.9.9", empty_txt)):
        b.add(ip(text), 32, vi)
        keys.append(ip(text))
    b.add_range(ip("203.0.113.0"), ip("203.0.113.255"), static)  # a /24 with a /32 inside
    b.add_range(ip("100.64.0.5"), ip("100.64.2.9"), two_a)  # cut into /32s and /24s
    b.add_range(ip("11.0.0.0"), ip("11.255.255.255"), default)  # a /8
    b.add(ip("11.1.2.3"), 32, 0)  # an exclusion inside the /8
    b.add(ip("127.0.0.1"), 32, 0)
    keys += [ip("198.51.100.7")] * 8  # the long TXT: truncation at each payload size
    keys += [ip("203.0.113.1"), ip("100.64.1.200"), ip("100.64.2.9"), ip("100.64.2.10"),
             ip("11.1.2.3"), ip("11.1.2.4"), ip("127.0.0.1")]
    return b, keys


def ip4_snapshot() -> tuple[Snapshot, list[int]]:
    b, keys = small_set()
    zone = Zone(ZONE, soa=soa(ZONE, 7), ns=[f"ns.{ZONE}", "ns2.elsewhere.example"], datasets=[b.build()])
    # a second zone, with a longer origin at another apex offset, per-entry value indexes
    b2 = Ip4Builder()
    vals = [b2.value_index(Value((bytes((127, 0, 0, i)),), compile_template(f"v{i} $"), 100 + i))
            for i in range(2, 6)]
    for i in range(200):
        b2.add(ip(f"10.0.{i}.{i % 7}"), 32, vals[i % 4])
    b2.add(ip("127.0.0.2"), 32, vals[0])
    z2 = "very.long.origin.name.example"
    zone2 = Zone(z2, soa=soa(z2, 7), datasets=[b2.build()])
    return Snapshot([zone, zone2], serial=7), keys + [ip(f"10.0.{i}.{i % 7}") for i in range(9)]


def nested_snapshot() -> Snapshot:
    """A zone with another zone's origin beneath it: Snapshot.find prefers the longer one, so
    the outer zone stays out of the Table (the inner one is in)."""
    b, _ = small_set()
    inner = Ip4Builder()
    inner.add(ip("127.0.0.2"), 32, inner.value_index(Value((LISTED,), None, 60)))
    inner.add(ip("4.3.2.1"), 32, 1)
    return Snapshot([Zone(ZONE, soa=soa(ZONE, 8), datasets=[b.build()]),
                     Zone(f"4.{ZONE}", soa=soa(f"4.{ZONE}", 8), datasets=[inner.build()])], serial=8)


def big_snapshot() -> tuple[Snapshot, list[int]]:
    """Over INDEX_MIN /32s, so the 16-bit index is in use."""
    rnd = random.Random(5782)
    b, keys = small_set()
    vi = b.value_index(Value((LISTED,), compile_template("big $"), 2100))
    extra = [rnd.getrandbits(32) for _ in range(INDEX_MIN + 1000)]
    for q in extra:
        b.add(q, 32, vi)
    ds = b.build()
    assert ds.index16 is not None
    return Snapshot([Zone(ZONE, soa=soa(ZONE, 9), datasets=[ds])], serial=9), keys + extra[:50]


def mixed_snapshots() -> tuple[Snapshot, Snapshot, list[int]]:
    """mailrep serve's zones: one with IPv6 and domain entries (misses must go to Python: the
    four one-digit names below are IPv6 empty non-terminals), one whose ip6/dn parts are empty."""
    entries = [("bl", "192.0.2.1", "127.0.0.2", None), ("bl", "198.51.100.0/24", "127.0.0.3", "net $"),
               ("bl", "!198.51.100.9", "127.0.0.2", None), ("bl", "2001:db8::/32", "127.0.0.2", None),
               ("bl", "::1", "127.0.0.2", None), ("bl", "spam.example", "127.0.0.2", None),
               ("dbl", "1.2.3.4", "127.0.0.2", None), ("dbl", "*.example", "127.0.0.5", "dom $")]
    full = build_snapshot(entries, base="mailrep.test", serial=11)
    b, keys = small_set()
    bare = Mixed(b.build(), Ip6Builder().build(), DnBuilder().build())
    only4 = Snapshot([Zone(ZONE, soa=soa(ZONE, 12), datasets=[bare])], serial=12)
    return full, only4, [*keys, ip("192.0.2.1"), ip("198.51.100.9"), ip("198.51.100.10"), ip("1.2.3.4")]


SNAP4, KEYS4 = ip4_snapshot()
BIG, KEYS_BIG = big_snapshot()
MIXED, MIXED4, KEYS_MIXED = mixed_snapshots()
NESTED = nested_snapshot()
KEYED = keyed_view(SNAP4, {ZONE: ["k3y", "other"]})  # keyed access: only <key>.<zone> answers
CASES = [(SNAP4, KEYS4), (BIG, KEYS_BIG), (MIXED, KEYS_MIXED), (MIXED4, KEYS_MIXED),
         (NESTED, [*KEYS4, ip("4.3.2.1")]), (KEYED, KEYS4)]
TABLES = [fastpath.table_for(s) for s, _ in CASES]


def wire_name(labels: list[bytes]) -> bytes:
    return b"".join(bytes((len(x),)) + x for x in labels) + b"\0"


def rev(q: int) -> list[bytes]:
    return [str(q >> s & 255).encode() for s in (0, 8, 16, 24)]


def build_query(qid: int, flags: int, labels: list[bytes], qtype: int, qclass: int,
                opt: bytes | None, counts: tuple[int, int, int] | None = None, tail: bytes = b"") -> bytes:
    an, ns, ar = counts if counts is not None else (0, 0, 1 if opt is not None else 0)
    return (struct.pack("!HHHHHH", qid, flags, 1, an, ns, ar) + wire_name(labels)
            + struct.pack("!HH", qtype, qclass) + (opt or b"") + tail)


def opt_record(payload: int, ext_rcode: int = 0, version: int = 0, flags: int = 0, rdata: bytes = b"") -> bytes:
    return b"\0" + struct.pack("!HHBBHH", 41, payload, ext_rcode, version, flags, len(rdata)) + rdata


def origin_labels(snap: Snapshot) -> list[list[bytes]]:
    return [list(z.labels) for z in snap.zones.values()] + [[b"bl", b"mailrep", b"test"], [b"example"], []]


def recase(draw: st.DrawFn, labels: list[bytes]) -> list[bytes]:
    if not draw(st.booleans()):
        return labels
    return [bytes(c ^ 0x20 if 97 <= c <= 122 and draw(st.booleans()) else c for c in x) for x in labels]


ODD_LABELS = [b"01", b"00", b"256", b"999", b"a", b"1a", b"-1", b"0", b"1", b"\x00", b"1234", b"*", b"A", b"f"]
ASPECTS = ("label", "count", "nibbles", "origin", "type", "class", "flags", "opt", "records", "tail",
           "cut", "byte")


@st.composite
def queries(draw: st.DrawFn, case: int) -> bytes:
    """A common DNSBL query (a listed or random key, A or TXT, maybe EDNS with DO, any case)
    with 0-3 aspects mutated, so that about half of them are ones C answers."""
    snap, keys = CASES[case]
    mutate = set(draw(st.lists(st.sampled_from(ASPECTS), max_size=3))) if draw(st.booleans()) else set()
    sub = rev(draw(st.sampled_from(keys)) if draw(st.booleans()) else draw(st.integers(0, 2**32 - 1)))
    if "label" in mutate:
        for i in draw(st.lists(st.integers(0, 3), min_size=1, max_size=4)):
            sub[i] = draw(st.sampled_from(ODD_LABELS))
    if "count" in mutate:  # other label counts
        sub = [draw(st.sampled_from(ODD_LABELS[:9])) for _ in range(draw(st.sampled_from([0, 1, 2, 3, 5, 6])))]
    if "nibbles" in mutate:  # four one-digit labels: IPv6 nibbles too
        sub = [str(draw(st.integers(0, 9))).encode() for _ in range(4)]
    origins = origin_labels(snap)
    origin = draw(st.sampled_from(origins if "origin" in mutate else origins[:-3]))
    labels = recase(draw, sub + origin)
    qtype = draw(st.sampled_from([6, 2, 15, 28, 255, 41, 252, 0, 65535] if "type" in mutate else [1, 16]))
    qclass = draw(st.sampled_from([3, 255, 254, 0, 256])) if "class" in mutate else 1
    flags = draw(st.sampled_from([0, 0x0100, 0x0110, 0x0010, 0x0200, 0x0020, 0x0040, 0x0300]))
    if "flags" in mutate:
        flags = draw(st.sampled_from([0x8000, 0x0800, 0x2800, 0x7F00, 0x8100])) | draw(st.integers(0, 0xFFFF))
    opt = None
    if draw(st.booleans()) or "opt" in mutate:
        payload = draw(st.sampled_from([0, 1, 511, 512, 513, 700, 1232, 1233, 4096, 65535]))
        odd = "opt" in mutate
        opt = opt_record(payload, ext_rcode=draw(st.sampled_from([0, 1] if odd else [0])),
                         version=draw(st.sampled_from([0, 1, 255] if odd else [0])),
                         flags=draw(st.sampled_from([0, 0x8000, 0x8001, 0x0001, 0x7FFF])),
                         rdata=draw(st.sampled_from([b"", b"\x00\x0a\x00\x08abcdefgh"] if odd else [b""])))
    counts = None
    tail = b""
    if "records" in mutate:
        if draw(st.booleans()):
            counts = (draw(st.integers(0, 2)), draw(st.integers(0, 2)), draw(st.integers(0, 3)))
        else:  # an extra record after the question (and the OPT)
            tail = wire_name([b"x"]) + struct.pack("!HHIH", 1, 1, 60, 4) + b"\x01\x02\x03\x04"
            counts = (0, 0, (1 if opt is not None else 0) + 1)
    if "tail" in mutate:
        tail += draw(st.binary(min_size=1, max_size=3))
    q = build_query(draw(st.integers(0, 0xFFFF)), flags, labels, qtype, qclass, opt, counts, tail)
    if "cut" in mutate:
        q = q[: draw(st.integers(0, len(q) - 1))]
    if "byte" in mutate and q:  # one byte changed anywhere
        i = draw(st.integers(0, len(q) - 1))
        q = q[:i] + bytes((draw(st.integers(0, 255)),)) + q[i + 1 :]
    return q


def check(case: int, q: bytes) -> bytes | None:
    got = TABLES[case].answer(q)
    if got is not None:
        assert got == answer(q, CASES[case][0]), q.hex()
    return got


@pytest.mark.parametrize("case", range(len(CASES)))
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_table_answer_is_none_or_the_python_bytes(case: int, data: st.DataObject) -> None:
    check(case, data.draw(queries(case)))


@pytest.mark.parametrize("case", range(len(CASES)))
@settings(max_examples=500, deadline=None)
@given(raw=st.binary(min_size=0, max_size=80))
def test_random_bytes_after_a_valid_header_never_differ(case: int, raw: bytes) -> None:
    q = struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + raw
    check(case, q)
    check(case, raw)


def plain(q: int, qtype: int = 1, *, zone: str = ZONE, edns: int | None = None, do: bool = False,
          flags: int = 0x0100) -> bytes:
    labels = [*rev(q), *(x.encode() for x in zone.split("."))]
    opt = opt_record(edns, flags=0x8000 if do else 0) if edns is not None else None
    return build_query(4242, flags, labels, qtype, 1, opt)


def test_the_common_queries_are_answered_in_c() -> None:
    """Not vacuous: hits, misses, exclusions, TXT (split and truncated), EDNS and DO in C."""
    for q in [*KEYS4, ip("8.8.8.8"), ip("11.200.0.1"), ip("100.64.1.1")]:
        for qtype in (1, 16):
            for edns, do in ((None, False), (512, False), (1232, True), (4096, False)):
                query = plain(q, qtype, edns=edns, do=do)
                assert check(0, query) is not None, query.hex()
    assert check(0, plain(ip("10.0.3.3"), 16, zone="very.long.origin.name.example")) is not None


def test_what_c_hands_back() -> None:
    table = TABLES[0]
    assert table.answer(plain(ip("127.0.0.2"), 6)) is None  # SOA type
    assert table.answer(plain(ip("127.0.0.2"), 255)) is None  # ANY
    assert table.answer(plain(ip("127.0.0.2"), 1, zone="elsewhere.example")) is None
    assert table.answer(plain(ip("127.0.0.2"), 1, flags=0x0900)) is None  # opcode IQUERY
    assert table.answer(plain(ip("127.0.0.2"), 1, flags=0x8100)) is None  # a response
    assert table.answer(plain(ip("127.0.0.2"), 1)[:-1]) is None


def test_a_zone_with_a_zone_beneath_it_is_left_to_python() -> None:
    table = TABLES[4]
    assert table.answer(plain(ip("4.3.2.1"))) is None  # 1.2.3.4.bl... lies in 4.bl...
    assert table.answer(plain(ip("127.0.0.2"))) is None
    assert check(4, plain(ip("4.3.2.1"), zone=f"4.{ZONE}")) is not None


def test_keyed_zones_answer_only_under_a_key() -> None:
    hit = ip("127.0.0.2")
    assert check(5, plain(hit, zone=f"k3y.{ZONE}")) is not None
    assert TABLES[5].answer(plain(hit)) is None  # no key: REFUSED, from Python


def test_mixed_zones_hand_back_misses_unless_ip4_only() -> None:
    hit, miss, nibbles = ip("192.0.2.1"), ip("192.0.2.99"), ip("0.0.0.0")
    full = TABLES[2]
    assert check(2, plain(hit, zone="bl.mailrep.test")) is not None
    assert full.answer(plain(miss, zone="bl.mailrep.test")) is None
    assert full.answer(plain(nibbles, zone="bl.mailrep.test")) is None  # an IPv6 ENT: NODATA
    assert full.answer(plain(ip("4.3.2.1"), zone="dbl.mailrep.test")) is None  # dn 1.2.3.4
    assert check(3, plain(miss)) is not None
    assert check(3, plain(ip("1.2.3.4"))) is not None


def test_zones_c_cannot_answer_give_no_table() -> None:
    from mailrep.zones.combined import Combined

    b, _ = small_set()
    combined = Combined({(): [b.build()]})
    snap = Snapshot([Zone(ZONE, soa=soa(ZONE, 1), datasets=[combined])], serial=1)
    assert fastpath.table_for(snap) is None
    two = Snapshot([Zone(ZONE, soa=soa(ZONE, 1), datasets=[small_set()[0].build(), small_set()[0].build()])],
                   serial=1)
    assert fastpath.table_for(two) is None
