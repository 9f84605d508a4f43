from __future__ import annotations

import os
import shutil
import uuid

import pytest
import sqlalchemy as sa

from tests.peers import IN_CI, require_corpus


@pytest.fixture(scope="session")
def corpus():
    """Path of ../shared/corpus (third-party test data, never copied into the project)."""
    return require_corpus()


# --- databases: every test that takes `db` or `db_url` runs on SQLite and on PostgreSQL -------

PG_URL = os.environ.get("MAILREP_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
_pg_state: dict[str, str | None] = {}


def _pg_unreachable() -> str | None:
    """None when PostgreSQL answers, else the reason (checked once per session)."""
    if "reason" not in _pg_state:
        engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3})
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            _pg_state["reason"] = None
        except Exception as e:  # any failure to connect means "no PostgreSQL here"
            _pg_state["reason"] = f"PostgreSQL unreachable at {PG_URL}: {type(e).__name__}"
        finally:
            engine.dispose()
    return _pg_state["reason"]


def _pg_admin() -> sa.Engine:
    """One autocommit engine per session for creating and dropping test schemas."""
    if "admin" not in _pg_engines:
        _pg_engines["admin"] = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    return _pg_engines["admin"]


_pg_engines: dict[str, sa.Engine] = {}


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A URL of an empty database: a SQLite file, or a fresh PostgreSQL schema (dropped after)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'mailrep.sqlite3'}"
        return
    reason = _pg_unreachable()
    if reason:
        if IN_CI:
            pytest.fail(f"CI=true: {reason}")
        pytest.skip(reason)
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = sa.make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(scope="session")
def _migrated(tmp_path_factory):
    """The schema as `alembic upgrade head` leaves it, made once per session: a SQLite file to
    copy, and PostgreSQL DDL replayed per test (the migration itself is tested in tests/store)."""
    from mailrep.store.db import Database

    path = tmp_path_factory.mktemp("template") / "mailrep.sqlite3"
    template = Database(f"sqlite:///{path}")
    template.upgrade()
    revision = template.current_revision()
    template.dispose()
    return path, revision


def _pg_schema_sql(revision: str) -> str:
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.schema import CreateIndex, CreateTable

    from mailrep.store.tables import metadata

    dialect = postgresql.dialect()
    stmts = [str(CreateTable(t).compile(dialect=dialect)) for t in metadata.sorted_tables]
    stmts += [str(CreateIndex(i).compile(dialect=dialect)) for t in metadata.sorted_tables for i in t.indexes]
    stmts += ["CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)",
              f"INSERT INTO alembic_version VALUES ('{revision}')"]
    return ";\n".join(stmts)


@pytest.fixture
def db(db_url, _migrated):
    """A migrated `mailrep.store.db.Database` on SQLite and on PostgreSQL."""
    from mailrep.store.db import Database

    template, revision = _migrated
    if db_url.startswith("sqlite"):
        shutil.copyfile(template, sa.make_url(db_url).database)
    database = Database(db_url)
    if not db_url.startswith("sqlite"):
        with database.engine.begin() as conn:
            conn.exec_driver_sql(_pg_schema_sql(revision))
    yield database
    database.dispose()
