"""The `mailrep` command: one module per command group, each with `register(app)`.

    trace      mailrep trace                          cli/trace.py
    dns        mailrep dns                            cli/dns.py   (python -m mailrep.cli.dns)
    serve      mailrep serve                          cli/serve.py
    admin      db, reporter, token, list/delist/exempt/unexempt, explain, lookup, sweep,
               recompute, delisting                    cli/admin.py
    importing  mailrep import, mailrep reporter show  cli/importing.py
    zone       mailrep zone export                    cli/zone.py
    reputation mailrep reputation IP|CIDR|DOMAIN      cli/reputation.py

Command modules import the subsystems they drive inside the commands, so `mailrep --help`
stays fast.
"""

from __future__ import annotations

import typer

HELP = "mailrep: e-mail reputation clearinghouse"


def make_app() -> typer.Typer:
    """A new typer app with every command registered."""
    from mailrep.cli import admin, dns, importing, reputation, serve, trace, zone

    app = typer.Typer(no_args_is_help=True, add_completion=False, help=HELP)

    @app.callback()
    def _root() -> None:
        """mailrep: trace spam, run the blocklist, serve DNS."""

    trace.register(app)
    dns.register(app)
    serve.register(app)
    groups = admin.register(app)
    importing.register(app, reporter_group=groups.reporter)
    zone.register(app)
    reputation.register(app)
    return app


def main() -> None:
    make_app()()
