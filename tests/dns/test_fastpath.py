"""The C UDP loop served over loopback: it answers, picks up a swapped snapshot at the next
burst, hands what it does not answer to the Python responder (and errors to SERVFAIL), stops
when asked, keeps serving with a guard (its state in C) and stays out of the way of --no-batch."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import struct
from pathlib import Path

import pytest

from mailrep.dns import fastpath
from mailrep.dns.answer import Responder, answer
from mailrep.dns.guard import Guard
from mailrep.dns.metrics import DnsMetrics
from mailrep.dns.server import DnsServer
from mailrep.zones.ip4set import Ip4Builder
from mailrep.zones.rbldnsd import load_rbldnsd
from mailrep.zones.value import Value, compile_template
from mailrep.zones.zone import Snapshot, Soa, Zone
from tests.dns.conftest import live_server, mailrep_dns, udp_exchange, wait_until

if not fastpath.AVAILABLE:
    if os.environ.get("CI") == "true":  # CI builds the extension: its absence is a failure
        pytest.fail(f"mailrep.dns._fastpath is not built: {fastpath.MISSING}", pytrace=False)
    pytest.skip(f"mailrep.dns._fastpath is not built: {fastpath.MISSING}", allow_module_level=True)

ZONE = "bl.mailrep.test"


def snapshot(serial: int, *listed: str) -> Snapshot:
    b = Ip4Builder()
    vi = b.value_index(Value((b"\x7f\x00\x00\x02",), compile_template("Blocked $"), 2100))
    for text in ("127.0.0.2", *listed):
        b.add(int.from_bytes(socket.inet_aton(text), "big"), 32, vi)
    b.add(0x7F000001, 32, 0)
    soa = Soa(f"ns.{ZONE}", f"hostmaster.{ZONE}", serial, 3600, 600, 86400, 60, 300)
    return Snapshot([Zone(ZONE, soa=soa, ns=[f"ns.{ZONE}"], datasets=[b.build()])], serial=serial)


def query(name: str, qtype: int = 1, qid: int = 7) -> bytes:
    wire = b"".join(bytes((len(x),)) + x.encode() for x in name.split(".")) + b"\0"
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + wire + struct.pack("!HH", qtype, 1)


def ask(port: int, q: bytes) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(q, ("127.0.0.1", port))
        return s.recv(4096)


def ask_again(port: int, q: bytes, tries: int = 3) -> bytes:
    for _ in range(tries - 1):
        try:
            return ask(port, q)
        except TimeoutError:
            continue
    return ask(port, q)


def serial_of(reply: bytes) -> int:
    return struct.unpack("!I", reply[-20:-16])[0]


def test_the_c_loop_answers_swaps_and_hands_back() -> None:
    first = snapshot(1, "192.0.2.1")
    with live_server(first) as srv:
        table = srv.server.fast_table
        assert table is not None
        hit, miss = query(f"1.2.0.192.{ZONE}"), query(f"9.2.0.192.{ZONE}")
        assert ask(srv.port, hit) == answer(hit, first)
        assert ask(srv.port, miss) == answer(miss, first)
        assert table.answered == 2 and table.handed == 0
        soa = query(ZONE, 6)
        assert serial_of(ask(srv.port, soa)) == 1  # SOA: handed to the responder
        assert table.handed == 1
        out_of_zone = query("2.0.0.127.elsewhere.example")
        assert ask(srv.port, out_of_zone)[3] & 0xF == 5  # REFUSED, from Python
        assert table.handed == 2

        second = snapshot(2, "192.0.2.9")
        srv.server.swap(second)
        new = srv.server.fast_table
        assert new is not table
        assert serial_of(ask(srv.port, soa)) == 2
        assert ask(srv.port, hit) == answer(hit, second)  # no longer listed: NXDOMAIN, serial 2
        assert serial_of(ask(srv.port, hit)) == 2
        listed = query(f"9.2.0.192.{ZONE}", 16)
        reply = ask(srv.port, listed)
        assert reply == answer(listed, second) and b"Blocked 192.0.2.9" in reply
        assert new.answered == 3 and new.handed == 1
        thread = srv.server._thread
    assert thread is not None and not thread.is_alive()  # stop() woke and ended the C loop


class Failing(Responder):
    """A responder that cannot answer the queries handed to it."""

    def udp(self, query: bytes) -> bytes | None:
        raise RuntimeError("broken zone")


def test_an_exception_in_python_becomes_servfail(caplog: pytest.LogCaptureFixture) -> None:
    """The C loop calls failed() as from an except block (it logs the traceback). A responder
    subclass gets no Table: its answers may differ from what the Table knows."""
    snap = snapshot(1)
    with live_server(snap, responder=lambda s: Failing(s, cache_size=0)) as srv:
        assert srv.server.fast_table is None
        for n, name in enumerate((ZONE, f"2.0.0.127.{ZONE}"), 1):
            reply = ask(srv.port, query(name, 6, qid=99))
            assert reply[:2] == b"\x00\x63" and reply[3] & 0xF == 2  # SERVFAIL
            assert srv.server.errors == n
    assert "RuntimeError: broken zone" in caplog.text  # the traceback reached the log


def test_a_defended_node_limits_counts_and_measures_in_the_c_loop() -> None:
    """A public node's defences over the wire, the replies made in C: RRL drops and slips past
    the credit (the clock is the server's `clock`, stopped), an ACL rule of another zone leaves
    this one alone, the queried address reaches the flush, the metrics count it all."""
    from mailrep.dns.node import Node, NodeConfig
    from mailrep.dns.rrl import slip_reply

    snap = snapshot(1, "192.0.2.1")
    flushed: list[dict[str, int]] = []
    node = Node(NodeConfig(rrl=True, rrl_negative=1, rrl_answers=1, rrl_window=4, rrl_slip=2,
                           acl=[{"networks": ["127.0.0.0/8"], "action": "error", "zones": ["other.test"]}],
                           count_queries=True, metrics="127.0.0.1:0"), volume_flush=flushed.append)
    hit = query(f"1.2.0.192.{ZONE}")

    async def run() -> list[bytes | None]:
        server = DnsServer(snap)
        server.clock = lambda: 100.0
        node.attach(server)
        _, port = await server.start("127.0.0.1", 0)

        try:
            return [await asyncio.to_thread(udp_exchange, port, hit, 0.3) for _ in range(10)]
        finally:
            await server.stop()
            assert server.fast_table.answered == 10 and server.fast_table.handed == 0

    replies = asyncio.run(run())
    full = answer(hit, snap)
    assert replies[:4] == [full] * 4  # 4 s of credit at 1/s
    slipped = slip_reply(full)
    assert slipped[2] & 0x02 and slipped[6:12] == b"\0" * 6 and len(slipped) == len(hit)  # TC=1, empty
    assert replies[4:] == [None, slipped] * 3  # then drop, slip, drop, slip...
    assert node.counter is not None
    assert node.counter.take() == {"192.0.2.1": 10}  # counted before RRL: every query
    text = node.metrics.render() if node.metrics is not None else ""
    assert f'mailrep_dns_queries_total{{zone="{ZONE}",rcode="NOERROR"}} 7' in text  # 4 + 3 slipped
    assert "mailrep_dns_rrl_drops_total 3" in text and "mailrep_dns_rrl_slips_total 3" in text


@pytest.mark.parametrize("kw", [{"batch": False}, {"fast": False}])
def test_no_batch_or_no_fast_keeps_the_python_loops(kw: dict[str, bool]) -> None:
    snap = snapshot(1)
    with live_server(snap, **kw) as srv:
        hit = query(f"2.0.0.127.{ZONE}")
        assert ask(srv.port, hit) == answer(hit, snap)
        table = srv.server.fast_table
        assert table is None or table.answered == 0


def test_a_guard_keeps_the_c_loop_and_every_reply_passes_it() -> None:
    """With metrics (or ACL, RRL, budget, counting) configured the C loop still answers, and
    every reply passes the guard: the one made in C and the one handed to Python."""
    snap = snapshot(1)
    metrics = DnsMetrics()
    hit = query(f"2.0.0.127.{ZONE}")
    soa_q = query(ZONE, 6)

    async def run() -> tuple[bytes, bytes]:
        server = DnsServer(snap)
        server.guard = Guard(metrics=metrics)  # as Node.attach does, before start
        _, port = await server.start("127.0.0.1", 0)
        try:
            return await asyncio.to_thread(ask, port, hit), await asyncio.to_thread(ask, port, soa_q)
        finally:
            await server.stop()
            assert (server.fast_table.answered, server.fast_table.handed) == (1, 1)

    assert asyncio.run(run()) == (answer(hit, snap), answer(soa_q, snap))
    assert f'mailrep_dns_queries_total{{zone="{ZONE}",rcode="NOERROR"}} 2' in metrics.render()


@pytest.mark.parametrize("flag", ["--fastpath", "--no-fastpath"])
def test_the_command_serves_with_and_without_the_fast_path(bl_file: Path, flag: str) -> None:
    snap = load_rbldnsd([(ZONE, "ip4set", [bl_file])])
    with mailrep_dns([flag, f"{ZONE}:ip4set:{bl_file}"]) as (_proc, port):
        for name, qtype in ((f"2.0.0.127.{ZONE}", 1), (f"7.100.51.198.{ZONE}", 16), (ZONE, 6)):
            q = query(name, qtype)
            assert ask(port, q) == answer(q, snap)


def test_without_the_extension_the_python_loop_serves(monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """What a build without a compiler gets (setup.py: optional=True): table_for is None and
    the server runs the Python batch loop, saying so once."""
    monkeypatch.setattr(fastpath, "_fastpath", None)
    monkeypatch.setattr(fastpath, "AVAILABLE", False)
    monkeypatch.setattr(fastpath, "MISSING", "No module named 'mailrep.dns._fastpath'")
    snap = snapshot(1)
    assert fastpath.table_for(snap) is None
    with caplog.at_level("INFO", logger="mailrep.dns"), live_server(snap) as srv:
        hit = query(f"2.0.0.127.{ZONE}")
        assert ask(srv.port, hit) == answer(hit, snap)
        assert srv.server.fast_table is None
    assert "C fast path not built" in caplog.text


def test_sighup_reloads_and_sigterm_stops_the_c_loop(tmp_path: Path) -> None:
    data = tmp_path / "bl.txt"
    head = f"$SOA 300 ns.{ZONE} hostmaster.{ZONE} {{}} 3600 600 86400 60\n:127.0.0.2:Blocked $\n127.0.0.2\n"
    data.write_text(head.format(1))
    new = query(f"1.2.0.192.{ZONE}", 16)
    with mailrep_dns(["--check-interval", "3600", f"{ZONE}:ip4set:{data}"]) as (proc, port):
        assert ask(port, new)[3] & 0xF == 3  # NXDOMAIN
        data.write_text(head.format(2) + "192.0.2.1\n")
        proc.send_signal(signal.SIGHUP)
        # Polled as a stub resolver does, retrying a UDP query that got no answer: about 1 run
        # in 30 loses the one query that crosses the SIGHUP reload (seen 2026-12-06, also after
        # sendmmsg retries EINTR; not yet explained, noted in the stop note). What this test
        # asserts is that the reload happens and the C loop stops on SIGTERM.
        assert wait_until(lambda: serial_of(ask_again(port, query(ZONE, 6))) == 2)
        reply = ask(port, new)
        assert reply[3] & 0xF == 0 and b"Blocked 192.0.2.1" in reply
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
