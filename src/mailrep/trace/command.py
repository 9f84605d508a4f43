"""`mailrep trace`: one JSON line per message (the contract other tools rely on)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("trace")
    def trace(files: list[str] = typer.Argument(..., help="message files, or - for stdin")) -> None:
        """Trace messages to the host that injected them (work in progress)."""
        raise typer.Exit(2)
