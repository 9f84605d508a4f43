from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from mailrep.errors import StorageError
from mailrep.store import reports as reports_store
from mailrep.store import tables as t
from mailrep.store.db import Database

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture
def migrated(db_url):
    """A database migrated by alembic itself (the `db` fixture replays a copy)."""
    database = Database(db_url)
    database.upgrade()
    yield database
    database.dispose()


def test_upgrade_creates_every_table_and_is_idempotent(db_url):
    db = Database(db_url)
    assert db.is_empty()
    db.upgrade()
    names = set(sa.inspect(db.engine).get_table_names())
    assert set(t.metadata.tables) <= names
    assert db.current_revision() is not None
    db.upgrade()  # a second upgrade is a no-op
    assert not db.is_empty()
    db.dispose()


def _schema_diff(db):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with db.engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), t.metadata)


def test_migration_matches_tables_module(migrated):
    assert _schema_diff(migrated) == []


def test_db_fixture_matches_tables_module(db):
    assert _schema_diff(db) == []


def test_times_round_trip_as_aware_utc(db):
    local = NOW.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
    with db.transaction() as conn:
        conn.execute(t.accounts.insert().values(name="a", role="admin", created_at=local))
    with db.read() as conn:
        got = conn.execute(sa.select(t.accounts.c.created_at)).scalar_one()
    assert got == NOW and got.tzinfo is not None and got.utcoffset() == timedelta(0)


def test_transaction_rolls_back_on_error(db):
    with pytest.raises(RuntimeError), db.transaction() as conn:
        conn.execute(t.accounts.insert().values(name="gone", role="admin", created_at=NOW))
        raise RuntimeError("boom")
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.accounts)).scalar_one() == 0


@pytest.mark.parametrize(
    "table, values",
    [
        (t.accounts, {"name": "x", "role": "emperor", "created_at": NOW}),
        (t.listings, {"key": "192.0.2.1", "family": 5, "state": "listed", "updated_at": NOW}),
        (t.listings, {"key": "192.0.2.1", "family": 4, "state": "maybe", "updated_at": NOW}),
        (t.api_tokens, {"account_id": 999, "token_hash": "h", "created_at": NOW}),  # foreign key
    ],
)
def test_constraints_are_enforced_and_become_storage_errors(db, table, values):
    with pytest.raises(StorageError), db.transaction() as conn:
        conn.execute(table.insert().values(**values))


def test_report_row_round_trip(db):
    raw = b"Subject: hi\r\n\r\nbody\r\n"
    with db.transaction() as conn:
        rid, = reports_store.insert_reports(conn, [dict(
            channel="http", received_at=NOW, sha256="0" * 64, raw_z=zlib.compress(raw),
            raw_size=len(raw), stored_size=len(raw), trace_json={"source_ip": "192.0.2.7"},
            source_ip="192.0.2.7", flags=["old"], dedupe_key="k1",
        )])
    with db.read() as conn:
        row = conn.execute(sa.select(t.reports).where(t.reports.c.id == rid)).one()
        body = reports_store.get_raw(conn, rid)
    assert zlib.decompress(body) == raw
    assert row.trace_json == {"source_ip": "192.0.2.7"} and row.flags == ["old"]
    assert row.counted is True and row.truncated is False and row.state == "accepted"


def test_insert_reports_returns_ids_in_row_order(db):
    rows = [dict(channel="http", received_at=NOW, sha256=f"{i:064x}", raw_z=zlib.compress(b"m%d" % i),
                 raw_size=2, stored_size=2, source_ip=f"192.0.2.{i % 250}", dedupe_key=f"k{i}")
            for i in range(1200)]  # more than one insertmanyvalues page
    with db.transaction() as conn:
        ids = reports_store.insert_reports(conn, rows[:7])
        ids += reports_store.insert_reports(conn, rows[7:])
    assert len(set(ids)) == len(rows)
    with db.read() as conn:
        by_id = dict(conn.execute(sa.select(t.reports.c.id, t.reports.c.dedupe_key)).all())
        assert [by_id[i] for i in ids] == [r["dedupe_key"] for r in rows]
        assert zlib.decompress(reports_store.get_raw(conn, ids[1000])) == b"m1000"
    with db.transaction() as conn:  # later default-id inserts do not collide with drawn ids
        conn.execute(t.reports.insert().values(channel="http", received_at=NOW, sha256="f" * 64, raw_z=b"",
                                               raw_size=0, stored_size=0, dedupe_key="after"))


def test_sqlite_is_durable_wal(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'sub' / 'x.sqlite3'}")
    with db.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    db.dispose()


def test_bad_url_is_a_storage_error():
    with pytest.raises(StorageError):
        Database("nosuchdialect://x")
