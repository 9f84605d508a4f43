"""services.notify over a real store, a loopback RDAP server and an SMTP sink, on a test clock:
the contact cache's TTLs, overrides and modes, the daily digest, bounces and retries."""

from __future__ import annotations

import asyncio
import email
import hashlib
import zlib
from datetime import UTC, datetime, timedelta

import pytest

from mailrep.services.notify import AbuseContacts, Notifier, NotifyConfig
from mailrep.store import notify as store
from mailrep.store import reports as reports_store
from tests.outbound.harness import RdapServer, SlowSink
from tests.outbound.spam import spam

T0 = datetime(2024, 1, 2, 10, 0, tzinfo=UTC)
NET = "210.107.0.0/17"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def rdap(corpus):
    server = RdapServer({NET: corpus / "rdap/ipwhois/ip_210.107.73.73.json",
                         "196.11.0.0/16": corpus / "rdap/ipwhois/ip_196.11.240.215.json"})
    yield server
    server.close()


def _notifier(db, rdap, sink_port: int, clock: Clock, tmp_path, **kw) -> Notifier:
    boot = tmp_path / "ipv4.json"
    boot.write_bytes(rdap.bootstrap())
    cfg = NotifyConfig.from_section({"enabled": True, "smarthost": f"127.0.0.1:{sink_port}",
                                     "rdap_bootstrap": str(boot), "retry_seconds": 60, **kw})
    return Notifier(db, AbuseContacts(db, cfg, clock), cfg, clock)


def _report(db, ip: str, n: int, when: datetime = T0) -> int:
    raw = spam(source=ip, when=when, subject=f"s{n}")
    row = {"reporter_id": None, "channel": "http", "received_at": when, "sha256": hashlib.sha256(raw).hexdigest(),
           "raw_z": zlib.compress(raw), "raw_size": len(raw), "stored_size": len(raw), "trace_json": {"urls": []},
           "source_ip": ip, "counted": True, "dedupe_key": f"k{n}"}
    with db.transaction() as conn:
        rid = reports_store.insert_reports(conn, [row])[0]
        store.enqueue(conn, [rid], when)
        store.enqueue(conn, [rid], when)  # idempotent by report id
    return rid


def _states(db) -> dict[str, int]:
    with db.read() as conn:
        return store.status(conn)["states"]


async def _round(n: Notifier) -> None:
    await n.run_once()
    await n.send_digests()


def test_rdap_once_per_ttl_then_again(db, rdap, tmp_path):
    clock = Clock()
    with SlowSink() as sink:
        n = _notifier(db, rdap, sink.port, clock, tmp_path)
        for k, ip in enumerate(["210.107.73.73", "210.107.1.1", "210.107.2.2"]):
            _report(db, ip, k)
        asyncio.run(_round(n))
        assert rdap.queries["ip_210.107.73.73.json"] == 1
        assert _states(db) == {"sent": 3} and len(sink.messages) == 3
        assert all(rcpts == ["hostmaster@nic.or.kr"] for _, rcpts, _ in sink.messages)
        clock.now = T0 + timedelta(days=6)
        _report(db, "210.107.3.3", 3, clock.now)
        asyncio.run(_round(n))
        assert rdap.queries["ip_210.107.73.73.json"] == 1  # still cached
        clock.now = T0 + timedelta(days=7, seconds=1)
        _report(db, "210.107.4.4", 4, clock.now)
        asyncio.run(_round(n))
        assert rdap.queries["ip_210.107.73.73.json"] == 2  # the 7-day TTL ran out


def test_negative_answers_are_kept_one_day_and_skip(db, rdap, tmp_path):
    clock = Clock()
    with SlowSink() as sink:
        n = _notifier(db, rdap, sink.port, clock, tmp_path)
        _report(db, "196.11.240.215", 1)
        _report(db, "196.11.240.216", 2)
        asyncio.run(_round(n))
        assert _states(db) == {"skipped": 2} and not sink.messages
        assert rdap.queries["ip_196.11.240.215.json"] == 1
        clock.now = T0 + timedelta(hours=25)
        _report(db, "196.11.240.217", 3, clock.now)
        asyncio.run(_round(n))
        assert rdap.queries["ip_196.11.240.215.json"] == 2


def test_override_none_digest_and_address(db, rdap, tmp_path):
    clock = Clock()
    with SlowSink() as sink:
        n = _notifier(db, rdap, sink.port, clock, tmp_path)
        n.contacts.set_override("210.107.0.0/24", "none", mode=None)
        n.contacts.set_override("210.107.1.0/24", "rdap", mode="digest")
        n.contacts.set_override("210.107.2.0/24", "noc@net.example", mode="full")
        _report(db, "210.107.0.9", 1)
        _report(db, "210.107.1.9", 2)
        _report(db, "210.107.1.10", 3)
        _report(db, "210.107.2.9", 4)
        asyncio.run(_round(n))
        assert _states(db) == {"skipped": 1, "digest": 2, "sent": 1}
        assert [r for _, r, _ in sink.messages] == [["noc@net.example"]]
        clock.now = T0 + timedelta(days=1, hours=1)  # the next day: yesterday's digest goes
        asyncio.run(_round(n))
        assert _states(db) == {"skipped": 1, "sent": 3}
        _, rcpts, data = sink.messages[-1]
        assert rcpts == ["hostmaster@nic.or.kr"]
        body = email.message_from_bytes(data).get_payload()
        assert "2 spam reports on 2024-01-02" in body and "210.107.1.9" in body and "210.107.1.10" in body


class Refusing(SlowSink):
    def __init__(self, code: str) -> None:
        super().__init__()
        self.code = code

    async def handle_DATA(self, server, session, envelope) -> str:
        return self.code


def test_bounce_is_recorded_and_transient_failures_back_off(db, rdap, tmp_path):
    clock = Clock()
    with Refusing("550 5.1.1 no such user") as sink:
        n = _notifier(db, rdap, sink.port, clock, tmp_path)
        _report(db, "210.107.73.73", 1)
        asyncio.run(_round(n))
        assert _states(db) == {"bounced": 1}
    with Refusing("451 4.3.0 try later") as sink:
        n = _notifier(db, rdap, sink.port, clock, tmp_path, max_attempts=3)
        _report(db, "210.107.73.74", 2)
        asyncio.run(_round(n))
        assert _states(db) == {"bounced": 1, "pending": 1}
        asyncio.run(_round(n))  # not due yet: nothing tried
        with db.read() as conn:
            assert store.due(conn, clock.now, 10) == []
            assert store.due(conn, clock.now + timedelta(seconds=61), 10)[0].attempts == 1
        clock.now += timedelta(seconds=61)
        asyncio.run(_round(n))
        clock.now += timedelta(seconds=121)
        asyncio.run(_round(n))
        assert _states(db) == {"bounced": 1, "failed": 1}
