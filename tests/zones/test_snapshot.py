"""Snapshot files: round trip of every dataset type, atomic save, corrupt files rejected."""

from __future__ import annotations

import ipaddress
import os
import random
import struct
from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailrep.zones import load_rbldnsd, load_snapshot, save_snapshot
from mailrep.zones import zone as zone_module
from mailrep.zones.build import build_snapshot
from mailrep.zones.measure import bytes_per_entry, ip4_snapshot, load_seconds, random_public_ipv4
from mailrep.zones.snapshot import HEADER, SnapshotError, dumps, loads
from tests.zones.test_dnset_ip6 import DNSET, IP6TRIE
from tests.zones.test_ip4set import IP4SET
from tests.zones.test_rbldnsd_files import COMBINED
from tests.zones.util import labels, summary


@pytest.fixture(scope="module")
def rich(tmp_path_factory):
    d = tmp_path_factory.mktemp("rich")
    for name, text in (("ip4", IP4SET), ("dn", DNSET), ("ip6", IP6TRIE), ("comb", COMBINED)):
        (d / name).write_text(text)
    (d / "tset").write_text("2001:db8:1:2\n!2001:db8:1:2::5\n")
    snap = load_rbldnsd([
        ("bl.ex.com", "ip4set", [d / "ip4"]), ("bl.ex.com", "ip6trie", [d / "ip6"]),
        ("dbl.ex.com", "dnset", [d / "dn"]), ("c.ex.com", "combined", [d / "comb"]),
        ("t.ex.com", "ip6tset", [d / "tset"]), ("trie.ex.com", "ip4trie", [d / "ip4"]),
    ], serial=123)
    built = build_snapshot([("bl", "192.0.2.0/24", "127.0.0.3", "net $"), ("dbl", ".spam.example", "127.0.1.2", None),
                            ("wl", "2001:db8::/48", "127.0.2.1", None)], serial=5, base="rep.test")
    return snap, built


def probe_names(snap):
    """Names that exercise every zone: listed keys, neighbours, ENTs, junk."""
    ips = ["127.0.0.2", "127.0.0.1", "1.2.3.4", "10.1.2.3", "10.2.3.4", "60.1.1.1", "192.0.2.9", "8.8.8.8"]
    subs = [".".join(reversed(i.split("."))) for i in ips] + [
        "127", "0.127", "example.com", "a.wild.com", "both.com", "test", "invalid", "x.spam.example",
        "2.0.0.127.proxies", "proxies", "example.com.dom", "junk.name", "",
        ".".join(reversed("20010db8000100020000000000000001")), ".".join(reversed("20010db8000100020000000000000005")),
        ".".join(reversed("20010db8000000000000000000000001")), ".".join(reversed("20010db8")),
    ]
    for z in snap:
        for s in subs:
            yield z.name, labels(s)


def test_round_trip_answers_identically(rich, tmp_path):
    for snap in rich:
        path = tmp_path / "s.snap"
        save_snapshot(snap, path)
        back = load_snapshot(path)
        assert back is not snap and back.serial == snap.serial
        assert sorted(back.zones) == sorted(snap.zones) and back.warnings == snap.warnings
        for name, z in snap.zones.items():
            b = back.zones[name]
            assert (b.soa, b.ns, b.ns_ttl, b.ttl, len(b)) == (z.soa, z.ns, z.ns_ttl, z.ttl, len(z))
        for zname, sub in probe_names(snap):
            assert summary(back.zones[zname].lookup(sub)) == summary(snap.zones[zname].lookup(sub)), (zname, sub)
        assert dumps(back) == dumps(snap)  # stable: saving what was loaded gives the same bytes


def test_contract_names_live_in_zone_module(tmp_path):
    snap = ip4_snapshot(array("I", [0x01020304]))
    zone_module.save_snapshot(snap, tmp_path / "x.snap")
    assert zone_module.load_snapshot(tmp_path / "x.snap").zones["bl.mailrep.test"].lookup_ip4(0x01020304) is not None
    assert zone_module.load_rbldnsd is load_rbldnsd and callable(zone_module.build_snapshot)


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path, monkeypatch):
    path = tmp_path / "z.snap"
    save_snapshot(ip4_snapshot(array("I", [1]), serial=1), path)
    before = path.read_bytes()

    def boom(fd):
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError):
        save_snapshot(ip4_snapshot(array("I", [2]), serial=2), path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["z.snap"]


def _corruptions(data: bytes):
    meta_len = struct.unpack_from("<Q", data, 20)[0]
    yield "empty", b""
    yield "short header", data[:10]
    yield "bad magic", b"XXXXXXXX" + data[8:]
    yield "future version", data[:8] + struct.pack("<I", 99) + data[12:]
    yield "truncated", data[:-3]
    yield "padded", data + b"\0"
    yield "flipped meta byte", data[:HEADER.size + 5] + bytes([data[HEADER.size + 5] ^ 1]) + data[HEADER.size + 6:]
    last = len(data) - 9
    yield "flipped blob byte", data[:last] + bytes([data[last] ^ 0x40]) + data[last + 1:]
    yield "meta not json", _refit(data, b"{not json" + b" " * (meta_len - 9))


def _refit(data: bytes, meta: bytes) -> bytes:
    """A file with `meta` replaced and a *valid* checksum, to reach the structure checks."""
    import zlib
    magic, version, serial, meta_len, blob_len, _ = HEADER.unpack_from(data)
    blob = data[HEADER.size + meta_len:]
    crc = zlib.crc32(blob, zlib.crc32(meta))
    return HEADER.pack(magic, version, serial, len(meta), blob_len, crc) + meta + blob


def test_corrupt_files_are_rejected(rich, tmp_path):
    data = dumps(rich[0])
    for what, bad in _corruptions(data):
        with pytest.raises(SnapshotError):
            loads(bad)
        p = tmp_path / "bad.snap"
        p.write_bytes(bad)
        with pytest.raises(SnapshotError):
            load_snapshot(p)
        assert what
    with pytest.raises(SnapshotError):
        load_snapshot(tmp_path / "missing.snap")


def test_structurally_wrong_meta_is_rejected(rich):
    import json
    data = dumps(rich[0])
    meta_len = HEADER.unpack_from(data)[3]
    meta = json.loads(data[HEADER.size:HEADER.size + meta_len])
    variants = []
    m = json.loads(json.dumps(meta))
    m["datasets"][0]["levels"][0][1][1] = 10**9  # block offset outside the blob
    variants.append(m)
    m = json.loads(json.dumps(meta))
    m["serial"] = 1  # header and meta disagree
    variants.append(m)
    m = json.loads(json.dumps(meta))
    m["datasets"][0]["type"] = "martian"
    variants.append(m)
    m = json.loads(json.dumps(meta))
    del m["zones"][0]["soa"]
    variants.append(m)
    m = json.loads(json.dumps(meta))
    m["datasets"][0]["values"] = m["datasets"][0]["values"][:2]  # indexes now point past the table
    variants.append(m)
    m = json.loads(json.dumps(meta))
    m["datasets"][0]["values"][1]["a"] = ["7f00"]  # an A value that is not 4 bytes
    variants.append(m)
    for v in variants:
        with pytest.raises(SnapshotError):
            loads(_refit(data, json.dumps(v).encode()))


def test_memory_per_listed_ipv4_and_load(tmp_path):
    """<= 8 bytes per listed IPv4 beyond an empty zone (rbldnsd's ip4set needs 16)."""
    n = 200_000
    save_snapshot(ip4_snapshot(random_public_ipv4(n, seed=3)), tmp_path / "big.snap")
    save_snapshot(ip4_snapshot(array("I")), tmp_path / "empty.snap")
    per = bytes_per_entry(tmp_path / "big.snap", tmp_path / "empty.snap", n)
    assert 4 <= per <= 8
    assert load_seconds(tmp_path / "empty.snap", repeat=1) > 0


def test_random_public_ipv4_is_public_sorted_unique():
    ips = random_public_ipv4(5000, seed=9)
    assert len(ips) == 5000 and list(ips) == sorted(set(ips))
    assert all(ipaddress.IPv4Address(a).is_global for a in ips)
    assert random_public_ipv4(100, seed=9) != random_public_ipv4(100, seed=10)


_v4 = st.tuples(st.integers(0x0A000000, 0x0A00FFFF), st.sampled_from([16, 20, 24, 28, 32]))
_key = st.one_of(
    _v4.map(lambda t: str(ipaddress.IPv4Network(t, strict=False))),
    st.integers(0, 2**16 - 1).map(lambda x: f"2001:db8:{x:x}::/48"),
    st.sampled_from(["a.example", "*.b.example", ".c.example", "d.a.example"]),
)
_entry = st.tuples(st.sampled_from(["bl", "dbl", "wl"]), st.tuples(st.booleans(), _key).map(
    lambda t: ("!" if t[0] else "") + t[1]), st.sampled_from(["127.0.0.2", "127.0.0.3", "127.0.1.9"]),
    st.sampled_from([None, "why $", "static"]))


@settings(max_examples=40, deadline=None)
@given(st.lists(_entry, max_size=30), st.lists(st.integers(0x0A000000, 0x0A00FFFF), min_size=1, max_size=20))
def test_round_trip_property(entries, qs):
    snap = build_snapshot(entries, serial=3)
    back = loads(dumps(snap))
    names = [labels(".".join(reversed(f"{q >> 24}.{q >> 16 & 255}.{q >> 8 & 255}.{q & 255}".split("."))))
             for q in qs]
    names += [labels(n) for n in ("a.example", "x.b.example", "c.example", "d.a.example", "example", "10", "0.10")]
    names += [labels(".".join(reversed(f"20010db8{x:04x}" + "0" * 20))) for x in range(0, 65536, 4099)]
    for zname, z in snap.zones.items():
        for sub in names:
            assert summary(back.zones[zname].lookup(sub)) == summary(z.lookup(sub))


def test_rss_per_listed_ipv4_after_loading_files_and_snapshots(tmp_path):
    """RSS, not just the Python heap: big loads give their temporaries back to the OS."""
    from mailrep.zones.measure import rss_growth, write_ip4set

    n = 200_000
    ips = random_public_ipv4(n, seed=4)
    write_ip4set(tmp_path / "bl.txt", ips)
    save_snapshot(ip4_snapshot(ips), tmp_path / "bl.snap")
    grew, snap = rss_growth(lambda: load_rbldnsd([("bl.mailrep.test", "ip4set", [tmp_path / "bl.txt"])]))
    assert len(snap.zones["bl.mailrep.test"]) == n + 1
    assert grew / n <= 8, grew
    del snap
    grew, snap = rss_growth(lambda: load_snapshot(tmp_path / "bl.snap"))
    assert snap.zones["bl.mailrep.test"].lookup_ip4(ips[17]) is not None
    assert grew / n <= 8, grew


def test_big_sets_use_the_16_bit_index_and_answer_the_same(tmp_path):
    from mailrep.zones.ip4set import INDEX_MIN

    ips = random_public_ipv4(INDEX_MIN + 1000, seed=11)
    snap = ip4_snapshot(ips)
    ds = snap.zones["bl.mailrep.test"].datasets[0]
    assert ds.index16 is not None and len(ds.index16) == 0x10001
    save_snapshot(snap, tmp_path / "big.snap")
    back = load_snapshot(tmp_path / "big.snap")
    listed = set(ips)
    rnd = random.Random(5)
    probes = [ips[rnd.randrange(len(ips))] for _ in range(3000)] + [rnd.randrange(2**32) for _ in range(3000)]
    probes += [0, 2**32 - 1, ips[0], ips[-1], ips[0] - 1, ips[-1] + 1]
    for z in (snap.zones["bl.mailrep.test"], back.zones["bl.mailrep.test"]):
        for q in probes:
            want = q in listed or q == 0x7F000002
            assert (z.lookup_ip4(q) is not None) == want, hex(q)
            name = tuple(str(q >> s & 255).encode() for s in (0, 8, 16, 24))
            assert (z.lookup(name) is not None) == want
