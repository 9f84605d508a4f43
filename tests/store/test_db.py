from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

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


_TIMES = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9999, 12, 31),
                      timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)),
                                                 timezone(timedelta(hours=-8))]))


@given(_TIMES)
def test_sqlite_times_are_written_and_read_as_the_generic_converters_do(when):
    # The fused SQLite converters of UTCDateTime against SQLAlchemy's own chain
    # (process_bind_param + SQLite DATETIME formatting; DATETIME parsing + process_result_value).
    from sqlalchemy.dialects import sqlite

    dialect = sqlite.dialect()
    typ = t.UTCDateTime()
    fused_bind, fused_result = typ.bind_processor(dialect), typ.result_processor(dialect, None)
    impl = sa.DateTime().dialect_impl(dialect)
    generic_bind = impl.bind_processor(dialect)
    generic_result = impl.result_processor(dialect, None)
    text = fused_bind(when)
    assert text == generic_bind(typ.process_bind_param(when, dialect))
    assert fused_result(text) == typ.process_result_value(generic_result(text), dialect) == when
    assert fused_result(text).tzinfo is UTC
    assert fused_result(None) is None and fused_bind(None) is None
    assert fused_result("2026-12-04 03:06:39") == datetime(2026, 12, 4, 3, 6, 39, tzinfo=UTC)  # no fraction


def test_delisting_request_ids_never_start_with_a_dash():
    # a CLI argument starting with "-" is read as an option (the id was 1 in 64 times unusable)
    from mailrep.store.delisting import new_public_id

    ids = [new_public_id() for _ in range(5000)]
    assert not any(i.startswith("-") for i in ids)
    assert len(set(ids)) == len(ids) and all(len(i) == 16 for i in ids)
