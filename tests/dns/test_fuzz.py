"""Fuzzing the packet parser and answer(): random and mutated packets never raise; each gets
FORMERR, a valid answer, or silence. Then garbage against a live server, which must survive."""

from __future__ import annotations

import random
import select
import socket
import struct

import dns.message
import dns.rcode
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailrep.dns.answer import Responder, answer
from mailrep.dns.wire import FormError, Reader
from tests.dns.conftest import live_server
from tests.dns.digtool import dig
from tests.dns.fakezone import fake_snapshot

SNAP = fake_snapshot()
SEEDS = [
    dns.message.make_query(n, t, use_edns=e).to_wire()
    for n, t, e in [
        ("2.0.0.127.bl.mailrep.test", "A", False),
        ("2.0.0.127.bl.mailrep.test", "TXT", 0),
        ("127.bl.mailrep.test", "ANY", 0),
        ("1.0.0.127.bl.mailrep.test", "A", False),
        ("bl.mailrep.test", "SOA", 0),
        ("7.100.51.198.bl.mailrep.test", "TXT", False),
        ("x.example", "NS", 0),
    ]
]
ALLOWED = {dns.rcode.NOERROR, dns.rcode.NXDOMAIN, dns.rcode.FORMERR, dns.rcode.NOTIMP,
           dns.rcode.REFUSED, dns.rcode.BADVERS}


def check_reply(query: bytes, reply: bytes | None) -> None:
    if reply is None:
        # silence only for a packet without a header or for a response
        assert len(query) < 12 or query[2] & 0x80
        return
    assert reply[:2] == query[:2]
    assert reply[2] & 0x80  # QR
    assert len(reply) <= 65535
    msg = dns.message.from_wire(reply, ignore_trailing=False)
    assert msg.rcode() in ALLOWED
    if msg.rcode() == dns.rcode.FORMERR:
        assert not msg.answer and not msg.authority
    if len(msg.question) == 1 and not msg.flags & dns.flags.TC and msg.rcode() == dns.rcode.NOERROR:
        # a NOERROR answer is either records or NODATA with SOA
        assert msg.answer or msg.authority


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_random_packets(packet):
    check_reply(packet, answer(packet, SNAP))


@st.composite
def mutated(draw):
    buf = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "set", "cut", "insert", "delete", "counts"]))
        if op == "flip" and buf:
            i = draw(st.integers(0, len(buf) - 1))
            buf[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and buf:
            buf[draw(st.integers(0, len(buf) - 1))] = draw(st.integers(0, 255))
        elif op == "cut":
            del buf[draw(st.integers(0, len(buf))):]
        elif op == "insert":
            i = draw(st.integers(0, len(buf)))
            buf[i:i] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and buf:
            i = draw(st.integers(0, len(buf) - 1))
            del buf[i : i + draw(st.integers(1, 4))]
        elif op == "counts" and len(buf) >= 12:
            i = draw(st.sampled_from([4, 6, 8, 10]))
            buf[i : i + 2] = struct.pack("!H", draw(st.sampled_from([0, 1, 2, 3, 255, 65535])))
    return bytes(buf)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_queries(packet):
    reply = answer(packet, SNAP)
    check_reply(packet, reply)
    # the cached UDP path gives the same bytes
    assert Responder(SNAP).udp(packet) == reply


def test_mutation_sweep():
    """Many cheap seeded mutations (hypothesis above explores; this covers volume)."""
    rnd = random.Random(1)
    resp = Responder(SNAP)
    for _ in range(10_000):
        pkt = bytearray(rnd.choice(SEEDS))
        for _ in range(rnd.randint(1, 4)):
            op = rnd.randrange(4)
            if op == 0 and pkt:
                pkt[rnd.randrange(len(pkt))] = rnd.randrange(256)
            elif op == 1:
                del pkt[rnd.randint(0, len(pkt)):]
            elif op == 2:
                i = rnd.randint(0, len(pkt))
                pkt[i:i] = rnd.randbytes(rnd.randint(1, 6))
            elif len(pkt) >= 12:
                i = rnd.choice([4, 6, 8, 10])
                pkt[i : i + 2] = struct.pack("!H", rnd.choice([0, 1, 2, 255]))
        packet = bytes(pkt)
        reply = answer(packet, SNAP)
        check_reply(packet, reply)
        assert resp.udp(packet) == reply


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 320))
def test_reader_name_only_raises_formerror(buf, pos):
    r = Reader(b"\x00" * 12 + buf, min(pos, 12 + len(buf)))
    try:
        labels = r.name()
    except FormError:
        return
    assert sum(len(x) + 1 for x in labels) + 1 <= 255
    assert all(0 < len(x) <= 63 for x in labels)


@pytest.mark.parametrize("batch", [True, False], ids=["recvmmsg", "recvfrom"])
def test_live_server_survives_garbage(batch):
    rnd = random.Random(4)
    with live_server(SNAP, batch=batch) as srv:
        addr = ("127.0.0.1", srv.port)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for i in range(3000):
                if i % 2:
                    pkt = bytearray(rnd.choice(SEEDS))
                    for _ in range(rnd.randint(1, 5)):
                        if pkt:
                            pkt[rnd.randrange(len(pkt))] = rnd.randrange(256)
                else:
                    pkt = bytearray(rnd.randbytes(rnd.randint(0, 700)))
                s.sendto(bytes(pkt), addr)
        # TCP garbage: bogus lengths, half messages, random bytes, abrupt closes
        for _ in range(40):
            with socket.create_connection(addr, timeout=5) as c:
                c.sendall(rnd.randbytes(rnd.randint(0, 300)))
        assert srv.server.errors == 0  # nothing escaped answer() as an exception
        r = dig(srv.port, "2.0.0.127.bl.mailrep.test", "A")
        assert r.status == "NOERROR" and r.rdata("A") == ["127.0.0.2"]
        r = dig(srv.port, "2.0.0.127.bl.mailrep.test", "TXT", "+tcp")
        assert r.status == "NOERROR" and r.answer


@pytest.mark.parametrize("batch", [True, False], ids=["recvmmsg", "recvfrom"])
def test_replies_reach_their_own_client_between_silences(batch):
    """Bursts from many clients mixing packets that get no reply with real queries: every
    client gets exactly its own replies (the batch loop compacts its send slots)."""
    rnd = random.Random(9)
    with live_server(SNAP, batch=batch) as srv:
        addr = ("127.0.0.1", srv.port)
        clients = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(12)]
        try:
            for c in clients:
                c.settimeout(3)
            for rnd_no in range(30):
                expected = {}
                for n, c in enumerate(clients):
                    if rnd.random() < 0.5:
                        c.sendto(b"\x01\x02", addr)  # no header: silence
                    qid = (rnd_no * 64 + n) & 0xFFFF
                    ip = rnd.choice(["2.0.0.127", "1.0.0.127", "10.2.0.192"])
                    q = dns.message.make_query(f"{ip}.bl.mailrep.test", "A", id=qid).to_wire()
                    c.sendto(q, addr)
                    if rnd.random() < 0.3:
                        c.sendto(struct.pack("!HHHHHH", 1, 0x8000, 0, 0, 0, 0), addr)  # a response: silence
                    expected[n] = (qid, ip)
                for n, c in enumerate(clients):
                    r = dns.message.from_wire(c.recv(4096))
                    qid, ip = expected[n]
                    assert r.id == qid and r.question[0].name.to_text().startswith(ip)
            readable, _, _ = select.select(clients, [], [], 0.3)
            assert not readable  # nothing else arrived
        finally:
            for c in clients:
                c.close()
