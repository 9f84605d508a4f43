"""`mailrep abuse-contact` and `mailrep notify`: who is told about a spam source, and the outbox.

    mailrep abuse-contact 203.0.113.9                       network, abuse addresses, origin
    mailrep abuse-contact set 203.0.113.0/24 abuse@net.example [--mode full|digest]
    mailrep abuse-contact set 203.0.113.0/24 none          never notify this network
    mailrep abuse-contact set 203.0.113.0/24 rdap --mode digest   RDAP's address, daily digest
    mailrep abuse-contact unset 203.0.113.0/24
    mailrep abuse-contact list                               the overrides
    mailrep notify status                                    the outbox by state, recent errors
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from mailrep.cli.common import DataDir, echo_json, group, open_services, run, run_async
from mailrep.errors import BadInput

USAGE = "usage: mailrep abuse-contact IP | set CIDR EMAIL|none|rdap | unset CIDR | list"


def _lookup(data_dir: Path | None, ip: str, as_json: bool) -> None:
    services = open_services(data_dir, create=False)
    assert services.notifier is not None
    contacts = services.notifier.contacts

    async def resolve() -> Any:
        try:
            return await contacts.resolve(ip)
        finally:
            await contacts.aclose()

    found = run_async(resolve())
    data: dict[str, Any] = {k: getattr(found, k) for k in ("ip", "network", "name", "registry", "emails", "mode", "origin",
                                           "server", "notes")}
    if as_json:
        echo_json(data)
        return
    typer.echo(f"{found.ip}: network {found.network or '-'}"
               + (f" ({data['name']}, {data['registry']})" if data["name"] or data["registry"] else ""))
    source = {"rdap": f"RDAP server {data['server']}", "cache": f"cache (from {data['server'] or 'RDAP'})",
              "override": "operator override"}[str(data["origin"])]
    emails = ", ".join(data["emails"]) or "none"
    typer.echo(f"abuse: {emails}  [mode {data['mode']}; from {source}]")
    for note in data["notes"]:
        typer.echo(f"note: {note}")


def register(app: typer.Typer) -> None:
    @app.command("abuse-contact")
    def abuse_contact(
        words: list[str] = typer.Argument(..., metavar="IP|set|unset|list ARGS"),
        mode: str | None = typer.Option(None, "--mode", help="full (one ARF per report), digest (daily) or none"),
        reason: str = typer.Option("", "--reason", help="why (kept with the override)"),
        as_json: bool = typer.Option(False, "--json", help="print JSON"),
        data_dir: Path | None = DataDir,
    ) -> None:
        """Show an IP's abuse contact; set, unset, list the overrides.

        `mailrep abuse-contact IP` prints the network (CIDR, name, registry), the abuse
        addresses and where they came from (cache, RDAP server, override)."""

        def body() -> None:
            head, rest = words[0], words[1:]
            if head == "set" and len(rest) == 2:
                services = open_services(data_dir)
                assert services.notifier is not None
                o = services.notifier.contacts.set_override(rest[0], rest[1], mode=mode, reason=reason)
                typer.echo(f"{o.network}: {', '.join(o.emails) or ('none' if o.mode == 'none' else 'RDAP')} "
                           f"[mode {o.mode}]")
            elif head == "unset" and len(rest) == 1:
                services = open_services(data_dir)
                assert services.notifier is not None
                services.notifier.contacts.delete_override(rest[0])
                typer.echo(f"{rest[0]}: override removed")
            elif head == "list" and not rest:
                services = open_services(data_dir, create=False)
                assert services.notifier is not None
                rows = services.notifier.contacts.overrides()
                if as_json:
                    echo_json([{"network": o.network, "emails": o.emails, "mode": o.mode, "reason": o.reason}
                               for o in rows])
                for o in rows if not as_json else []:
                    typer.echo(f"{o.network}\t{', '.join(o.emails) or '-'}\t{o.mode}\t{o.reason}")
            elif not rest and head not in ("set", "unset", "list"):
                _lookup(data_dir, head, as_json)
            else:
                raise BadInput(USAGE)

        run(body)

    notify_app = group("The abuse notification outbox.")

    @notify_app.command("status")
    def status(data_dir: Path | None = DataDir, as_json: bool = typer.Option(False, "--json")) -> None:
        """The outbox by state, its oldest item, recent errors."""

        def body() -> None:
            services = open_services(data_dir, create=False)
            assert services.notifier is not None
            st = services.notifier.status()
            if as_json:
                echo_json(st)
                return
            states = st["states"]
            typer.echo("outbox: " + (", ".join(f"{k} {v}" for k, v in sorted(states.items())) or "empty"))
            if st["oldest_pending"] is not None:
                typer.echo(f"oldest pending since {st['oldest_pending'].isoformat()}")
            typer.echo(f"cached networks: {st['cached_networks']}")
            for e in st["recent_errors"]:
                typer.echo(f"report {e['report_id']} [{e['state']}, {e['attempts']} attempts]: {e['error']}")

        run(body)

    app.add_typer(notify_app, name="notify")
