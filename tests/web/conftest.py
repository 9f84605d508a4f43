from __future__ import annotations

import uuid
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

with warnings.catch_warnings():  # starlette asks for httpx2; httpx works (and is what we test with)
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from mailrep.config import Settings
from mailrep.intake.limits import IntakeLimits
from mailrep.run import build_app
from mailrep.store import accounts
from tests.peers import IN_CI

OPERATOR_NET = "93.184.216.0/24"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@dataclass
class Api:
    client: TestClient
    db: object
    clock: Clock
    tokens: dict[str, str] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def from_address(self, addr: str) -> TestClient:
        """A client for the same running app that connects from `addr`."""
        return TestClient(self.client.app, client=(addr, 40000))

    def account(self, name: str, role: str, **reporter) -> str:
        """A fresh account for one test (tests share the module's database)."""
        self.ids[name], self.tokens[name] = add_account(self.db, name, role, self.clock.now, **reporter)
        return self.tokens[name]


def add_account(db, name: str, role: str, now: datetime, **reporter) -> tuple[int, str]:
    with db.transaction() as conn:
        acc = accounts.create_account(conn, name, role, now)
        if role == "reporter":
            accounts.add_reporter(conn, acc.id, **reporter)
        return acc.id, accounts.create_token(conn, acc.id, now)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def mdb(request, tmp_path_factory):
    """A migrated database shared by the tests of one module (they use distinct data)."""
    from mailrep.store.db import Database
    from tests.conftest import PG_URL, _pg_unreachable

    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path_factory.mktemp('db') / 'mailrep.sqlite3'}")
        database.upgrade()
        yield database
        database.dispose()
        return
    reason = _pg_unreachable()
    if reason:
        if IN_CI:
            pytest.fail(f"CI=true: {reason}")
        pytest.skip(reason)
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = sa.make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    database = Database(url.render_as_string(hide_password=False))
    try:
        database.upgrade()
        yield database
    finally:
        database.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture(scope="module")
def limits() -> IntakeLimits:
    return IntakeLimits(trace_workers=0, max_bytes=200_000, keep_bytes=4_000, delisting_per_hour=3,
                        operator_mailhosts=(OPERATOR_NET,), volume_batch_max=50)


@pytest.fixture(scope="module")
def api(mdb, clock, limits, tmp_path_factory):
    db = mdb
    app = build_app(Settings(data_dir=tmp_path_factory.mktemp("data")), db, clock, limits=limits)
    with TestClient(app) as client:
        a = Api(client, db, clock)
        for name, role, extra in (
            ("alice", "reporter", {}),
            ("bob", "reporter", {}),
            ("carol", "reporter", {"daily_quota": 2}),
            ("feed", "feed", {}),
            ("deputy", "deputy", {}),
            ("admin", "admin", {}),
        ):
            a.ids[name], a.tokens[name] = add_account(db, name, role, clock.now, **extra)
        yield a
