"""The post-commit processor: queued reports are re-evaluated, then leave the queue; a failing
source parks its own reports only; a restart picks up whatever is still queued."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime

import sqlalchemy as sa

from mailrep.intake.processor import Processor
from mailrep.store import reports as store
from mailrep.store import tables as t

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def add_reports(db, ips: list[str | None], *, queue: bool = True) -> list[tuple[int, str | None]]:
    rows = [dict(channel="http", received_at=NOW, sha256=f"{i:064x}", raw_z=zlib.compress(b"m"),
                 raw_size=1, stored_size=1, source_ip=ip, counted=ip is not None,
                 dedupe_key=f"r:-:{i:064x}-{ip}") for i, ip in enumerate(ips)]
    with db.transaction() as conn:
        start = conn.execute(sa.select(sa.func.count()).select_from(t.reports)).scalar_one()
        for r in rows:
            r["dedupe_key"] += f"-{start}"
        ids = store.insert_reports(conn, rows)
        if queue:
            store.enqueue(conn, ids)
    return list(zip(ids, ips, strict=True))


class Recorder:
    def __init__(self, fail: set[str] = frozenset()) -> None:
        self.fail = fail
        self.seen: list[list[str]] = []

    def __call__(self, ips, now):
        self.seen.append(list(ips))
        if self.fail & set(ips):
            raise RuntimeError(f"cannot score {sorted(self.fail & set(ips))}")
        return []


def states(db) -> dict[int, str]:
    out = {}
    with db.read() as conn:
        for (rid,) in conn.execute(sa.select(t.reports.c.id)):
            out[rid] = store.get_report(conn, rid)["state"]
    return out


def test_notified_reports_are_evaluated_then_processed(db):
    rec = Recorder()
    p = Processor(db, clock=lambda: NOW, reevaluate=rec)
    p.start()
    try:
        reps = add_reports(db, ["192.0.2.1", "192.0.2.2", None])
        assert set(states(db).values()) == {"accepted"}  # queued until the work is done
        p.notify(reps)
        assert p.wait_idle(30)
    finally:
        p.close()
    assert sorted(ip for batch in rec.seen for ip in batch) == ["192.0.2.1", "192.0.2.2"]
    assert set(states(db).values()) == {"processed"}
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.report_queue)).scalar_one() == 0
        assert store.report_states(conn) == {"processed": 3}


def test_a_source_that_fails_parks_its_own_reports_and_the_rest_flows_on(db):
    rec = Recorder(fail={"192.0.2.66"})
    p = Processor(db, clock=lambda: NOW, reevaluate=rec)
    p.start()
    try:
        reps = add_reports(db, ["192.0.2.1", "192.0.2.66", "192.0.2.66", "192.0.2.3"])
        p.notify(reps)
        assert p.wait_idle(30)
    finally:
        p.close()
    got = states(db)
    ids = [rid for rid, _ in reps]
    assert [got[i] for i in ids] == ["processed", "parked", "parked", "processed"]
    with db.read() as conn:
        row = store.get_report(conn, ids[1])
        assert "re-evaluating 192.0.2.66" in row["error"] and "cannot score" in row["error"]
        assert store.report_states(conn) == {"processed": 2, "parked": 2}
        assert conn.execute(sa.select(sa.func.count()).select_from(t.report_queue)).scalar_one() == 0
    assert p.parked == 2 and p.processed == 2


def test_a_restart_picks_up_every_report_still_queued(db):
    queued = add_reports(db, [f"198.51.100.{i}" for i in range(1, 6)])   # committed, never notified
    add_reports(db, ["198.51.100.99"], queue=False)                    # already processed
    rec = Recorder()
    p = Processor(db, clock=lambda: NOW, reevaluate=rec)
    p.start()  # recovery happens here
    try:
        assert p.wait_idle(30)
    finally:
        p.close()
    assert sorted(ip for batch in rec.seen for ip in batch) == sorted(ip for _, ip in queued)
    assert all(states(db)[rid] == "processed" for rid, _ in queued)


def test_upgrade_queues_the_reports_an_older_schema_left_accepted(tmp_path):
    from mailrep.store.db import Database

    db = Database(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    try:
        db.upgrade("0002")
        with db.transaction() as conn:
            for i, state in enumerate(["accepted", "processed", "parked", "accepted"]):
                conn.exec_driver_sql(
                    "INSERT INTO reports (channel, received_at, sha256, raw_z, raw_size, stored_size,"
                    " truncated, counted, state, dedupe_key) VALUES"
                    f" ('http', '2026-12-04 12:00:00.000000', '{i:064x}', x'00', 1, 1, 0, 1, '{state}', 'k{i}')")
        db.upgrade()
        with db.read() as conn:
            assert [r[0] for r in conn.exec_driver_sql("SELECT report_id FROM report_queue ORDER BY 1")] == [1, 4]
            assert store.report_states(conn) == {"accepted": 2, "processed": 1, "parked": 1}
            assert [store.get_report(conn, i)["state"] for i in (1, 2, 3, 4)] == \
                ["accepted", "processed", "parked", "accepted"]
    finally:
        db.dispose()
