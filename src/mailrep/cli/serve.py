"""`mailrep serve`: everything that exists, in one process (wired by `mailrep.run`).

    mailrep serve [--http 127.0.0.1:8080] [--smtp 127.0.0.1:2525] [--dns 127.0.0.1:5300]
                  [--policy 127.0.0.1:9998] [--data-dir DIR]

Opens the database (SQLite under the data dir unless MAILREP_DATABASE_URL says otherwise),
upgrades it if it is empty, then runs `mailrep.run.serve` in one asyncio loop. SIGTERM / SIGINT
stop it gracefully: no new requests, queued reports committed, then exit.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import typer

from mailrep.cli.common import DATA_DIR_HELP, exits, run_async


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve_cmd(
        http: str = typer.Option("127.0.0.1:8080", "--http", help="web/API address host:port (port 0: any)"),
        smtp: str = typer.Option(None, "--smtp", help="SMTP intake address host:port (submission, fbl, spamtraps)"),
        dns: str = typer.Option(None, "--dns", help="DNS address host:port for the blocklist zones"),
        policy: str = typer.Option(None, "--policy", help="Postfix policy service address host:port"),
        data_dir: Path = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    ) -> None:
        """Run the service: web API, intake, scheduler, DNS.

        All in one process (SMTP and DNS when asked)."""
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("mailrep").setLevel(logging.INFO)
        from mailrep.config import load_settings
        from mailrep.net import parse_hostport
        from mailrep.run import open_database, serve

        with exits("mailrep serve", code=2):
            settings = load_settings(data_dir=data_dir)
            binds = (parse_hostport(http, 8080), parse_hostport(dns, 5300) if dns else None,
                     parse_hostport(smtp, 2525) if smtp else None,
                     parse_hostport(policy, 9998) if policy else None)
            db = open_database(settings)
        try:
            with exits("mailrep serve", os_error=1):
                run_async(serve(settings, db, http=binds[0], dns=binds[1], smtp=binds[2], policy=binds[3]))
        finally:
            db.dispose()
