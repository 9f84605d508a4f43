"""What the command modules share: the `--data-dir` option, opening the store, the clock,
and the one place where mailrep errors become exit codes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from mailrep.errors import BadInput, MailrepError

if TYPE_CHECKING:
    from mailrep.config import Settings
    from mailrep.services import Services
    from mailrep.store.db import Database

T = TypeVar("T")
DATA_DIR_HELP = "data directory (default ./var, env MAILREP_DATA_DIR)"
DataDir = typer.Option(None, "--data-dir", help=DATA_DIR_HELP)


def now() -> datetime:
    return datetime.now(UTC)


def open_db(data_dir: Path | None, *, upgrade_if_empty: bool = True) -> tuple[Settings, Database]:
    """The settings and database of `data_dir` (env MAILREP_DATABASE_URL wins); the schema is
    created when the database is empty."""
    from mailrep.config import load_settings
    from mailrep.store.db import Database

    settings = load_settings(data_dir=data_dir)
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database.from_settings(settings)
    if upgrade_if_empty and db.is_empty():
        db.upgrade()
    return settings, db


def open_services(data_dir: Path | None) -> Services:
    from mailrep.run import build_services

    return build_services(*open_db(data_dir))


def run(fn: Callable[[], T]) -> T:
    """Run a command body: a mailrep error prints `error: <message>` and exits 2 (bad input) or 1."""
    try:
        return fn()
    except MailrepError as e:
        typer.echo(f"error: {e.message}", err=True)
        raise typer.Exit(2 if isinstance(e, BadInput) else 1) from None


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` to completion in a new event loop (uvloop when installed)."""
    try:
        import uvloop
    except ImportError:  # an optional speed-up
        return asyncio.run(coro)
    return uvloop.run(coro)


def echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=False, default=str))
