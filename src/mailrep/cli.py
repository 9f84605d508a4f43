"""The `mailrep` command. Each subsystem registers its own commands from a small module."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help="mailrep: e-mail reputation clearinghouse")


@app.callback()
def _root() -> None:
    """mailrep: trace spam, run the blocklist, serve DNS."""


def _register() -> None:
    from mailrep.trace import command as trace_command

    trace_command.register(app)

    from mailrep.dns import command as dns_command

    dns_command.register(app)

    from mailrep import serve as serve_command

    serve_command.register(app)

    from mailrep import admin

    admin.register(app)

    from mailrep.intake import import_command  # [S] mailrep import, mailrep reporter show

    import_command.register(app)

    from mailrep.zones import export as zone_export  # [X] mailrep zone export

    zone_export.register(app)


def main() -> None:
    _register()
    app()
