"""`mailrep serve` as a real process: starts on an empty database, serves the API, streams
the size limit, publishes listings on DNS within seconds, stops gracefully on SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
import time

import httpx
import pytest

from tests.intake.mail import spam
from tests.peers import require
from tests.serve_proc import Serve, prepare_db

MAIL = {"Content-Type": "message/rfc822"}


def test_serve_upgrades_an_empty_database_and_stops_on_sigterm(tmp_path):
    srv = Serve(tmp_path / "var").start()
    try:
        r = httpx.get(f"{srv.base}/api/v1/lookup/45.6.0.1", timeout=10)
        assert r.status_code == 200 and r.json()["listed"] is False
        assert httpx.get(f"{srv.base}/api/v1/openapi.json", timeout=10).json()["info"]["title"] == "mailrep"
    finally:
        code = srv.stop(signal.SIGTERM)
    assert code == 0
    assert any("stopped" in line for line in srv.log)
    assert (tmp_path / "var" / "mailrep.sqlite3").exists()


def test_serve_reports_round_trip_and_sigint(db_url, tmp_path):
    tokens, _ = prepare_db(db_url, reporters=1)
    srv = Serve(tmp_path / "var", db_url).start()
    try:
        auth = {"Authorization": f"Bearer {tokens[0]}"}
        with httpx.Client(base_url=srv.base, timeout=10) as c:
            raw = spam("45.6.1.1", n=1)
            r = c.post("/api/v1/reports", content=raw, headers={**auth, **MAIL})
            assert r.status_code == 202, r.text
            v = c.get(r.json()["url"].replace("http://testserver", srv.base), headers=auth).json()
            assert v["source_ip"] == "45.6.1.1"
            again = c.post("/api/v1/reports", content=raw, headers={**auth, **MAIL}).json()
            assert again["id"] == r.json()["id"] and again["duplicate"] is True
    finally:
        code = srv.stop(signal.SIGINT)
    assert code == 0


def _raw_http(port: int, head: bytes, body_chunks, timeout: float = 30.0) -> tuple[bytes, int]:
    """Send a request by hand (body from a thread); returns (reply, body bytes sent by then)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sent = [0]

    def feed() -> None:
        try:
            for chunk in body_chunks:
                s.sendall(chunk)
                sent[0] += len(chunk)
        except OSError:  # the server answered and closed: stop sending
            pass

    try:
        s.sendall(head)
        sender = threading.Thread(target=feed, daemon=True)
        sender.start()
        reply = s.recv(65536)
        at = sent[0]
        head_end = reply.find(b"\r\n\r\n")
        length = int(reply.lower().split(b"content-length: ")[1].split(b"\r\n")[0]) if b"content-length: " in reply.lower() else 0
        while head_end < 0 or len(reply) < head_end + 4 + length:
            more = s.recv(65536)
            if not more:
                break
            reply += more
            head_end = reply.find(b"\r\n\r\n")
        return reply, at
    finally:
        s.close()


def test_serve_rejects_a_huge_body_while_reading(tmp_path):
    tokens, _ = prepare_db(f"sqlite:///{tmp_path / 'var' / 'mailrep.sqlite3'}")
    srv = Serve(tmp_path / "var").start()
    try:
        port = srv.ports["http"]
        auth = f"Authorization: Bearer {tokens[0]}\r\n".encode()
        # declared: 100 MB announced, answered before the body is sent
        head = (b"POST /api/v1/reports HTTP/1.1\r\nHost: x\r\nContent-Type: message/rfc822\r\n" + auth
                + b"Content-Length: 104857600\r\n\r\n")
        reply, _ = _raw_http(port, head, [])
        assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
        # streamed: chunked, no length; the answer comes after ~10 MB, not 100 MB
        head = (b"POST /api/v1/reports HTTP/1.1\r\nHost: x\r\nContent-Type: message/rfc822\r\n" + auth
                + b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (1 << 20, b"x" * (1 << 20))
        reply, sent = _raw_http(port, head, (chunk for _ in range(100)))
        assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
        assert sent < 40 * (1 << 20)
        assert b'"too_big"' in reply
    finally:
        srv.stop()


def test_listing_reaches_dns_within_ten_seconds(tmp_path):
    dig = require("dig")
    _, other = prepare_db(f"sqlite:///{tmp_path / 'var' / 'mailrep.sqlite3'}")
    srv = Serve(tmp_path / "var", dns=True).start()
    try:
        port = srv.ports["dns"]

        def query(name: str) -> str:
            out = subprocess.run([dig, "@127.0.0.1", "-p", str(port), "+short", "+tries=1", "+time=2", name, "A"],
                                 capture_output=True, text=True, timeout=10)
            return out.stdout.strip()

        assert query("2.0.0.127.bl.mailrep.test") == "127.0.0.2"  # RFC 5782 test point
        assert query("7.0.6.45.bl.mailrep.test") == ""
        r = httpx.post(f"{srv.base}/api/v1/manual-actions", timeout=10,
                       json={"action": "list", "key": "45.6.0.7", "reason": "test listing"},
                       headers={"Authorization": f"Bearer {other['deputy']}"})
        assert r.status_code == 200, r.text
        start = time.monotonic()
        while time.monotonic() - start < 10 and query("7.0.6.45.bl.mailrep.test") != "127.0.0.2":
            time.sleep(0.25)
        assert query("7.0.6.45.bl.mailrep.test") == "127.0.0.2"
        r = httpx.post(f"{srv.base}/api/v1/manual-actions", timeout=10,
                       json={"action": "delist", "key": "45.6.0.7", "reason": "test delisting"},
                       headers={"Authorization": f"Bearer {other['deputy']}"})
        assert r.status_code == 200
        start = time.monotonic()
        while time.monotonic() - start < 10 and query("7.0.6.45.bl.mailrep.test") != "":
            time.sleep(0.25)
        assert query("7.0.6.45.bl.mailrep.test") == ""
    finally:
        assert srv.stop() == 0


@pytest.mark.parametrize("args", [["--http", "127.0.0.1:notaport"], ["--http", "127.0.0.1:99999"]])
def test_serve_bad_addresses_exit_2(tmp_path, args):
    from tests.serve_proc import MAILREP

    out = subprocess.run([*MAILREP, "serve", "--data-dir", str(tmp_path), *args],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "port" in out.stderr


def test_serve_counts_dns_queries_into_the_store(tmp_path):
    """`[dns] count_queries = true` under `mailrep serve`: the node counts the queried addresses
    and the counts reach the store's `dns_queries` table (through the reputation service)."""
    import sqlalchemy as sa

    from mailrep.store.db import Database
    from mailrep.store.tables import dns_queries

    dig = require("dig")
    data = tmp_path / "var"
    data.mkdir()
    (data / "mailrep.toml").write_text("[dns]\ncount_queries = true\ncount_interval = 0.5\n")
    srv = Serve(data, dns=True).start()
    try:
        for _ in range(3):
            subprocess.run([dig, "@127.0.0.1", "-p", str(srv.ports["dns"]), "+short", "+tries=1", "+time=2",
                            "9.0.6.45.bl.mailrep.test", "A"], capture_output=True, text=True, timeout=10)
        db = Database(f"sqlite:///{data / 'mailrep.sqlite3'}")
        try:
            def counted() -> int:
                with db.read() as conn:
                    return int(conn.execute(sa.select(sa.func.coalesce(sa.func.sum(dns_queries.c.count), 0))
                                            .where(dns_queries.c.ip == "45.6.0.9")).scalar_one())
            start = time.monotonic()
            while time.monotonic() - start < 10 and counted() < 3:
                time.sleep(0.25)
            assert counted() == 3
        finally:
            db.dispose()
    finally:
        assert srv.stop() == 0
