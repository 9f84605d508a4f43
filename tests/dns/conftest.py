"""Live DNS servers for the integration tests: `mailrep dns` as a subprocess, or DnsServer in-process."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from mailrep.dns.server import DnsServer

ROOT = Path(__file__).resolve().parents[2]

BL_DATA = """\
# test data for the dig tests (rbldnsd ip4set syntax)
$SOA 300 ns.bl.mailrep.test hostmaster.mailrep.test 7 3600 600 86400 60
$NS 3600 ns.bl.mailrep.test ns2.elsewhere.example
$TTL 2100
:127.0.0.2:Blocked - see https://mailrep.test/lookup?ip=$
127.0.0.2
192.0.2.10 :127.0.0.3:
198.51.100.7 :127.0.0.2:{long}
203.0.113.0/24 :127.0.0.4:range $
10.20.30.40
""".format(long="$-" * 55)  # 55 x "198.51.100.7-" = 715 bytes of TXT


@contextmanager
def mailrep_dns(args: list[str], *, env: dict[str, str] | None = None, bind: str = "127.0.0.1/0",
                full_cli: bool = False) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """Run `python -m mailrep.dns -b BIND ARGS` (or `mailrep dns ...` through the whole CLI)
    and yield (process, port) once it listens."""
    entry = ["-c", "from mailrep.cli import main; main()", "dns"] if full_cli else ["-m", "mailrep.cli.dns"]
    proc = subprocess.Popen(
        [sys.executable, *entry, "-b", bind, *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if "listening" not in line:
            proc.kill()
            _, err = proc.communicate(timeout=10)
            raise AssertionError(f"mailrep dns did not start: {line!r} {err[-2000:]}")
        port = int(line.split(" port ")[1].split()[0])
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


class LiveServer:
    """A DnsServer on an ephemeral loopback port, its event loop on a background thread."""

    def __init__(self, snapshot: Any, **kw: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = DnsServer(snapshot, **kw)
        self.host, self.port = self.call(self.server.start("127.0.0.1", 0))

    def call(self, coro: Any, timeout: float = 10) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.call(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@contextmanager
def live_server(snapshot: Any, **kw: Any) -> Iterator[LiveServer]:
    srv = LiveServer(snapshot, **kw)
    try:
        yield srv
    finally:
        srv.close()


@pytest.fixture(scope="module")
def bl_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bl") / "bl.txt"
    path.write_text(BL_DATA)
    return path


def free_port() -> int:
    """A loopback port free for both UDP and TCP right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise AssertionError("no free port")


def wait_until(pred: Any, timeout: float = 10.0, step: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return bool(pred())


def udp_exchange(port: int, packet: bytes, timeout: float = 0.5) -> bytes | None:
    """One datagram to 127.0.0.1:port and its reply, or None when none comes within `timeout`."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(packet, ("127.0.0.1", port))
        try:
            return s.recv(65535)
        except TimeoutError:
            return None
