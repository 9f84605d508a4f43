"""The `mailrep` command: one module per command group, each with `register(app)`.

    trace      mailrep trace                          cli/trace.py
    dns        mailrep dns                            cli/dns.py   (python -m mailrep.cli.dns)
    serve      mailrep serve                          cli/serve.py
    admin      db, reporter, token, list/delist/exempt/unexempt, explain, lookup, sweep,
               recompute, delisting                    cli/admin.py
    importing  mailrep import, mailrep reporter show  cli/importing.py
    zone       mailrep zone export                    cli/zone.py
    bond       mailrep sender ..., mailrep bond ...   cli/bond.py
    reputation mailrep reputation IP|CIDR|DOMAIN      cli/reputation.py
    ship       mailrep ship postfix|exim LOG...        cli/ship.py
    clientcfg  mailrep client-config postfix|...       cli/clientcfg.py
    notify     mailrep abuse-contact, mailrep notify  cli/notify.py

Command modules import the subsystems they drive inside the commands, so `mailrep --help`
stays fast (no web framework, database, SMTP or DNS library is loaded; see BENCHMARKS.md).
Help is plain text wrapped at 80 columns (`common.group`).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from mailrep import __version__

if TYPE_CHECKING:
    import typer

HELP = "mailrep: e-mail reputation clearinghouse"


def _version(show: bool) -> None:
    import typer

    if show:
        typer.echo(f"mailrep {__version__}")
        raise typer.Exit()


def make_app() -> typer.Typer:
    """A new typer app with every command registered."""
    import typer

    from mailrep.cli import (
        admin,
        bond,
        clientcfg,
        dns,
        importing,
        notify,
        reputation,
        serve,
        ship,
        trace,
        zone,
    )
    from mailrep.cli.common import group

    app = group(HELP)

    @app.callback()
    def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                           help="print the version and exit")) -> None:
        """mailrep: trace spam, run the blocklist, serve DNS."""

    trace.register(app)
    dns.register(app)
    serve.register(app)
    groups = admin.register(app)
    importing.register(app, reporter_group=groups.reporter)
    zone.register(app)
    bond.register(app)
    reputation.register(app)
    ship.register(app)
    clientcfg.register(app)
    notify.register(app)
    return app


def _trace_app() -> typer.Typer:
    """The app with `trace` alone: `mailrep trace ...` loads neither the other command modules
    nor what they import (start-up is part of every trace a user runs)."""
    import typer

    from mailrep.cli import trace
    from mailrep.cli.common import group

    app = group(HELP)

    @app.callback()
    def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                           help="print the version and exit")) -> None:
        """mailrep: trace spam, run the blocklist, serve DNS."""

    trace.register(app)
    return app


def main() -> None:
    if sys.argv[1:2] == ["trace"]:
        # `mailrep trace FILE...`, its options read by hand: no typer (nor the pydantic it
        # loads) in the start-up of every trace; --help and bad options go to typer below
        from mailrep.cli.trace import parse_fast, trace_command

        if (parsed := parse_fast(sys.argv[2:])) is not None:
            sys.exit(trace_command(*parsed))
        _trace_app()()
        return
    make_app()()
