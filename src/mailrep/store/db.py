"""The database handle: one engine, one `transaction()` context manager, migrations.

    db = Database.from_settings(load_settings())   # or Database("sqlite:///var/mailrep.sqlite3")
    db.upgrade()                                    # alembic upgrade head, programmatically
    with db.transaction() as conn:                  # BEGIN IMMEDIATE on SQLite; commit on exit
        conn.execute(...)
    with db.read() as conn:                         # a consistent read snapshot
        ...

SQLite (the default) runs in WAL mode with `synchronous=FULL`: a transaction that returned from
commit survives SIGKILL and power loss. Write transactions take the write lock up front
(`BEGIN IMMEDIATE`) so two writers queue on `busy_timeout` instead of failing half-way with
SQLITE_BUSY when a read lock cannot be upgraded. Inside one process the write transactions of
its threads (the intake writer, the post-commit processor, request handlers) also queue on a
lock of this `Database`: SQLite's busy handler polls with sleeps that grow to 100 ms, so two
threads taking turns on the write lock would otherwise wait out those sleeps. PostgreSQL is used when the URL says so
(`postgresql+psycopg://...`); the schema is the same (`mailrep.store.tables`).

A new SQLite file is created 0600 in a directory created 0700 (it holds trap addresses and
reporters' data); SQLite gives its -wal and -shm files the mode of the database file.
`Database.existing(settings)` opens a database that already holds the schema, creating
nothing, or raises `NoDatabase` (read-only commands).

Database failures leave this module as `StorageError`; a write that lost a race with another
writer (a unique key inserted first, a PostgreSQL deadlock or serialization failure) leaves it as
`WriteConflict`, which is safe to run again.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from mailrep.config import Settings
from mailrep.errors import NotFound, StorageError
from mailrep.store.encoded import serialize

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_CACHE_KIB = 32 * 1024  # page cache per connection (SQLite's default is 2 MiB)
# Checkpoint the WAL every ~64 MB instead of every 4 MB: a page written several times in that
# span (a report row, then its state) is copied to the database once. Commits still fsync.
SQLITE_CHECKPOINT_PAGES = 16_000
_BEGIN_OPTION = "mailrep_sqlite_begin"
_PG_CONFLICTS = frozenset({"23505", "40001", "40P01"})  # unique_violation, serialization, deadlock
_SQLITE_UNIQUE = frozenset({1555, 2067})  # SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_UNIQUE


class WriteConflict(StorageError):
    """A concurrent writer got there first; the transaction was rolled back and may be run again."""

    code = "write_conflict"


class NoDatabase(NotFound):
    """There is no mailrep database there yet."""

    code = "no_database"


def sqlite_path(url: sa.URL) -> Path | None:
    """The file of a SQLite URL; None for PostgreSQL and in-memory SQLite."""
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def _create_private(path: Path) -> None:
    """Create the database file 0600 (its missing directories 0700) before SQLite opens it."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def _is_conflict(orig: Any) -> bool:
    return (getattr(orig, "sqlstate", None) in _PG_CONFLICTS
            or getattr(orig, "sqlite_errorcode", None) in _SQLITE_UNIQUE)


# A date bound straight through the driver (the bulk writes of `store.reputation`) is stored as
# ISO text, as SQLAlchemy's Date stores it. (The standard library's own date adapter does the
# same but is deprecated from Python 3.12; SQLAlchemy binds text, never a date, so this only
# names what raw driver calls get.)
sqlite3.register_adapter(date, date.isoformat)


def _sqlite_engine(url: sa.URL, **kw: Any) -> Engine:
    path = sqlite_path(url)
    if path is not None and not path.exists():
        _create_private(path)
    engine = sa.create_engine(
        url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        json_serializer=serialize, **kw,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Driver autocommit: we emit BEGIN ourselves (see _on_begin), so pysqlite never opens
        # a hidden deferred transaction, and PRAGMAs run outside any transaction.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cur.execute(f"PRAGMA wal_autocheckpoint={SQLITE_CHECKPOINT_PAGES}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


class Database:
    """One database (SQLite file or PostgreSQL) and its connection pool."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = sa.make_url(url)
        try:
            if self.url.get_backend_name() == "sqlite":
                self.engine = _sqlite_engine(self.url, echo=echo)
            else:
                self.engine = sa.create_engine(self.url, echo=echo, pool_pre_ping=True,
                                               json_serializer=serialize)
        except (sa.exc.ArgumentError, ImportError) as e:
            raise StorageError(f"cannot open database {self.url!r}: {e}") from e
        # SQLite: one write transaction at a time per process, waiting on a real lock.
        self._write_lock: AbstractContextManager[Any] = (
            threading.RLock() if self.dialect == "sqlite" else nullcontext())

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(settings.db_url)

    @classmethod
    def existing(cls, settings: Settings) -> Database:
        """The database of `settings` when it holds the schema; `NoDatabase` otherwise, with
        nothing created (no directory, no file, no table)."""
        url = sa.make_url(settings.db_url)
        path = sqlite_path(url)
        where = str(path) if path is not None else url.render_as_string(hide_password=True)
        missing = NoDatabase(f"no database at {where}; run `mailrep db upgrade`")
        if path is not None and not path.is_file():
            raise missing
        db = cls(settings.db_url)
        if db.is_empty():
            db.dispose()
            raise missing
        return db

    @property
    def dialect(self) -> str:
        """'sqlite' or 'postgresql'."""
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction: committed when the block ends, rolled back if it raises."""
        with self._write_lock, self._begin("IMMEDIATE") as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only snapshot: every statement sees the same committed state (a deferred
        transaction on SQLite, no write lock; REPEATABLE READ on PostgreSQL, whose default
        isolation would give each statement a newer snapshot)."""
        with self._begin("DEFERRED") as conn:
            yield conn

    @contextmanager
    def _begin(self, mode: str) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                conn.execution_options(**{_BEGIN_OPTION: mode})
                if mode == "DEFERRED" and self.dialect == "postgresql":
                    conn.execution_options(isolation_level="REPEATABLE READ")
                with conn.begin():
                    yield conn
        except sa.exc.DBAPIError as e:
            kind = WriteConflict if _is_conflict(e.orig) else StorageError
            raise kind(f"database error: {e.orig}") from e

    def upgrade(self, revision: str = "head") -> None:
        """Bring the schema to `revision` (alembic upgrade, run in-process)."""
        from alembic import command

        command.upgrade(self._alembic_config(), revision)

    def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def is_empty(self) -> bool:
        """True when no migration has ever run here."""
        return self.current_revision() is None

    def _alembic_config(self) -> Any:
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        # env.py uses this engine (not a URL string: keeps the SQLite PRAGMAs and test schemas).
        cfg.attributes["engine"] = self.engine
        return cfg

    def dispose(self) -> None:
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Database({self.url.render_as_string(hide_password=True)!r})"
