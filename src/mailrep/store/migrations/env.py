"""Alembic environment, run in-process by `Database.upgrade()` (no alembic.ini needed).

The caller hands its engine in through `config.attributes["engine"]`; the `alembic` command
line can still be used with `-x url=...` for authoring new revisions.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from mailrep.store.tables import metadata

config = context.config


def _engine() -> sa.Engine:
    engine = config.attributes.get("engine")
    if isinstance(engine, sa.Engine):
        return engine
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no engine: pass -x url=... or use mailrep.store.db.Database.upgrade()")
    from mailrep.store.db import Database

    return Database(url).engine


def run_migrations_online() -> None:
    with _engine().connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline migrations are not supported")
run_migrations_online()
