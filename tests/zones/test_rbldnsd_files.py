"""load_rbldnsd: combined datasets, several datasets per zone, files, errors, find()."""

from __future__ import annotations

import gzip

import pytest

from mailrep.zones import ENT, load_rbldnsd
from mailrep.zones.rbldnsd import RbldnsdError
from tests.zones.util import ask, labels

COMBINED = """\
# common section
$NS 1w ns1.ex.com ns2.ex.com
$SOA 1w ns1.ex.com admin.ex.com 42 2h 2h 1w 1h
$TTL 900
$1 http://bl.ex.com
$DATASET ip4set:proxy proxies @
:2:Open proxy, see $1/proxy/$
127.0.0.2
127.0.0.10
$DATASET ip4set:relay relays @ # comment
$TTL 120
:3:Open relay, see $1/relay/$
127.0.0.2
127.0.2.10
$DATASET ip4set:multihop-relay multihop
:4:Multihop $
127.0.9.12
$DATASET dnset dom deep.sub
:5:domain $
example.com
$DATASET generic:common @
www A 127.0.0.8
"""


@pytest.fixture
def combined(tmp_path):
    p = tmp_path / "c.txt"
    p.write_text(COMBINED)
    snap = load_rbldnsd([("bl.ex.com", "combined", [p])])
    return snap.zones["bl.ex.com"], snap


@pytest.mark.parametrize(("name", "want"), [
    ("2.0.0.127", (("127.0.0.2", "127.0.0.3"), ("Open proxy, see http://bl.ex.com/proxy/127.0.0.2",
                                                "Open relay, see http://bl.ex.com/relay/127.0.0.2"))),
    ("10.0.0.127", ("127.0.0.2", "Open proxy, see http://bl.ex.com/proxy/127.0.0.10")),
    ("10.0.0.127.proxies", ("127.0.0.2", "Open proxy, see http://bl.ex.com/proxy/127.0.0.10")),
    ("10.2.0.127.proxies", None),
    ("10.2.0.127.relays", ("127.0.0.3", "Open relay, see http://bl.ex.com/relay/127.0.2.10")),
    ("12.9.0.127.multihop", ("127.0.0.4", "Multihop 127.0.9.12")),
    ("12.9.0.127", None),  # multihop is not attached to the base zone
    ("example.com.dom", ("127.0.0.5", "domain example.com")),
    ("example.com.deep.sub", ("127.0.0.5", "domain example.com")),
    ("proxies", "ENT"), ("deep.sub", "ENT"), ("sub", "ENT"),  # subzones and names above them
    ("127.proxies", "ENT"), ("nothing", None), ("www", None),
])
def test_combined(combined, name, want):
    zone, _ = combined
    assert ask(zone, name) == want


def test_combined_soa_ns_ttl(combined):
    zone, snap = combined
    assert (zone.soa.serial, zone.soa.mname, zone.ns, zone.ns_ttl) == (42, "ns1.ex.com", ("ns1.ex.com", "ns2.ex.com"), 604800)
    assert zone.lookup(labels("10.2.0.127.relays")).ttl == 120  # the subset's own $TTL
    assert zone.lookup(labels("10.0.0.127.proxies")).ttl == 900
    assert any("generic" in w for w in snap.warnings)  # unsupported type: skipped, never a crash


def test_several_datasets_one_zone_and_find(tmp_path):
    (tmp_path / "a.txt").write_text(":2:a $\n1.2.3.4\n")
    (tmp_path / "b.txt").write_text(":3:b $\n1.2.3.4\n5.6.7.8\n")
    (tmp_path / "d.txt").write_text("example.com\n")
    (tmp_path / "f2.txt").write_text("9.9.9.9 :9:second file\n")
    snap = load_rbldnsd([
        ("bl.ex.com", "ip4set", [tmp_path / "a.txt"]), ("bl.ex.com", "ip4tset", [tmp_path / "b.txt"]),
        ("dbl.ex.com", "dnset", [tmp_path / "d.txt"]), ("sub.bl.ex.com", "ip4set", [tmp_path / "a.txt", tmp_path / "f2.txt"]),
    ], serial=9)
    assert snap.serial == 9 and all(z.soa.serial == 9 for z in snap)
    zone, sub = snap.find(labels("4.3.2.1.bl.ex.com"))
    assert zone.name == "bl.ex.com" and sub == labels("4.3.2.1")
    assert ask(zone, "4.3.2.1") == (("127.0.0.2", "127.0.0.3"), ("a 1.2.3.4", "b 1.2.3.4"))
    assert snap.find(labels("4.3.2.1.sub.bl.ex.com"))[0].name == "sub.bl.ex.com"  # longest origin
    assert snap.find(labels("bl.ex.com")) == (zone, ())
    assert snap.find(labels("ex.com")) is None and snap.find(labels("4.3.2.1.bl.ex.org")) is None
    sub_zone = snap.zones["sub.bl.ex.com"]
    assert ask(sub_zone, "9.9.9.9") == ("127.0.0.9", "second file")  # ':A:TXT' defaults end with the file
    assert snap.zones["dbl.ex.com"].lookup(labels("example.com")).txt is None  # no default TXT


def test_gzip_crlf_and_incomplete_last_line(tmp_path):
    p = tmp_path / "g.txt.gz"
    p.write_bytes(gzip.compress(b":2:gz $\r\n1.2.3.4\r\n5.6.7.8"))
    snap = load_rbldnsd([("bl.ex.com", "ip4set", [p])])
    zone = snap.zones["bl.ex.com"]
    assert ask(zone, "4.3.2.1") == ("127.0.0.2", "gz 1.2.3.4")
    # rbldnsd warns about an unterminated last line and still uses it
    assert ask(zone, "8.7.6.5") == ("127.0.0.2", "gz 5.6.7.8")
    assert any("incomplete last line" in w for w in snap.warnings)


def test_errors(tmp_path):
    with pytest.raises(RbldnsdError):
        load_rbldnsd([("bl.ex.com", "nosuchtype", [tmp_path / "x"])])
    with pytest.raises(RbldnsdError):
        load_rbldnsd([("bl.ex.com", "ip4set", [tmp_path / "missing.txt"])])
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe garbage\n\x00\x01\n1.2.3.4 :300:x\n$SOA x\n$MAXRANGE4 /8\n10.0.0.0/7\n")
    snap = load_rbldnsd([("bl.ex.com", "ip4set", [tmp_path / "bad.txt"])])
    assert len(snap.warnings) == 5 and ask(snap.zones["bl.ex.com"], "1.0.0.10") is None


def test_maxrange4(tmp_path):
    (tmp_path / "m.txt").write_text("$MAXRANGE4 256\n10.0.0.0/24\n10.1.0.0/23\n$MAXRANGE4 /16\n10.2.0.0/22\n")
    snap = load_rbldnsd([("bl.ex.com", "ip4set", [tmp_path / "m.txt"])])
    zone = snap.zones["bl.ex.com"]
    assert ask(zone, "1.0.0.10") is not None and ask(zone, "1.0.1.10") is None
    assert ask(zone, "1.0.2.10") is None  # $MAXRANGE4 can shrink, never grow
    assert zone.lookup(labels("10")) is ENT


def test_serial_from_soa_or_newest_file(tmp_path):
    import os
    for name, when in (("a.txt", 1_700_000_000), ("b.txt", 1_700_000_500), ("c.txt", 1_600_000_000)):
        (tmp_path / name).write_text("1.2.3.4\n")
        os.utime(tmp_path / name, (when, when))
    (tmp_path / "s.txt").write_text("$SOA 0 ns.x. h.x. 99 1 1 1 1\n")
    snap = load_rbldnsd([("a.ex", "ip4set", [tmp_path / "a.txt", tmp_path / "b.txt"]),
                         ("c.ex", "ip4set", [tmp_path / "c.txt"]), ("s.ex", "ip4set", [tmp_path / "s.txt"])])
    assert [snap.zones[z].soa.serial for z in ("a.ex", "c.ex", "s.ex")] == [1_700_000_500, 1_600_000_000, 99]
    assert snap.serial == 1_700_000_500


def test_file_changing_while_read_is_refused(tmp_path, monkeypatch):
    import os
    (tmp_path / "a.txt").write_text("1.2.3.4\n")
    real = os.fstat
    calls = []

    def fstat(fd):
        st = real(fd)
        calls.append(1)
        if len(calls) % 2 == 0:  # the second look sees a different size
            return os.stat_result((st.st_mode, st.st_ino, st.st_dev, st.st_nlink, st.st_uid, st.st_gid,
                                   st.st_size + 1, st.st_atime, st.st_mtime, st.st_ctime))
        return st

    monkeypatch.setattr(os, "fstat", fstat)
    with pytest.raises(RbldnsdError, match="changed while"):
        load_rbldnsd([("a.ex", "ip4set", [tmp_path / "a.txt"])])
