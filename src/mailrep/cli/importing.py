"""`mailrep import` and `mailrep reporter show`.

    mailrep import --reporter NAME [--channel user|fbl|trap] PATH...   (mbox, Maildir, .eml dir, -)

A rich progress bar (messages, rate, ETA) on a terminal; a summary at the end (imported,
duplicates, untraceable with reasons, rejected). Exit 0 when the data was merely odd (not mail,
untraceable, duplicates); 1 on real errors (storage, unreadable path); 2 on bad usage.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from mailrep.cli.common import DataDir, exits, open_db
from mailrep.clock import system_clock
from mailrep.errors import BadInput, NotFound
from mailrep.roles import Role

if TYPE_CHECKING:
    from rich.console import Console

    from mailrep.intake.importer import Summary

def _rate_column() -> Any:
    from rich.progress import ProgressColumn, Task
    from rich.text import Text

    class RateColumn(ProgressColumn):
        """Messages per second."""

        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text("  -- msg/s" if speed is None else f"{speed:5.0f} msg/s", style="progress.data.speed")

    return RateColumn()


def print_summary(console: Console, s: Summary) -> None:
    console.print(f"imported {s.imported}, duplicates {s.duplicates}, "
                  f"untraceable {sum(s.untraceable.values())}, rejected {sum(s.rejected.values())} "
                  f"(of {s.seen} messages); of the imported, {s.counted} count as evidence, "
                  f"{sum(s.not_counted.values())} do not", highlight=False)
    for title, counter in (("not counted", s.not_counted), ("untraceable", s.untraceable),
                           ("rejected", s.rejected)):
        for reason, n in counter.most_common(10):
            console.print(f"  {title}: {n} x {reason}", highlight=False)
    for err in s.errors[:20]:
        console.print(f"  error: {err}", highlight=False)


def run_import(paths: list[str], reporter: str, channel: str, data_dir: Path | None, as_json: bool) -> int:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from mailrep.intake.importer import Importer
    from mailrep.intake.limits import IntakeLimits
    from mailrep.intake.mailbox import Source
    from mailrep.run import build_intake, build_services
    from mailrep.store import accounts

    console = Console(stderr=True)
    settings, db = open_db(data_dir)
    try:
        with db.read() as conn:
            acc = accounts.get_account(conn, reporter)
            try:
                mailhosts = accounts.get_reporter(conn, acc.id).mailhosts
            except NotFound:
                mailhosts = ()
        if channel == "user" and acc.role != Role.REPORTER:
            raise BadInput(f"{reporter!r} is a {acc.role} account; --channel user needs a reporter")
        sources = [Source(p) for p in paths]
        total = sum(s.count() for s in sources)
        limits = IntakeLimits.from_section(settings.section("intake"))
        service = build_intake(settings, build_services(settings, db), system_clock, limits=limits)
        service.start()
        importer = Importer(service, db, owner_id=acc.id, channel=channel, mailhosts=mailhosts,
                            clock=system_clock, workers=limits.trace_workers if total > 200 else 0)
        progress = Progress(
            TextColumn("[bold]import[/bold]"), BarColumn(), MofNCompleteColumn(), _rate_column(),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=console, transient=False, refresh_per_second=8,
        )
        try:
            with progress:
                task = progress.add_task("import", total=total)
                summary = importer.run(sources, on_progress=lambda n: progress.advance(task, n))
        finally:
            service.close()
    finally:
        db.dispose()
    if as_json:
        print(json.dumps(summary.to_dict(), sort_keys=True))
    print_summary(console, summary)
    return 1 if summary.errors else 0


def reporter_show(name: str, data_dir: Path | None) -> dict[str, object]:
    from mailrep.intake.addresses import SmtpConfig, submit_address
    from mailrep.store import accounts

    settings, db = open_db(data_dir, create=False)
    try:
        with db.read() as conn:
            acc = accounts.get_account(conn, name)
            rep = accounts.get_reporter(conn, acc.id)
    finally:
        db.dispose()
    cfg = SmtpConfig.from_section(settings.section("smtp"), default_domain=settings.zone_base)
    return {
        "name": acc.name, "id": acc.id, "status": rep.status if acc.active else acc.status,
        "kind": rep.kind, "trust_weight": rep.trust_weight, "daily_quota": rep.daily_quota,
        "mailhosts": list(rep.mailhosts),
        "submit_address": submit_address(rep.submit_code, cfg) if rep.submit_code else None,
    }


def register(app: typer.Typer, *, reporter_group: typer.Typer) -> None:
    """`mailrep import` on `app`, `show` on the `reporter` group."""

    @app.command("import")
    def import_cmd(
        paths: list[str] = typer.Argument(..., help="mbox files, Maildirs, directories of .eml, or - for stdin"),
        reporter: str = typer.Option(..., "--reporter", help="account the reports are filed under"),
        channel: str = typer.Option("user", "--channel", help="user | fbl | trap"),
        as_json: bool = typer.Option(False, "--json", help="also print the summary as JSON on stdout"),
        data_dir: Path = DataDir,
    ) -> None:
        """Import stored mail as reports.

        Resumable: re-running imports nothing twice."""
        from mailrep.intake.importer import CHANNELS

        if channel not in CHANNELS:
            typer.echo(f"mailrep import: --channel must be one of {', '.join(CHANNELS)}", err=True)
            raise typer.Exit(2)
        with exits("mailrep import", os_error=1):
            code = run_import(paths, reporter, channel, data_dir, as_json)
        raise typer.Exit(code)

    @reporter_group.command("show")
    def show(name: str, as_json: bool = typer.Option(False, "--json"), data_dir: Path = DataDir) -> None:
        """A reporter's profile and secret submission address."""
        with exits("mailrep reporter show", code=1):
            info = reporter_show(name, data_dir)
        if as_json:
            print(json.dumps(info, sort_keys=True))
            return
        for k, v in info.items():
            print(f"{k}: {' '.join(v) if isinstance(v, list) else v}")

