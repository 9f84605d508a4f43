"""NSD as a secondary of a mailrep zone (issue 5, must show 1).

NSD (the Debian package) runs in the foreground on a loopback port with its own temporary
config, zones dir, pid and xfrd files, dropping privileges to `nobody`. It transfers
bl.mailrep.test from a live mailrep DnsServer (AXFR), must answer 10,000 sampled queries
exactly as mailrep does, and after a listing change picks up the new serial by itself
through our NOTIFY and an IXFR.
"""

from __future__ import annotations

import ipaddress
import os
import random
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from mailrep.dns.node import Node, NodeConfig
from mailrep.zones.build import build_snapshot
from tests.dns import rawdns
from tests.dns.conftest import free_port, live_server, wait_until
from tests.dns.test_parity import ask_all
from tests.peers import require

pytestmark = pytest.mark.peer

ZONE = "bl.mailrep.test"
N_QUERIES = 10_000
RANGES = [("198.51.100.0/24", "127.0.0.4"), ("10.0.0.0/8", "127.0.0.3"), ("10.20.0.0/16", "127.0.0.5")]
INSIDE = ["10.20.30.40", "10.1.2.3", "198.51.100.77", "10.20.1.1"]  # /32s inside the ranges


def _rnd_ip(rnd: random.Random) -> str:
    while True:
        ip = ipaddress.IPv4Address(rnd.randrange(1 << 24, 224 << 24))
        if ip.is_global:
            return str(ip)


def _entries(ips: list[str], v6: list[str]) -> list[tuple[str, str, str, str | None]]:
    out = [("bl", ip, "127.0.0.2", None) for ip in ips + INSIDE]
    out += [("bl", ip, "127.0.0.2", None) for ip in v6]
    out += [("bl", net, a, f"range {net}") for net, a in RANGES]
    return out


def _snapshot(serial: int, ips: list[str], v6: list[str]):
    return build_snapshot(_entries(ips, v6), serial=serial, ns=["ns1.example.net"],
                          zones=("bl",))


def _rev(ip: str) -> str:
    a = ipaddress.ip_address(ip)
    if a.version == 4:
        return ".".join(reversed(ip.split(".")))
    return ".".join(reversed(a.exploded.replace(":", "")))


def _sample(rnd: random.Random, ips: list[str], v6: list[str]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    while len(out) < N_QUERIES:
        k = rnd.random()
        if k < 0.35:
            ip = rnd.choice(ips)
        elif k < 0.45:
            ip = str(ipaddress.IPv4Address(int(ipaddress.IPv4Address(rnd.choice(ips))) + rnd.choice((-1, 1))))
        elif k < 0.6:
            ip = _rnd_ip(rnd)
        elif k < 0.75:  # inside the ranges, around the more specific entries
            base = rnd.choice(["10.20.30.", "10.20.1.", "10.1.2.", "10.7.7.", "198.51.100.", "10.20.31."])
            ip = base + str(rnd.randrange(256))
        elif k < 0.85:
            ip = rnd.choice(v6) if rnd.random() < 0.7 else str(ipaddress.IPv6Address(rnd.getrandbits(128)))
        elif k < 0.92:  # empty non-terminals and nothing (outside the ranges)
            labels = _rev(rnd.choice(ips)).split(".")
            out.append((".".join(labels[rnd.randint(1, 3):]) + "." + ZONE, rnd.choice(["A", "TXT"])))
            continue
        else:
            ip = rnd.choice(["127.0.0.2", "127.0.0.1", "10.20.30.40", "198.51.100.77"])
        out.append((_rev(ip) + "." + ZONE, rnd.choice(["A", "A", "TXT", "ANY", "MX"])))
    out[:4] = [(ZONE, "SOA"), (ZONE, "NS"), (ZONE, "A"), ("test." + ZONE, "A")]
    return out


def _soa_serial(port: int) -> int | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        s.sendto(rawdns.query(ZONE, "SOA", 77), ("127.0.0.1", port))
        try:
            data = s.recv(4096)
        except TimeoutError:
            return None
    _qid, _flags, rcode, answers = rawdns.parse(data)
    if rcode != 0 or not answers:
        return None
    return int(answers[0][3].split()[2])


NSD_CONF = """\
server:
    ip-address: 127.0.0.1@{port}
    port: {port}
    do-ip6: no
    username: nobody
    chroot: ""
    zonesdir: "{d}"
    pidfile: "{d}/nsd.pid"
    xfrdfile: "{d}/xfrd.state"
    xfrdir: "{d}/xfr"
    zonelistfile: "{d}/zone.list"
    database: ""
    logfile: "{d}/nsd.log"
    verbosity: 2
    server-count: 1
    hide-version: yes
    zonefiles-write: 0
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: {zone}
    zonefile: "{d}/{zone}.zone"
    request-xfr: 127.0.0.1@{primary} NOKEY
    allow-notify: 127.0.0.1 NOKEY
"""


@pytest.fixture
def nsd_dir():
    d = Path(tempfile.mkdtemp(prefix="mailrep-nsd-"))
    d.chmod(0o777)  # NSD drops to `nobody`, which must write its xfrd state here
    (d / "xfr").mkdir()
    (d / "xfr").chmod(0o777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_nsd_secondary_transfers_answers_alike_and_follows_notify(nsd_dir: Path):
    nsd = require("nsd")
    rnd = random.Random(1996)
    ips = sorted({_rnd_ip(rnd) for _ in range(2000)})
    v6 = [str(ipaddress.IPv6Address((0x2001_0db8 << 96) | rnd.getrandbits(64))) for _ in range(50)]
    snap = _snapshot(5, ips, v6)
    nsd_port = free_port()
    node = Node(NodeConfig(allow_transfer=["127.0.0.0/8"], notify=[f"127.0.0.1:{nsd_port}"], metrics=""))
    with live_server(snap) as srv:
        node.attach(srv.server)
        srv.call(node.start(snap))
        conf = nsd_dir / "nsd.conf"
        conf.write_text(NSD_CONF.format(port=nsd_port, d=nsd_dir, zone=ZONE, primary=srv.port))
        check = subprocess.run(["nsd-checkconf", str(conf)], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        proc = subprocess.Popen([nsd, "-d", "-c", str(conf)], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        try:
            assert wait_until(lambda: _soa_serial(nsd_port) == 5, timeout=30, step=0.2), _log(nsd_dir, proc)
            # 10,000 sampled queries: the same rcode and answer section from both
            queries = _sample(rnd, ips, v6)
            ours = ask_all(srv.port, queries)
            theirs = ask_all(nsd_port, queries)
            diffs = [(q, o, t) for q, o, t in zip(queries, ours, theirs, strict=True)
                     if o != t and not _nsd_minimal_any(q, o, t)]
            assert not diffs, f"{len(diffs)} differences, e.g. {diffs[:3]}"
            hits = sum(1 for rcode, ans in ours if rcode == 0 and ans)
            assert hits > N_QUERIES // 4  # the sample does exercise listings and wildcards

            # a listing change: one address added, one removed -> NOTIFY, IXFR, new serial
            added, removed = "203.0.113.99", ips[0]
            snap2 = _snapshot(6, [*ips[1:], added], v6)
            srv.loop.call_soon_threadsafe(srv.server.swap, snap2)
            assert wait_until(lambda: _soa_serial(nsd_port) == 6, timeout=30, step=0.2), _log(nsd_dir, proc)
            after = ask_all(nsd_port, [(_rev(added) + "." + ZONE, "A"), (_rev(removed) + "." + ZONE, "A")])
            assert after[0] == (0, [(_rev(added) + "." + ZONE + ".", 2100, "A", "127.0.0.2")])
            assert after[1][0] == 3  # NXDOMAIN
            assert any(z == ZONE and s == 6 and ok for z, s, _t, ok in node.xfr.notified)
            assert node.xfr.events["axfr"] >= 1 and node.xfr.events["ixfr"] >= 1, node.xfr.events
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout:
                proc.stdout.close()
            srv.call(node.stop())


def _nsd_minimal_any(q: tuple[str, str], ours, theirs) -> bool:
    """Named difference: NSD answers ANY with one RRset (RFC 8482 minimal responses), we give
    every record of the name; NSD's records must still be among ours."""
    return (q[1] == "ANY" and ours[0] == theirs[0] == 0 and bool(theirs[1])
            and set(theirs[1]) <= set(ours[1]))


def _log(d: Path, proc: subprocess.Popen[str]) -> str:
    text = (d / "nsd.log").read_text() if (d / "nsd.log").exists() else ""
    return f"nsd alive={proc.poll() is None} log:\n{text[-3000:]}" + (os.linesep if text else "")
