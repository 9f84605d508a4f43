"""What the command modules share: the `--data-dir` option, opening the store, and the one
place where mailrep errors become exit codes.

Commands that only read (lookup, explain, delisting list, reporter show, zone export) open
the store with `create=False`: without a database they fail with "no database at ...; run
`mailrep db upgrade`" (exit 1) and create nothing. The others create and migrate an empty one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from mailrep.errors import BadInput, MailrepError

if TYPE_CHECKING:
    from mailrep.config import Settings
    from mailrep.services import Services
    from mailrep.store.db import Database

T = TypeVar("T")
HELP_WIDTH = 80
DATA_DIR_HELP = "data directory (default ./var, env MAILREP_DATA_DIR)"
DataDir = typer.Option(None, "--data-dir", help=DATA_DIR_HELP)


def group(help: str, **kw: Any) -> typer.Typer:
    """A command group. Help is plain text wrapped to the terminal (rich's tables cut long
    option names and help with "…" in 80 columns, and importing rich costs 0.1 s)."""
    return typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                       pretty_exceptions_enable=False, help=help,
                       context_settings={"max_content_width": HELP_WIDTH}, **kw)


def open_db(data_dir: Path | None, *, create: bool = True,
            upgrade_if_empty: bool = True) -> tuple[Settings, Database]:
    """The settings and database of `data_dir` (env MAILREP_DATABASE_URL wins). With `create`
    the database is created if missing and its schema when it is empty; without, a missing or
    empty database is `NoDatabase` and nothing is created."""
    from mailrep.config import load_settings
    from mailrep.store.db import Database

    settings = load_settings(data_dir=data_dir)
    if not create:
        return settings, Database.existing(settings)
    db = Database.from_settings(settings)
    if upgrade_if_empty and db.is_empty():
        db.upgrade()
    return settings, db


def open_services(data_dir: Path | None, *, create: bool = True) -> Services:
    from mailrep.run import build_services

    return build_services(*open_db(data_dir, create=create))


@contextmanager
def exits(prog: str = "error", *, code: int | None = None, os_error: int | None = None) -> Iterator[None]:
    """The one place where errors become exit codes: a mailrep error prints `<prog>: <message>`
    on stderr and exits `code`, by default 2 for bad input and 1 otherwise (a missing database:
    1); an OSError does the same with `os_error` when given (else it propagates)."""
    try:
        yield
    except MailrepError as e:
        typer.echo(f"{prog}: {e.message}", err=True)
        raise typer.Exit(code if code is not None else 2 if isinstance(e, BadInput) else 1) from None
    except OSError as e:
        if os_error is None:
            raise
        typer.echo(f"{prog}: {e}", err=True)
        raise typer.Exit(os_error) from None


def run(fn: Callable[[], T]) -> T:
    """Run a command body: a mailrep error prints `error: <message>` and exits 2 (bad input) or 1."""
    with exits():
        return fn()


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` to completion in a new event loop (uvloop when installed)."""
    import asyncio

    try:
        import uvloop
    except ImportError:  # an optional speed-up
        return asyncio.run(coro)
    return uvloop.run(coro)


def echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=False, default=str))
