"""`mailrep zone export`: a zone as an rbldnsd data file or a BIND master file.

    mailrep zone export --format rbldnsd|bind ZONE [-o FILE] [--snapshot FILE | --rbldnsd SPEC]

Without --snapshot or --rbldnsd the zone comes from the store (`--data-dir`), built by
`services.publish` exactly as `mailrep serve` builds it; with no database there the command
fails (exit 1) and creates nothing. Bad input exits 2, as does a file that cannot be written.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from mailrep.cli.common import DataDir, exits, group
from mailrep.clock import system_clock
from mailrep.errors import BadInput


def _store_snapshot(data_dir: Path | None) -> Any:
    """Every zone of the store, now (as `mailrep serve` publishes them)."""
    from mailrep.cli.common import open_db
    from mailrep.run import build_services

    settings, db = open_db(data_dir, create=False)
    try:
        publish = build_services(settings, db).publish
        return publish.snapshot(system_clock(), publish.change_marker())
    finally:
        db.dispose()


def register(app: typer.Typer) -> None:
    zone_app = group("zone files for other DNS servers and mirrors")

    @zone_app.command("export")
    def export(
        zone: str = typer.Argument(..., help="zone name, e.g. bl.mailrep.test"),
        fmt: str = typer.Option("rbldnsd", "--format", "-f", help="rbldnsd or bind"),
        output: str = typer.Option(None, "--output", "-o",
                                   help="file to write (temp file + rename); default stdout"),
        snapshot: str = typer.Option(None, "--snapshot", help="export from this snapshot file"),
        rbldnsd: list[str] = typer.Option(None, "--rbldnsd",
                                          help="export from rbldnsd data (zone:type:file[,file])"),
        data_dir: Path | None = DataDir,
    ) -> None:
        """Write ZONE as an rbldnsd data file or a BIND master file.

        From the store by default, or from --snapshot or --rbldnsd data."""
        from mailrep.zones.export import FORMATS, bind_lines, pick, rbldnsd_lines, write_export

        with exits("mailrep zone export", os_error=2):
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
                z = pick(_store_snapshot(data_dir), zone)
            if output:
                n = write_export(z, output, fmt)
                typer.echo(f"{zone}: {n} lines written to {output} (serial {z.soa.serial})", err=True)
            else:
                lines = rbldnsd_lines(z) if fmt == "rbldnsd" else bind_lines(z)
                sys.stdout.write("\n".join(lines) + "\n")

    app.add_typer(zone_app, name="zone")
