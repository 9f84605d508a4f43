"""DnsServer and `mailrep dns` as processes: swaps, reloads, RFC 5782 startup checks, workers,
TCP limits. Clients are dig and plain sockets."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import time

import dns.message
import pytest

from mailrep.dns.server import DnsServer
from mailrep.dns.testpoints import TestPointsMissing, check_snapshot
from mailrep.zones.zone import load_rbldnsd, save_snapshot
from tests.dns.conftest import free_port, live_server, mailrep_dns, wait_until
from tests.dns.digtool import dig
from tests.dns.fakezone import A2, fake_snapshot
from tests.peers import require

HEAD = "$SOA 300 ns.bl.mailrep.test hostmaster.mailrep.test {serial} 3600 600 86400 60\n127.0.0.2\n"


def write_atomic(path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class StderrLog:
    """What a running server has written to stderr so far, read without blocking."""

    def __init__(self, proc) -> None:
        self.stream = proc.stderr
        os.set_blocking(self.stream.fileno(), False)
        self.text = ""

    def read(self) -> str:
        try:
            chunk = self.stream.read()
        except (BlockingIOError, TypeError):
            chunk = None
        self.text += chunk or ""
        return self.text


def snap_of(path, serial=None):
    return load_rbldnsd([("bl.mailrep.test", "ip4set", [str(path)])], serial=serial)


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ({"127.0.0.1": (A2, None)}, "127.0.0.1 must not be listed"),
        ({"127.0.0.2": None}, "test point not listed"),
        ({"127.0.0.2": (bytes([10, 0, 0, 2]), None)}, "outside 127/8"),
    ],
)
def test_test_points_refused(entries, message):
    snap = fake_snapshot()
    zone = snap.zones["bl.mailrep.test"]
    for ip, v in entries.items():
        if v is None:
            del zone.entries[ip]
        else:
            zone.entries[ip] = v
    zone.__post_init__()
    with pytest.raises(TestPointsMissing, match=message):
        check_snapshot(snap)
    with pytest.raises(TestPointsMissing):
        DnsServer(snap)


def test_in_process_swap_and_failed_swap_keeps_serving():
    good = fake_snapshot()
    newer = fake_snapshot({"8.8.4.4": (bytes([127, 0, 0, 9]), None)})
    newer.serial = 2
    bad = fake_snapshot()
    bad.zones["bl.mailrep.test"].entries["127.0.0.1"] = (A2, None)
    bad.zones["bl.mailrep.test"].__post_init__()
    with live_server(good) as srv:
        assert dig(srv.port, "4.4.8.8.bl.mailrep.test").status == "NXDOMAIN"
        srv.server.swap(newer)
        assert dig(srv.port, "4.4.8.8.bl.mailrep.test").rdata("A") == ["127.0.0.9"]
        with pytest.raises(TestPointsMissing):
            srv.server.swap(bad)
        assert srv.server.snapshot is newer
        assert dig(srv.port, "1.0.0.127.bl.mailrep.test").status == "NXDOMAIN"
        assert dig(srv.port, "4.4.8.8.bl.mailrep.test", "A", "+tcp").rdata("A") == ["127.0.0.9"]


def test_command_refuses_to_start_without_test_points(tmp_path):
    data = tmp_path / "bl.txt"
    data.write_text("$SOA 300 ns.x hostmaster.x 1 3600 600 86400 60\n192.0.2.1\n")
    out = subprocess.run([sys.executable, "-m", "mailrep.cli.dns", "-b", "127.0.0.1/0",
                          f"bl.mailrep.test:ip4set:{data}"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "RFC 5782" in out.stderr and "bl.mailrep.test" in out.stderr
    data.write_text("127.0.0.2\n127.0.0.1\n")
    out = subprocess.run([sys.executable, "-m", "mailrep.cli.dns", "-b", "127.0.0.1/0",
                          f"bl.mailrep.test:ip4set:{data}"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "127.0.0.1" in out.stderr


def test_command_argument_errors(tmp_path):
    for args in (["-b", "127.0.0.1/x", "z:ip4set:f"], ["-b", "127.0.0.1/0"], ["-b", "127.0.0.1/0", "nozone"],
                 ["-b", "127.0.0.1/0", "--workers", "2", "bl.test:ip4set:/nonexistent"]):
        out = subprocess.run([sys.executable, "-m", "mailrep.cli.dns", *args], capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 2, (args, out.stderr)
        assert "mailrep dns:" in out.stderr


def test_rbldnsd_files_reload_on_change_and_keep_last_good(tmp_path):
    data = tmp_path / "bl.txt"
    data.write_text(HEAD.format(serial=1) + "192.0.2.1\n")
    with mailrep_dns([f"bl.mailrep.test:ip4set:{data}", "--check-interval", "0.2"]) as (proc, port):
        assert dig(port, "1.2.0.192.bl.mailrep.test").status == "NOERROR"
        assert dig(port, "2.2.0.192.bl.mailrep.test").status == "NXDOMAIN"
        write_atomic(data, HEAD.format(serial=2) + "192.0.2.2\n")
        assert wait_until(lambda: dig(port, "2.2.0.192.bl.mailrep.test").status == "NOERROR")
        assert dig(port, "1.2.0.192.bl.mailrep.test").status == "NXDOMAIN"
        assert "2 3600" in " ".join(dig(port, "bl.mailrep.test", "SOA").rdata("SOA"))
        # a file that fails the RFC 5782 check is not served: the last good data stays
        write_atomic(data, "$SOA 300 ns.x hostmaster.x 3 3600 600 86400 60\n192.0.2.3\n")
        log = StderrLog(proc)
        assert wait_until(lambda: "reload failed" in log.read())
        assert "RFC 5782" in log.text
        assert dig(port, "2.2.0.192.bl.mailrep.test").status == "NOERROR"
        assert dig(port, "3.2.0.192.bl.mailrep.test").status == "NXDOMAIN"
        assert proc.poll() is None


def test_snapshot_file_served_and_swapped(tmp_path):
    src = tmp_path / "bl.txt"
    src.write_text(HEAD.format(serial=10) + "198.51.100.1\n")
    snapfile = tmp_path / "zones.snap"
    save_snapshot(snap_of(src, serial=10), snapfile)
    with mailrep_dns(["--snapshot", str(snapfile), "--check-interval", "0.2"]) as (proc, port):
        assert dig(port, "1.100.51.198.bl.mailrep.test").status == "NOERROR"
        src.write_text(HEAD.format(serial=11) + "198.51.100.2\n")
        save_snapshot(snap_of(src, serial=11), snapfile)
        assert wait_until(lambda: dig(port, "2.100.51.198.bl.mailrep.test").status == "NOERROR")
        assert "11 3600" in " ".join(dig(port, "bl.mailrep.test", "SOA").rdata("SOA"))
        # a corrupt snapshot file: refused, the last good one keeps serving
        log = StderrLog(proc)
        snapfile.write_bytes(snapfile.read_bytes()[:100])
        assert wait_until(lambda: "reload failed" in log.read())
        assert dig(port, "2.100.51.198.bl.mailrep.test").status == "NOERROR"


def test_workers_share_the_port(tmp_path):
    data = tmp_path / "bl.txt"
    data.write_text(HEAD.format(serial=1))
    port = free_port()
    with mailrep_dns([f"bl.mailrep.test:ip4set:{data}", "--workers", "2"], bind=f"127.0.0.1/{port}") as (proc, p):
        assert p == port
        pids = set()
        assert proc.stdout is not None
        second = proc.stdout.readline()
        assert "pid " in second, (second, proc.poll())
        pids.add(second.split("pid ")[1].rstrip(")\n"))  # the second worker
        assert len(pids) == 1
        children = subprocess.run(["ps", "--ppid", str(proc.pid), "-o", "pid="], capture_output=True,
                                  text=True).stdout.split()
        assert len(children) == 2
        # many fresh source ports spread over both workers; every query is answered
        for _ in range(30):
            assert dig(port, "2.0.0.127.bl.mailrep.test").status == "NOERROR"
        proc.terminate()
        assert proc.wait(10) == 0
        for pid in children:
            assert not os.path.exists(f"/proc/{pid}")


def test_tcp_idle_timeout_and_connection_limit():
    # one client network at its cap (test_tcp_slots.py: other networks, and the eviction of
    # the longest-idle connection when all slots are taken)
    with live_server(fake_snapshot(), tcp_idle=0.3, max_tcp=2, max_tcp_per_client=2) as srv:
        addr = ("127.0.0.1", srv.port)
        a = socket.create_connection(addr, timeout=5)
        b = socket.create_connection(addr, timeout=5)
        time.sleep(0.1)
        c = socket.create_connection(addr, timeout=5)
        assert c.recv(10) == b""  # over the limit: closed at once
        q = dns.message.make_query("2.0.0.127.bl.mailrep.test", "A").to_wire()
        a.sendall(struct.pack("!H", len(q)) + q)
        assert len(a.recv(2)) == 2
        time.sleep(0.8)
        a.settimeout(5)
        assert a.recv(4096) is not None and a.recv(4096) == b""  # idle: closed by the server
        assert b.recv(10) == b""
        for s in (a, b, c):
            s.close()
        # a slot is free again
        assert dig(srv.port, "2.0.0.127.bl.mailrep.test", "A", "+tcp").status == "NOERROR"


def test_mailrep_cli_dns_command(tmp_path):
    data = tmp_path / "bl.txt"
    data.write_text(HEAD.format(serial=4))
    with mailrep_dns([f"bl.mailrep.test:ip4set:{data}"], full_cli=True) as (_proc, port):
        r = dig(port, "2.0.0.127.bl.mailrep.test", "TXT")
        assert r.status == "NOERROR" and r.rdata("A") == [] and r.answer == []  # no TXT given
        assert dig(port, "2.0.0.127.bl.mailrep.test", "A").rdata("A") == ["127.0.0.2"]


@pytest.mark.parametrize("batch", [True, False], ids=["recvmmsg", "recvfrom"])
def test_a_failing_lookup_is_servfail_and_the_server_goes_on(batch):
    snap = fake_snapshot()
    zone = snap.zones["bl.mailrep.test"]
    real = zone.lookup

    def lookup(sub):
        if sub[:1] == (b"66",):
            raise RuntimeError("broken zone data")
        return real(sub)

    zone.lookup = lookup
    with live_server(snap, batch=batch) as srv:
        assert dig(srv.port, "66.0.0.127.bl.mailrep.test").status == "SERVFAIL"
        assert dig(srv.port, "66.0.0.127.bl.mailrep.test", "A", "+tcp").status == "SERVFAIL"
        assert dig(srv.port, "2.0.0.127.bl.mailrep.test").status == "NOERROR"
        assert srv.server.errors == 2


def test_ipv6_loopback_listener(tmp_path):
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback in this environment")
    data = tmp_path / "bl.txt"
    data.write_text(HEAD.format(serial=6))
    with mailrep_dns([f"bl.mailrep.test:ip4set:{data}"], bind="::1/0") as (_proc, port):
        for extra in ([], ["+tcp"]):
            out = subprocess.run([require("dig"), "@::1", "-p", str(port), "+short", *extra,
                                  "2.0.0.127.bl.mailrep.test", "A"], capture_output=True, text=True, timeout=30)
            assert out.stdout.split() == ["127.0.0.2"]
