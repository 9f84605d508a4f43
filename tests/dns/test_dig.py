"""`mailrep dns` on rbldnsd data files, asked by real clients (dig and kdig) over UDP and TCP."""

from __future__ import annotations

import socket
import struct

import pytest

from tests.dns.conftest import mailrep_dns, udp_exchange
from tests.dns.digtool import dig

pytestmark = pytest.mark.peer

Z = "bl.mailrep.test"
TXT127 = '"Blocked - see https://mailrep.test/lookup?ip=127.0.0.2"'
SOA = "ns.bl.mailrep.test. hostmaster.mailrep.test. 7 3600 600 86400 60"


@pytest.fixture(scope="module")
def port(bl_file):
    with mailrep_dns([f"{Z}:ip4set:{bl_file}"]) as (_proc, p):
        yield p


# name, type, status, answer rdata (type, data), authority has SOA
RULES = [
    # listed keys: A and TXT, ANY -> A+TXT
    (f"2.0.0.127.{Z}", "A", "NOERROR", [("A", "127.0.0.2")], False),
    (f"2.0.0.127.{Z}", "TXT", "NOERROR", [("TXT", TXT127)], False),
    (f"2.0.0.127.{Z}", "ANY", "NOERROR", [("A", "127.0.0.2"), ("TXT", TXT127)], False),
    (f"40.30.20.10.{Z}", "A", "NOERROR", [("A", "127.0.0.2")], False),
    (f"10.2.0.192.{Z}", "A", "NOERROR", [("A", "127.0.0.3")], False),
    (f"77.113.0.203.{Z}", "TXT", "NOERROR", [("TXT", '"range 203.0.113.77"')], False),
    # listed key asked another type: NODATA with SOA
    (f"2.0.0.127.{Z}", "AAAA", "NOERROR", [], True),
    (f"2.0.0.127.{Z}", "MX", "NOERROR", [], True),
    (f"10.2.0.192.{Z}", "TXT", "NOERROR", [], True),  # entry without TXT
    # unlisted: NXDOMAIN with SOA (the RFC 5782 negative test point among them)
    (f"1.0.0.127.{Z}", "A", "NXDOMAIN", [], True),
    (f"1.0.0.127.{Z}", "TXT", "NXDOMAIN", [], True),
    (f"9.9.9.9.{Z}", "A", "NXDOMAIN", [], True),
    # empty non-terminals: NODATA with SOA (rbldnsd says NXDOMAIN here)
    (f"127.{Z}", "A", "NOERROR", [], True),
    (f"0.127.{Z}", "A", "NOERROR", [], True),
    (f"0.0.127.{Z}", "TXT", "NOERROR", [], True),
    (f"113.0.203.{Z}", "A", "NOERROR", [], True),
    (f"128.{Z}", "A", "NXDOMAIN", [], True),
    # exact label counts
    (f"2.0.0.127.0.{Z}"[2:], "A", "NXDOMAIN", [], True),
    (f"1.2.0.0.127.{Z}", "A", "NXDOMAIN", [], True),
    (f"2.0.0.0127.{Z}", "A", "NXDOMAIN", [], True),
    (f"256.0.0.127.{Z}", "A", "NXDOMAIN", [], True),
    # apex: SOA and NS
    (Z, "SOA", "NOERROR", [("SOA", SOA)], False),
    (Z, "NS", "NOERROR", [("NS", "ns.bl.mailrep.test."), ("NS", "ns2.elsewhere.example.")], False),
    (Z, "A", "NOERROR", [], True),
    # out of zone
    ("2.0.0.127.other.example", "A", "REFUSED", [], False),
    ("mailrep.test", "SOA", "REFUSED", [], False),
]


def _check(r, rtype, status, ans, soa):
    assert r.status == status, r.text
    got = sorted((rr[3], " ".join(rr[4:])) for rr in r.answer)
    assert got == sorted(ans), r.text
    assert [rr[3] for rr in r.authority] == (["SOA"] if soa else []), r.text
    assert ("aa" in r.flags) == (status != "REFUSED")
    assert "qr" in r.flags and "ra" not in r.flags and "tc" not in r.flags


@pytest.mark.parametrize(("name", "rtype", "status", "ans", "soa"), RULES)
def test_dig_udp(port, name, rtype, status, ans, soa):
    _check(dig(port, name, rtype, "+noedns"), rtype, status, ans, soa)


@pytest.mark.parametrize(("name", "rtype", "status", "ans", "soa"), RULES)
def test_kdig_tcp_with_edns(port, name, rtype, status, ans, soa):
    r = dig(port, name, rtype, "+tcp", "+edns=0", tool="kdig")
    _check(r, rtype, status, ans, soa)
    assert r.edns == (0, 1232)


@pytest.mark.parametrize(("name", "rtype", "status", "ans", "soa"), RULES[::3])
def test_dig_tcp_and_kdig_udp(port, name, rtype, status, ans, soa):
    _check(dig(port, name, rtype, "+tcp"), rtype, status, ans, soa)
    _check(dig(port, name, rtype, tool="kdig"), rtype, status, ans, soa)


def test_edns_opt_echoed_and_absent(port):
    assert dig(port, f"2.0.0.127.{Z}", "A", "+edns=0", "+bufsize=4096").edns == (0, 1232)
    assert dig(port, f"2.0.0.127.{Z}", "A", "+noedns").edns is None
    r = dig(port, f"2.0.0.127.{Z}", "A", "+edns=1", "+noednsneg")
    assert r.status == "BADVERS" and r.edns is not None and r.edns[0] == 0


def test_truncation_and_tcp_retry(port):
    name = f"7.100.51.198.{Z}"
    # 715 bytes of TXT: over 512 without EDNS -> TC=1, empty answer
    r = dig(port, name, "TXT", "+noedns", "+ignore")
    assert "tc" in r.flags and not r.answer
    # dig then retries over TCP and gets all of it, split into 255-byte strings
    r = dig(port, name, "TXT", "+noedns")
    assert "tc" not in r.flags
    (rr,) = r.answer
    strings = [s.strip('"') for s in rr[4:]]
    assert [len(s) for s in strings] == [255, 255, 205]
    assert "".join(strings) == "198.51.100.7-" * 55
    # fits a 1232-byte EDNS payload, not a 600-byte one
    assert "tc" not in dig(port, name, "TXT", "+bufsize=1232", "+ignore").flags
    assert "tc" in dig(port, name, "TXT", "+bufsize=600", "+ignore").flags
    assert "tc" in dig(port, name, "TXT", "+bufsize=600", "+ignore", tool="kdig").flags


@pytest.mark.parametrize("name", ["2.0.0.127.BL.MailRep.TEST", "2.0.0.127.bL.mAiLrEp.TeSt"])
@pytest.mark.parametrize("tool", ["dig", "kdig"])
def test_case_insensitive_and_preserved(port, name, tool):
    r = dig(port, name, "A", tool=tool)
    assert r.status == "NOERROR" and r.rdata("A") == ["127.0.0.2"]
    # kdig lowercases names itself before sending (and printing); dig sends them as given
    assert r.owners() == [(name if tool == "dig" else name.lower()) + "."]


@pytest.mark.parametrize(("opcode", "status"), [("status", "NOTIMP"), ("notify", "NOTIMP"), ("15", "NOTIMP")])
def test_unknown_opcodes(port, opcode, status):
    assert dig(port, f"2.0.0.127.{Z}", "A", f"+opcode={opcode}").status == status


def _udp(port: int, packet: bytes, timeout: float = 2.0) -> bytes | None:
    return udp_exchange(port, packet, timeout)


def test_formerr_and_silence_over_raw_udp(port):
    header = struct.pack("!HHHHHH", 0xBEEF, 0x0100, 0, 0, 0, 0)  # no question
    reply = _udp(port, header)
    assert reply is not None and reply[:2] == b"\xbe\xef"
    assert struct.unpack("!H", reply[2:4])[0] & 0x800F == 0x8001  # QR + FORMERR
    bad_name = struct.pack("!HHHHHH", 0xCAFE, 0x0100, 1, 0, 0, 0) + b"\x05abc"
    reply = _udp(port, bad_name)
    assert reply is not None and struct.unpack("!H", reply[2:4])[0] & 0xF == 1
    assert _udp(port, b"\x01\x02\x03", timeout=0.3) is None  # no header: silence
    assert _udp(port, struct.pack("!HHHHHH", 1, 0x8000, 0, 0, 0, 0), timeout=0.3) is None  # a response
    assert dig(port, f"2.0.0.127.{Z}").status == "NOERROR"  # and it still serves


def test_tcp_several_queries_per_connection_and_pipelining(port):
    import dns.message

    names = [f"2.0.0.127.{Z}", f"1.0.0.127.{Z}", f"127.{Z}", f"10.2.0.192.{Z}"]
    queries = [dns.message.make_query(n, "A") for n in names]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        # all four at once, then read four replies in order
        s.sendall(b"".join(struct.pack("!H", len(w)) + w for w in (q.to_wire() for q in queries)))
        f = s.makefile("rb")
        rcodes = []
        for q in queries:
            (n,) = struct.unpack("!H", f.read(2))
            r = dns.message.from_wire(f.read(n))
            assert r.id == q.id
            rcodes.append(r.rcode())
        # and one more on the same connection after a pause
        s.sendall(struct.pack("!H", len(queries[0].to_wire())) + queries[0].to_wire())
        (n,) = struct.unpack("!H", f.read(2))
        assert dns.message.from_wire(f.read(n)).answer
        f.close()
    assert rcodes == [0, 3, 0, 0]


def test_dig_keepopen_several_queries(port):
    r = dig(port, f"2.0.0.127.{Z}", "A", "+tcp", "+keepopen")
    assert r.status == "NOERROR"
