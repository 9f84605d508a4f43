"""Alembic environment, run in-process by `Database.upgrade()` (no alembic.ini needed).

The caller hands its engine in through `config.attributes["engine"]`; the `alembic` command
line can still be used with `-x url=...` for authoring new revisions.

On SQLite, foreign keys are not enforced while the migrations run (a batch-mode migration
rebuilds a table that others reference, which SQLite's DROP TABLE would refuse), and
`PRAGMA foreign_key_check` must find nothing before the migration commits.
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
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:  # outside any transaction (SQLite ignores the pragma inside one)
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=sqlite,
            compare_type=True,
        )
        try:
            with context.begin_transaction():
                context.run_migrations()
                if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first():
                    raise RuntimeError("migration left rows whose foreign keys point nowhere")
        finally:
            if sqlite:
                connection.rollback()  # ends what alembic's autobegun reads left open (no-op after commit)
                connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


if context.is_offline_mode():
    raise RuntimeError("offline migrations are not supported")
run_migrations_online()
