"""Reputation service over the store (SQLite and PostgreSQL): DNS query counts, recompute
(idempotent, incremental, history pruned), the IP / network / domain views, the rep. zone."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from mailrep.config import Settings
from mailrep.errors import BadInput
from mailrep.policy.reputation import RepConfig, a_octet
from mailrep.run import build_services
from mailrep.store.tables import rep_daily, reports, volume

NOW = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)
BIG, SMALL, QUERIED = "198.51.100.7", "203.0.113.9", "192.0.2.33"
_n = iter(range(10**9))


def svc(db):
    return build_services(Settings(), db)


def vol(db, ip, n, end=NOW):
    with db.transaction() as conn:
        conn.execute(volume.insert().values(ip=ip, count=n, period_start=end - timedelta(days=1), period_end=end,
                                            received_at=end))


def complaint(db, ip, at=NOW, channel="http", domain=None):
    raw = b"Subject: spam\r\n\r\nbuy\r\n"
    trace = {"urls": [{"url": f"http://{domain}/", "host": domain, "domain": domain}]} if domain else None
    with db.transaction() as conn:
        conn.execute(reports.insert().values(channel=channel, received_at=at, sha256="0" * 64, raw_z=zlib.compress(raw),
                                             raw_size=len(raw), stored_size=len(raw), source_ip=ip,
                                             trace_json=trace, dedupe_key=f"r{next(_n)}"))


def daily_rows(db):
    with db.read() as conn:
        return sorted(tuple(r) for r in conn.execute(sa.select(rep_daily)))


def test_must_show_figures_and_idempotent_recompute(db):
    s = svc(db)
    vol(db, BIG, 999_990)
    vol(db, SMALL, 10)
    for _ in range(3):
        complaint(db, SMALL, domain="spam.example")
    s.reputation.count_queries({QUERIED: 20}, NOW)
    s.reputation.count_queries({QUERIED: 10}, NOW)  # flushes add up
    run = s.reputation.recompute(NOW)
    assert run.changed > 0
    rows = daily_rows(db)
    again = s.reputation.recompute(NOW)
    assert daily_rows(db) == rows and again.changed == 0  # idempotent

    big = s.reputation.ip(BIG, NOW)
    assert big["score"] >= 0 and big["magnitude"]["day"] == 10.0 and big["volume"]["day"] == 999_990
    small = s.reputation.ip(SMALL, NOW)
    assert small["score"] < 0 and small["magnitude"]["day"] == 5.0 and small["complaints"] == {"day": 3, "month": 3}
    assert small["confidence"] == "high" and small["explanation"] and small["history"][0]["complaints"] == 3
    queried = s.reputation.ip(QUERIED, NOW)
    assert queried["dns_queries"]["day"] == 30 and queried["magnitude"]["day"] is None
    unknown = s.reputation.ip("192.0.2.200", NOW)
    assert unknown["score"] is None and unknown["confidence"] == "none"
    net = s.reputation.network("203.0.113.0/24", NOW)
    assert net["network"] == "203.0.113.0/24" and net["score"] < 0
    assert s.reputation.network("203.0.113.9", NOW)["network"] == "203.0.113.0/24"
    assert small["network"]["cidr"] == "203.0.113.0/24"
    dom = s.reputation.domain("Spam.Example.", NOW)
    assert dom["domain"] == "spam.example" and dom["complaints"]["month"] == 3 and dom["score"] is None
    with pytest.raises(BadInput):
        s.reputation.network("203.0.0.0/16", NOW)
    with pytest.raises(BadInput):
        s.reputation.domain("not a domain", NOW)

    # the rep. zone: TXT key=value| and A 127.0.4.N for the scored IPs only
    entries = {(z, k): (a, t) for z, k, a, t in s.publish.entries(NOW) if z == "rep"}
    a, txt = entries[("rep", SMALL)]
    assert a == f"127.0.4.{a_octet(small['score'])}" and f"score={small['score']:.1f}|" in txt
    assert "mag_day=5.00" in txt and "complaints_day=3" in txt and "listed=N" in txt
    assert ("rep", "192.0.2.200") not in entries
    assert s.publish.snapshot(NOW, s.publish.change_marker()).zones


def test_blocklist_still_counts_dns_queries_as_volume(db):
    s = svc(db)
    s.reputation.count_queries({SMALL: 1000}, NOW)
    assert s.lookup.explain(SMALL, NOW)["volume"] == 1000


def test_incremental_day_change_and_history_pruned(db):
    s = svc(db)
    old = NOW - timedelta(days=500)
    vol(db, BIG, 100, end=old)
    s.reputation.recompute(old)
    assert any(r[2] == old.date() for r in daily_rows(db))
    vol(db, BIG, 100)
    run = s.reputation.recompute(NOW)
    assert run.full and all(r[2] > (NOW - timedelta(days=400)).date() for r in daily_rows(db))
    later = NOW + timedelta(minutes=5)
    vol(db, SMALL, 50, end=later)
    inc = s.reputation.recompute(later)
    assert not inc.full and inc.scored == 4  # the entities with rows on the rebuilt days: 2 IPs, 2 networks
    assert s.reputation.ip(SMALL, later)["volume"]["day"] == 50
    # late telemetry for an older day is picked up
    vol(db, SMALL, 70, end=NOW - timedelta(days=5))
    with db.transaction() as conn:
        conn.execute(volume.update().where(volume.c.count == 70).values(received_at=later + timedelta(minutes=1)))
    s.reputation.recompute(later + timedelta(minutes=2))
    assert s.reputation.ip(SMALL, later + timedelta(minutes=2))["volume"]["month"] == 120


def test_config_from_settings():
    assert RepConfig.from_section({"window_days": 20, "recompute_interval": 5}).window_days == 20
