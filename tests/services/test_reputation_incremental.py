"""The incremental recompute (entities whose inputs did not change are not rescored) gives the
same current rows as scoring everything afresh."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from mailrep.policy.reputation import RepConfig
from mailrep.services.reputation import Reputation
from mailrep.store.tables import rep_current, rep_daily, volume

NOW = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)


def _volume(db, ip, n, at):
    with db.transaction() as conn:
        conn.execute(volume.insert().values(ip=ip, count=n, period_start=at - timedelta(minutes=5), period_end=at,
                                            received_at=at))


def _rows(db, table):
    with db.read() as conn:
        return sorted(tuple(r) for r in conn.execute(sa.select(table)))


def test_incremental_skips_unchanged_and_matches_a_fresh_instance(db):
    rep = Reputation(db, RepConfig())
    for i in range(20):
        _volume(db, f"192.0.2.{i + 1}", 100 * (i + 1), NOW - timedelta(hours=1))
    _volume(db, "198.51.100.7", 5000, NOW - timedelta(days=1, hours=1))  # yesterday: follows the clock
    rep.recompute(NOW)
    again = rep.recompute(NOW)
    assert again.changed == 0 and again.rescored < again.scored
    _volume(db, "203.0.113.9", 10**6, NOW + timedelta(minutes=1))  # the world moves: magnitudes follow
    later = NOW + timedelta(minutes=30)
    inc = rep.recompute(later)
    assert inc.rescored < inc.scored
    current, daily = _rows(db, rep_current), _rows(db, rep_daily)
    # the same `later` run by a fresh instance (no memory of the previous run: rescores all)
    fresh = Reputation(db, RepConfig())
    with db.transaction() as conn:
        conn.execute(rep_current.delete())
    run = fresh.recompute(later)
    assert run.rescored == run.scored
    assert _rows(db, rep_current) == current and _rows(db, rep_daily) == daily
