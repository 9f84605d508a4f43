"""answer(): one query in, one reply out, table-tested through dnspython's parser."""

from __future__ import annotations

import struct

import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype
import pytest

from mailrep.dns.answer import Responder, answer, split_txt
from mailrep.dns.constants import UDP_CLASSIC, UDP_SERVER_MAX
from tests.dns.fakezone import fake_snapshot

SNAP = fake_snapshot()
TXT127 = "Blocked - see https://mailrep.test/lookup?ip=127.0.0.2"


def ask(name: str, rdtype: str = "A", *, edns: int | None = None, payload: int = 1232,
        tcp: bool = False, snap=SNAP) -> dns.message.Message:
    if edns is None:
        q = dns.message.make_query(name, rdtype, use_edns=False)
    else:
        q = dns.message.make_query(name, rdtype, use_edns=edns, payload=payload)
    wire = answer(q.to_wire(), snap, tcp=tcp)
    assert wire is not None
    r = dns.message.from_wire(wire)
    assert r.id == q.id
    return r


def rrs(r: dns.message.Message, section: str = "answer") -> list[str]:
    return sorted(rd.to_text() for rrset in getattr(r, section) for rd in rrset)


# name, type, rcode, answer rdata, authority types
CASES = [
    ("2.0.0.127.bl.mailrep.test", "A", "NOERROR", ["127.0.0.2"], []),
    ("2.0.0.127.bl.mailrep.test", "TXT", "NOERROR", [f'"{TXT127}"'], []),
    ("2.0.0.127.bl.mailrep.test", "ANY", "NOERROR", ["127.0.0.2", f'"{TXT127}"'], []),
    ("2.0.0.127.bl.mailrep.test", "AAAA", "NOERROR", [], ["SOA"]),  # listed, other type: NODATA
    ("2.0.0.127.bl.mailrep.test", "MX", "NOERROR", [], ["SOA"]),
    ("10.2.0.192.bl.mailrep.test", "A", "NOERROR", ["127.0.0.3"], []),
    ("10.2.0.192.bl.mailrep.test", "TXT", "NOERROR", [], ["SOA"]),  # no TXT for this entry
    ("1.0.0.127.bl.mailrep.test", "A", "NXDOMAIN", [], ["SOA"]),
    ("1.0.0.127.bl.mailrep.test", "TXT", "NXDOMAIN", [], ["SOA"]),
    ("127.bl.mailrep.test", "A", "NOERROR", [], ["SOA"]),  # empty non-terminals: NODATA
    ("0.127.bl.mailrep.test", "TXT", "NOERROR", [], ["SOA"]),
    ("0.0.127.bl.mailrep.test", "A", "NOERROR", [], ["SOA"]),
    ("128.bl.mailrep.test", "A", "NXDOMAIN", [], ["SOA"]),  # nothing beneath
    ("0.2.0.0.127.bl.mailrep.test", "A", "NXDOMAIN", [], ["SOA"]),  # 5 labels
    ("02.0.0.127.bl.mailrep.test", "A", "NXDOMAIN", [], ["SOA"]),  # leading zero
    ("x.0.0.127.bl.mailrep.test", "A", "NXDOMAIN", [], ["SOA"]),
    ("bl.mailrep.test", "SOA", "NOERROR", ["ns.bl.mailrep.test. hostmaster.mailrep.test. 7 3600 600 86400 60"], []),
    ("bl.mailrep.test", "NS", "NOERROR", ["ns.bl.mailrep.test.", "ns2.elsewhere.example."], []),
    ("bl.mailrep.test", "A", "NOERROR", [], ["SOA"]),
    ("mailrep.test", "A", "REFUSED", [], []),
    ("2.0.0.127.example.org", "A", "REFUSED", [], []),
    (".", "NS", "REFUSED", [], []),
]


@pytest.mark.parametrize(("name", "rdtype", "rcode", "ans", "auth"), CASES)
def test_answer_rules(name, rdtype, rcode, ans, auth):
    r = ask(name, rdtype)
    assert dns.rcode.to_text(r.rcode()) == rcode
    assert rrs(r) == sorted(ans)
    assert sorted(dns.rdatatype.to_text(x.rdtype) for x in r.authority) == auth
    assert bool(r.flags & dns.flags.AA) == (rcode != "REFUSED")
    assert r.flags & dns.flags.QR and not r.flags & dns.flags.RA
    assert r.flags & dns.flags.RD  # copied from the query
    if auth:
        soa = r.authority[0]
        assert soa.name.to_text() == "bl.mailrep.test."
        assert soa.ttl == min(SNAP.zones["bl.mailrep.test"].soa.ttl, SNAP.zones["bl.mailrep.test"].soa.minimum)


@pytest.mark.parametrize("name", ["2.0.0.127.BL.Mailrep.TEST", "2.0.0.127.bL.mAiLrEp.tEsT"])
def test_case_insensitive_and_preserved(name):
    q = dns.message.make_query(name, "A", use_edns=False)
    wire = answer(q.to_wire(), SNAP)
    r = dns.message.from_wire(wire)
    assert rrs(r) == ["127.0.0.2"]
    # the owner name is a pointer to the question, so the reply spells it as the query did
    assert name.encode().split(b".")[-1] in wire
    assert r.answer[0].name.to_text(omit_final_dot=True) == name


def test_answers_are_compressed():
    q = dns.message.make_query("2.0.0.127.bl.mailrep.test", "ANY")
    wire = answer(q.to_wire(), SNAP)
    assert wire.count(b"\x07mailrep") == 1  # only in the question; answers point at it
    nx = answer(dns.message.make_query("1.0.0.127.bl.mailrep.test", "A").to_wire(), SNAP)
    assert nx.count(b"\x07mailrep") == 1  # SOA owner and mname/rname compressed into the question


def test_txt_split_into_255_byte_strings():
    r = ask("7.100.51.198.bl.mailrep.test", "TXT", tcp=True)
    (rd,) = r.answer[0]
    assert [len(s) for s in rd.strings] == [255, 255, 90]
    assert b"".join(rd.strings) == b"x" * 600


@pytest.mark.parametrize("n", [0, 1, 254, 255, 256, 510, 511, 1000])
def test_split_txt_lengths(n):
    wire = split_txt(b"y" * n)
    strings, pos = [], 0
    while pos < len(wire):
        strings.append(wire[pos + 1 : pos + 1 + wire[pos]])
        pos += 1 + wire[pos]
    assert b"".join(strings) == b"y" * n
    assert all(len(s) <= 255 for s in strings) and len(strings) == max(1, -(-n // 255))


def test_truncation_without_edns_and_with_small_payload():
    # 600 bytes of TXT do not fit 512 (no EDNS): TC=1, no answers, question kept
    r = ask("7.100.51.198.bl.mailrep.test", "TXT")
    assert r.flags & dns.flags.TC and not r.answer and len(r.question) == 1
    # EDNS 1232 fits it
    r = ask("7.100.51.198.bl.mailrep.test", "TXT", edns=0, payload=1232)
    assert not r.flags & dns.flags.TC and r.answer
    # EDNS payload below 512 is treated as 512
    r = ask("7.100.51.198.bl.mailrep.test", "TXT", edns=0, payload=200)
    assert r.flags & dns.flags.TC and r.edns == 0


def test_edns_payload_honoured_and_capped():
    big = fake_snapshot({"203.0.113.9": (bytes([127, 0, 0, 2]), "z" * 1100)})
    # 1100 bytes: over a 1024 client payload, under our 1232
    assert ask("9.113.0.203.bl.mailrep.test", "TXT", edns=0, payload=1024, snap=big).flags & dns.flags.TC
    assert not ask("9.113.0.203.bl.mailrep.test", "TXT", edns=0, payload=4096, snap=big).flags & dns.flags.TC
    huge = fake_snapshot({"203.0.113.9": (bytes([127, 0, 0, 2]), "z" * 1300)})
    r = ask("9.113.0.203.bl.mailrep.test", "TXT", edns=0, payload=4096, snap=huge)
    assert r.flags & dns.flags.TC  # capped at our own UDP_SERVER_MAX
    assert r.payload == UDP_SERVER_MAX
    assert not ask("9.113.0.203.bl.mailrep.test", "TXT", edns=0, tcp=True, snap=huge).flags & dns.flags.TC


def test_opt_echoed_only_when_asked():
    assert ask("2.0.0.127.bl.mailrep.test", edns=None).edns == -1
    r = ask("2.0.0.127.bl.mailrep.test", edns=0)
    assert r.edns == 0 and r.payload == UDP_SERVER_MAX
    q = dns.message.make_query("2.0.0.127.bl.mailrep.test", "A", want_dnssec=True)
    r = dns.message.from_wire(answer(q.to_wire(), SNAP))
    assert r.ednsflags & dns.flags.DO


def test_badvers_for_unknown_edns_version():
    r = ask("2.0.0.127.bl.mailrep.test", edns=1)
    assert r.rcode() == dns.rcode.BADVERS and r.edns == 0 and not r.answer


def _raw(header: tuple[int, ...], body: bytes = b"") -> bytes:
    return struct.pack("!HHHHHH", *header) + body


QNAME = b"\x012\x010\x010\x03127\x02bl\x07mailrep\x04test\x00"
QTAIL = QNAME + b"\x00\x01\x00\x01"


@pytest.mark.parametrize(
    ("packet", "expect"),
    [
        (b"", None),
        (b"\x12\x34\x01", None),  # shorter than a header: silence
        (_raw((0x1234, 0x8000, 1, 0, 0, 0), QTAIL), None),  # a response: never answered
        (_raw((0x1234, 0x0100, 0, 0, 0, 0)), "FORMERR"),  # no question
        (_raw((0x1234, 0x0100, 2, 0, 0, 0), QTAIL + QTAIL), "FORMERR"),
        (_raw((0x1234, 0x0100, 1, 0, 0, 0), QNAME[:-3]), "FORMERR"),  # name runs off the end
        (_raw((0x1234, 0x0100, 1, 0, 0, 0), QNAME + b"\x00"), "FORMERR"),  # no qclass
        (_raw((0x1234, 0x0100, 1, 0, 0, 0), QTAIL + b"junk"), "FORMERR"),  # trailing bytes
        (_raw((0x1234, 0x0100, 1, 0, 0, 1), QTAIL), "FORMERR"),  # announced OPT missing
        (_raw((0x1234, 0x0100, 1, 0, 0, 0), b"\xc0\x0c\x00\x01\x00\x01"), "FORMERR"),  # self pointer
        (_raw((0x1234, 0x0100, 1, 0, 0, 0), b"\x40abc\x00\x00\x01\x00\x01"), "FORMERR"),  # label type
        (_raw((0x1234, 0x0100, 1, 0, 0, 0), b"\x3fa" + b"\x00\x00\x01\x00\x01"), "FORMERR"),
        (_raw((0x1234, 0x0100, 1, 0, 0, 0), b"\x3f" + b"a" * 63 + b"\x3f" + b"a" * 63 + b"\x3f" + b"a" * 63
              + b"\x3f" + b"a" * 63 + b"\x00\x00\x01\x00\x01"), "FORMERR"),  # 257-byte name
        (_raw((0x1234, 0x0100, 1, 0, 0, 2), QTAIL + b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00" * 2),
         "FORMERR"),  # two OPT records
        (_raw((0x1234, 0x0100, 1, 0, 0, 0), QNAME + b"\x00\x29\x00\x01"), "FORMERR"),  # OPT as qtype
        (_raw((0x1234, 0x2100, 1, 0, 0, 0), QTAIL), "NOTIMP"),  # opcode 4 (NOTIFY) not yet
        (_raw((0x1234, 0x1100, 1, 0, 0, 0), QTAIL), "NOTIMP"),  # opcode 2 (STATUS)
        (_raw((0x1234, 0x7900, 1, 0, 0, 0), QTAIL), "NOTIMP"),  # opcode 15
        (_raw((0x1234, 0x0100, 1, 0, 0, 0), QNAME + b"\x00\xfc\x00\x01"), "NOTIMP"),  # AXFR (issue 5)
        (_raw((0x1234, 0x0100, 1, 0, 0, 0), QNAME + b"\x00\x01\x00\x03"), "REFUSED"),  # class CH
        (_raw((0x1234, 0x0100, 1, 0, 0, 0), QNAME + b"\x00\x01\x00\xff"), "NOERROR"),  # class ANY
        (_raw((0x1234, 0x0000, 1, 0, 0, 0), QTAIL), "NOERROR"),  # RD clear is fine
    ],
)
def test_malformed_and_odd_packets(packet, expect):
    reply = answer(packet, SNAP)
    if expect is None:
        assert reply is None
        return
    assert reply is not None and reply[:2] == b"\x12\x34"
    flags = struct.unpack("!H", reply[2:4])[0]
    assert flags & 0x8000
    assert flags & 0x7800 == struct.unpack("!H", packet[2:4])[0] & 0x7800  # opcode echoed
    assert dns.rcode.to_text(flags & 0xF) == expect
    dns.message.from_wire(reply)  # always a well-formed message


def test_pointer_in_question_follows_backwards_only():
    # a name in the additional section may point back into the question
    opt_owner_ptr = b"\xc0\x0c\x00\x10\x00\x01\x00\x00\x00\x00\x00\x00"  # TXT RR named by pointer
    reply = answer(_raw((7, 0x0100, 1, 0, 0, 1), QTAIL + opt_owner_ptr), SNAP)
    assert dns.message.from_wire(reply).rcode() == dns.rcode.NOERROR


def test_responder_cache_is_transparent_and_bounded():
    resp = Responder(SNAP, cache_size=4)
    for i in range(20):
        name = f"{i % 6}.0.0.127.bl.mailrep.test"
        q = dns.message.make_query(name, "A")
        q.id = i
        wire = q.to_wire()
        assert resp.udp(wire) == answer(wire, SNAP)
        assert len(resp._cache) <= 4
    assert resp.udp(b"\x00") is None and resp.udp(b"\x00") is None


def test_classic_udp_limit_constant():
    assert UDP_CLASSIC == 512


def test_fast_path_gives_the_general_path_bytes():
    import random

    snap = fake_snapshot({"203.0.113.9": (bytes([127, 0, 0, 2]), "z" * 600)})
    resp = Responder(snap)
    assert resp._fast  # a single zone: the fast path is on
    rnd = random.Random(7)
    names = ["2.0.0.127", "1.0.0.127", "10.2.0.192", "7.100.51.198", "9.113.0.203", "0.0.127.1",
             "a.b.c.d", "255.255.255.255", "02.0.0.127", "2.0.0.127.5", "0.127", "x"]
    used = 0
    for _ in range(600):
        base = rnd.choice(names)
        zone = "".join(c.upper() if rnd.random() < 0.4 else c for c in "bl.mailrep.test")
        q = dns.message.make_query(f"{base}.{zone}", rnd.choice(["A", "TXT", "AAAA", "ANY"]),
                                   use_edns=rnd.choice([False, 0]))
        q.flags = rnd.choice([0, dns.flags.RD, dns.flags.RD | dns.flags.CD, dns.flags.CD])
        wire = q.to_wire()
        fast = resp._four_labels(wire)
        used += fast is not None
        assert resp.answer(wire) == resp.answer_general(wire)
        if fast is not None:
            assert fast == resp.answer_general(wire)
    assert used > 100


def test_fast_path_off_for_nested_zones():
    snap = fake_snapshot()
    inner = type(snap.zones["bl.mailrep.test"])("x.bl.mailrep.test", {"127.0.0.2": (bytes([127, 0, 0, 2]), None)})
    snap.zones["x.bl.mailrep.test"] = inner
    resp = Responder(snap)
    assert not resp._fast
    r = dns.message.from_wire(resp.answer(dns.message.make_query("2.0.0.127.x.bl.mailrep.test", "A").to_wire()))
    assert r.answer  # found in the inner zone by the longest match
    r = dns.message.from_wire(resp.answer(dns.message.make_query("0.0.127.x.bl.mailrep.test", "A").to_wire()))
    assert r.rcode() == 0 and not r.answer and r.authority[0].name.to_text() == "x.bl.mailrep.test."
