"""DNS-over-TCP slots (issue 13, defect 16): one client network cannot hold every slot, and a
newcomer closes the longest-idle connection instead of being refused. The bookkeeping as a
table, then real servers (in-process and `mailrep dns`) driven over loopback sockets bound to
different source networks (all of 127/8 is local on Linux)."""

from __future__ import annotations

import select
import socket
import struct
import time

import dns.message
import pytest

from mailrep.dns.tcpslots import TcpSlots, client_network
from tests.dns.conftest import live_server, mailrep_dns, wait_until
from tests.dns.digtool import dig
from tests.dns.fakezone import fake_snapshot

LISTED = "2.0.0.127.bl.mailrep.test"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("127.0.0.1", "127.0.0.0"),
        ("192.0.2.200", "192.0.2.0"),
        ("2001:db8:1:2ff:1::5", "2001:db8:1:200::"),
        ("::ffff:192.0.2.7", "192.0.2.0"),  # a dual-stack listener sees IPv4 clients mapped
    ],
)
def test_client_network_is_the_rrl_prefix(address, network):
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    want_family = socket.AF_INET6 if ":" in network else socket.AF_INET
    got = client_network(socket.inet_pton(family, address))
    width = 7 if want_family == socket.AF_INET6 else 3
    assert got == socket.inet_pton(want_family, network)[:width]


def test_per_network_cap_then_longest_idle_makes_room():
    slots: TcpSlots[str] = TcpSlots(total=4, per_network=2, clock=Clock())
    a, b = b"\x7f\x00\x00", b"\x7f\x00\x01"
    assert slots.open("a1", a) == (True, None)
    assert slots.open("a2", a) == (True, None)
    assert slots.open("a3", a) == (False, None)  # network a holds its two
    assert slots.open("b1", b) == (True, None)
    slots.busy("a1")
    slots.idle("a1")  # a1 answered a query: now the most recently active
    assert slots.open("b2", b) == (True, None)  # four of four taken
    assert slots.open("c1", b"\x0a\x00\x00") == (True, "a2")  # a2 has waited longest
    assert slots.held_by(a) == 1 and len(slots) == 4
    slots.close("a2")  # the evicted connection's own cleanup afterwards: a no-op
    assert slots.held_by(a) == 1 and len(slots) == 4
    for conn in ("a1", "b1", "b2", "c1"):
        slots.busy(conn)  # all answering: none can be closed for a newcomer
    assert slots.open("d1", b"\x0b\x00\x00") == (False, None)
    assert (slots.refused, slots.evicted) == (2, 1)
    slots.close("b1")
    assert slots.open("d1", b"\x0b\x00\x00") == (True, None)
    assert sorted(slots) == ["a1", "b2", "c1", "d1"]


def connect(port: int, source: str) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((source, 0))
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    return s


def tcp_query(s: socket.socket, name: str = LISTED) -> dns.message.Message:
    q = dns.message.make_query(name, "A").to_wire()
    s.sendall(struct.pack("!H", len(q)) + q)
    size = struct.unpack("!H", recv_exactly(s, 2))[0]
    return dns.message.from_wire(recv_exactly(s, size))


def recv_exactly(s: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        assert chunk, "connection closed by the server"
        out += chunk
    return out


def closed_by_server(socks: list[socket.socket], wait: float = 1.0) -> set[socket.socket]:
    """The sockets the server has closed: readable at EOF within `wait` (open ones stay silent)."""
    readable: set[socket.socket] = set()
    end = time.monotonic() + wait
    while time.monotonic() < end:
        ready, _, _ = select.select([s for s in socks if s not in readable], [], [], 0.1)
        for s in ready:
            try:
                data = s.recv(1)
            except ConnectionError:
                data = b""
            assert data == b""
            readable.add(s)
    return readable


def test_one_network_cannot_take_every_slot_and_an_idle_one_makes_room():
    with live_server(fake_snapshot(), tcp_idle=30, max_tcp=8, max_tcp_per_client=3) as srv:
        socks = [connect(srv.port, "127.0.0.1") for _ in range(5)]
        closed = closed_by_server(socks)
        assert len(closed) == 2 and closed == set(socks[3:])  # the first three keep their slots
        first = socks[:3]
        assert tcp_query(first[0]).rcode() == 0  # now the most recently active of them
        others = [connect(srv.port, f"127.0.{n}.1") for n in (1, 1, 1, 2, 2)]
        assert not closed_by_server(first + others, 0.3)  # 8 of 8 slots taken, all idle
        newcomer = connect(srv.port, "127.0.9.1")
        assert tcp_query(newcomer).answer[0][0].address == "127.0.0.2"
        assert closed_by_server(first + others) == {first[1]}  # the one idle the longest
        assert srv.server.tcp_slots.evicted == 1
        assert tcp_query(first[0]).rcode() == 0 and tcp_query(others[-1]).rcode() == 0
        for s in socks + others + [newcomer]:
            s.close()
        assert wait_until(lambda: len(srv.server.tcp_slots) == 0)


def test_mailrep_dns_one_client_with_300_connections_leaves_tcp_to_others(tmp_path):
    data = tmp_path / "bl.txt"
    data.write_text("$SOA 300 ns.bl.mailrep.test hostmaster.mailrep.test 1 3600 600 86400 60\n127.0.0.2\n")
    with mailrep_dns([f"bl.mailrep.test:ip4set:{data}", "--tcp-idle", "60"]) as (proc, port):
        hog = []
        try:
            for _ in range(300):
                hog.append(connect(port, "127.0.0.1"))
            open_ = set(hog) - closed_by_server(hog, 2.0)
            assert len(open_) == 16  # the default per-network cap; the rest closed at once
            assert all(tcp_query(s).rcode() == 0 for s in open_)
            r = dig(port, LISTED, "A", "+tcp", "-b", "127.0.1.1")
            assert r.status == "NOERROR" and r.rdata("A") == ["127.0.0.2"]
            with pytest.raises(AssertionError, match="end of file"):  # capped: closed at once
                dig(port, LISTED, "A", "+tcp", "-b", "127.0.0.1")
            assert dig(port, LISTED, "A", "-b", "127.0.0.1").status == "NOERROR"  # UDP is not
        finally:
            for s in hog:
                s.close()
        assert wait_until(lambda: dig(port, LISTED, "A", "+tcp").status == "NOERROR")
        assert proc.poll() is None


def test_mailrep_dns_per_client_flag_and_config(tmp_path):
    data = tmp_path / "bl.txt"
    data.write_text("$SOA 300 ns.bl.mailrep.test hostmaster.mailrep.test 1 3600 600 86400 60\n127.0.0.2\n")
    config = tmp_path / "mailrep.toml"
    config.write_text("[dns]\nmax_tcp_per_client = 2\n")
    for args, env, cap in ((["--max-tcp-per-client", "3"], {}, 3),
                           ([], {"MAILREP_CONFIG": str(config)}, 2),
                           (["--max-tcp-per-client", "4"], {"MAILREP_CONFIG": str(config)}, 4)):
        with mailrep_dns([f"bl.mailrep.test:ip4set:{data}", "--tcp-idle", "60", *args], env=env) as (_p, port):
            socks = [connect(port, "127.0.0.1") for _ in range(cap + 2)]
            try:
                assert len(closed_by_server(socks)) == 2, (args, env)
            finally:
                for s in socks:
                    s.close()
