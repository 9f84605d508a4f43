"""`mailrep ship postfix|exim LOGFILE... --url URL --token FEED [--once | --follow]`.

Reads the mail server's log from where the last run stopped (`--state`, default
`./mailrep-ship.<kind>.json`) and posts accepted mail as volume batches (one item per client
IP per hour) to `URL/api/v1/volume` with the feed token. `--follow` keeps reading every
`--every` seconds until interrupted; `--once` (the default) reads once and exits.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

from mailrep.cli.common import exits
from mailrep.errors import MailrepError


class Unreachable(MailrepError):
    """The mailrep instance did not take the batch (the state is kept: the next run retries)."""


def register(app: typer.Typer) -> None:
    @app.command("ship")
    def ship_cmd(
        kind: str = typer.Argument(..., help="postfix or exim"),
        logs: list[Path] = typer.Argument(..., help="log files (a rotated one is followed to <file>.1)"),
        url: str = typer.Option(..., "--url", help="the mailrep instance, e.g. https://rep.example"),
        token: str = typer.Option(..., "--token", envvar="MAILREP_FEED_TOKEN", help="a feed token"),
        state: Path = typer.Option(None, "--state", help="state file (position, queue ids)"),
        once: bool = typer.Option(False, "--once", help="read once and exit (the default)"),
        follow: bool = typer.Option(False, "--follow", help="keep reading until interrupted"),
        every: float = typer.Option(10.0, "--every", help="seconds between reads with --follow"),
    ) -> None:
        """Ship the accepted mail of Postfix or Exim logs as volume."""
        import httpx

        from mailrep.errors import BadInput
        from mailrep.ship.logs import KINDS
        from mailrep.ship.shipper import Shipper, State

        with exits("mailrep ship", code=2):
            if kind not in KINDS:
                raise BadInput(f"the log kind is one of {', '.join(KINDS)}")
            if once and follow:
                raise BadInput("--once and --follow exclude each other")
        client = httpx.Client(base_url=url.rstrip("/"), timeout=60,
                              headers={"Authorization": f"Bearer {token}"})

        def post(items: list[dict[str, Any]]) -> None:
            try:
                r = client.post("/api/v1/volume", json=items)
            except httpx.HTTPError as e:
                raise Unreachable(f"{url}: {e}") from e
            if r.status_code != 202:
                raise Unreachable(f"{url} answered {r.status_code}: {r.text[:300]}")

        shipper = Shipper(kind, logs, State.load(state or Path(f"mailrep-ship.{kind}.json")), post)
        with exits("mailrep ship", code=1, os_error=1):
            try:
                while True:
                    n = shipper.run_once()
                    typer.echo(f"mailrep ship: {n} message(s) shipped", err=True)
                    if not follow:
                        return
                    time.sleep(every)
            except KeyboardInterrupt:
                return
            finally:
                client.close()
