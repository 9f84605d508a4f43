"""`mailrep zone export`: a zone as an rbldnsd data file or a BIND master file.

    mailrep zone export --format rbldnsd|bind ZONE [-o FILE] [--snapshot FILE | --rbldnsd SPEC]

Without --snapshot or --rbldnsd the zone comes from the store, built by `services.publish`
exactly as `mailrep serve` builds it.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import typer

from mailrep.errors import BadInput, MailrepError


def _store_snapshot() -> Any:
    """Every zone of the store, now (as `mailrep serve` publishes them)."""
    from mailrep.config import load_settings
    from mailrep.run import build_services
    from mailrep.store.db import Database

    settings = load_settings()
    db = Database.from_settings(settings)
    try:
        publish = build_services(settings, db).publish
        return publish.snapshot(datetime.now(UTC), publish.change_marker())
    finally:
        db.dispose()


def register(app: typer.Typer) -> None:
    zone_app = typer.Typer(no_args_is_help=True, help="zone files for other DNS servers and mirrors")

    @zone_app.command("export")
    def export(
        zone: str = typer.Argument(..., help="zone name, e.g. bl.mailrep.test"),
        fmt: str = typer.Option("rbldnsd", "--format", "-f", help="rbldnsd or bind"),
        output: str = typer.Option(None, "--output", "-o",
                                   help="file to write (temp file + rename); default stdout"),
        snapshot: str = typer.Option(None, "--snapshot", help="export from this snapshot file"),
        rbldnsd: list[str] = typer.Option(None, "--rbldnsd",
                                          help="export from rbldnsd data (zone:type:file[,file])"),
    ) -> None:
        """Write ZONE as an rbldnsd data file or a BIND master file (default: from the store)."""
        from mailrep.zones.export import FORMATS, bind_lines, pick, rbldnsd_lines, write_export

        try:
            if fmt not in FORMATS:
                raise BadInput(f"unknown format {fmt!r} (use rbldnsd or bind)")
            if snapshot:
                from mailrep.zones.snapshot import load_snapshot

                z = pick(load_snapshot(snapshot), zone)
            elif rbldnsd:
                from mailrep.dns.command import parse_zone_spec
                from mailrep.zones.rbldnsd import load_rbldnsd

                z = pick(load_rbldnsd([parse_zone_spec(s) for s in rbldnsd]), zone)
            else:
                z = pick(_store_snapshot(), zone)
            if output:
                n = write_export(z, output, fmt)
                typer.echo(f"{zone}: {n} lines written to {output} (serial {z.soa.serial})", err=True)
            else:
                lines = rbldnsd_lines(z) if fmt == "rbldnsd" else bind_lines(z)
                sys.stdout.write("\n".join(lines) + "\n")
        except MailrepError as e:
            typer.echo(f"mailrep zone export: {e.message}", err=True)
            raise typer.Exit(2) from None
        except OSError as e:
            typer.echo(f"mailrep zone export: {e}", err=True)
            raise typer.Exit(2) from None

    app.add_typer(zone_app, name="zone")
