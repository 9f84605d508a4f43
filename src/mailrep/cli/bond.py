"""Bonded senders and their bonds.

    mailrep sender add NAME --ips CIDR,... [--domains D,...] [--category marketing] [--trust 1]
    mailrep sender approve|suspend|expel NAME --reason "..." [--actor NAME]
    mailrep sender list          mailrep sender show NAME                   (JSON)
    mailrep bond deposit NAME AMOUNT --reference REF          (idempotent by reference)
    mailrep bond recompute       (debits beyond the allowance, then standing; serve runs it)
    mailrep bond balance NAME
    mailrep bond statement NAME [--from DATE --to DATE] --format ledger|csv|json
    mailrep bond verify          (exit 1, naming the entry, if the ledger was changed)
    mailrep bond dispute list [--status pending]     mailrep bond dispute approve|deny ID --reason "..."

A token for the sender's own API (`GET /api/v1/senders/me`): `mailrep token create --role
sender NAME`. The rule and its `[bond]` settings: `mailrep.policy.bond`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import typer

from mailrep.cli.common import DataDir, echo_json, group, open_services, run
from mailrep.clock import system_clock as now

Reason = typer.Option(..., "--reason", help="why (mandatory, kept in the sender's history)")
Actor = typer.Option("operator", "--actor", help="admin account acting (created if missing)")


def _split(text: str) -> list[str]:
    return [x for x in text.replace(",", " ").split() if x]


def _date(text: str | None) -> datetime | None:
    if not text:
        return None
    from mailrep.errors import BadInput

    try:
        d = datetime.fromisoformat(text)
    except ValueError as e:
        raise BadInput(f"not a date: {text!r} (YYYY-MM-DD)") from e
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def register(app: typer.Typer) -> None:
    sender_app = group("bonded senders: enrolment and review")
    bond_app = group("bonds: deposits, debits, statements, disputes")
    dispute_app = group("disputed debits")
    app.add_typer(sender_app, name="sender")
    app.add_typer(bond_app, name="bond")
    bond_app.add_typer(dispute_app, name="dispute")

    @sender_app.command("add")
    def sender_add(
        name: str,
        ips: str = typer.Option("", "--ips", help="the sender's networks, comma-separated CIDRs"),
        domains: str = typer.Option("", "--domains", help="its domains, comma-separated"),
        category: str = typer.Option("marketing", "--category", help="DNSWL category (name or number)"),
        trust: int = typer.Option(1, "--trust", help="0..3, the allowlist's last octet"),
        data_dir: Path | None = DataDir,
    ) -> None:
        """Enrol a sender (pending review) with its infrastructure."""
        run(lambda: echo_json(open_services(data_dir).bond.enrol(
            name, now(), networks=_split(ips), domains=_split(domains), category=category, trust=trust)))

    def _review(action: str) -> Callable[..., None]:
        def command(name: str, reason: str = Reason, actor: str = Actor, data_dir: Path | None = DataDir) -> None:
            def go() -> None:
                s = open_services(data_dir)
                echo_json(s.bond.review(name, action, reason, s.accounts.operator(actor, now()), now()))
            run(go)
        command.__doc__ = f"{action.capitalize()} a sender, with a reason."
        return command

    for action in ("approve", "suspend", "expel"):
        sender_app.command(action)(_review(action))

    @sender_app.command("list")
    def sender_list(data_dir: Path | None = DataDir) -> None:
        """Every sender: status, balance, allowlist (JSON)."""
        run(lambda: echo_json(open_services(data_dir).bond.list(now())))

    @sender_app.command("show")
    def sender_show(name: str, data_dir: Path | None = DataDir) -> None:
        """One sender: the window's complaints, allowance, history (JSON)."""
        run(lambda: echo_json(open_services(data_dir).bond.get(name, now())))

    @bond_app.command("deposit")
    def deposit(name: str, amount: str, reference: str = typer.Option(..., "--reference", help="payment reference"),
                data_dir: Path | None = DataDir) -> None:
        """Credit a sender's bond; a retried reference counts once."""
        run(lambda: echo_json(open_services(data_dir).bond.deposit(name, amount, reference, now())))

    @bond_app.command("recompute")
    def recompute(data_dir: Path | None = DataDir) -> None:
        """Debit complaints over the allowance, once each."""
        run(lambda: echo_json(open_services(data_dir).bond.recompute(now())))

    @bond_app.command("balance")
    def balance(name: str, data_dir: Path | None = DataDir) -> None:
        """A sender's bond balance."""
        s = run(lambda: open_services(data_dir))
        typer.echo(f"{run(lambda: s.bond.balance(name))} {s.bond.config.currency}")

    @bond_app.command("statement")
    def statement_cmd(name: str, since: str = typer.Option(None, "--from", help="YYYY-MM-DD (inclusive)"),
                      until: str = typer.Option(None, "--to", help="YYYY-MM-DD (exclusive)"),
                      fmt: str = typer.Option("ledger", "--format", help="ledger | csv | json"),
                      data_dir: Path | None = DataDir) -> None:
        """A sender's ledger: hledger journal text, CSV or JSON."""
        from mailrep.services.statement import statement

        text = run(lambda: statement(open_services(data_dir).db, name, fmt=fmt, since=_date(since),
                                     until=_date(until)))
        typer.echo(text, nl=not text.endswith("\n"))

    @bond_app.command("verify")
    def verify_cmd(data_dir: Path | None = DataDir) -> None:
        """Check the hash chain and the balances.

        Exit 1 naming each entry whose stored amount or hash was changed.
        """
        from mailrep.services.statement import verify

        result = run(lambda: verify(open_services(data_dir).db))
        for p in result.problems:
            typer.echo(f"bad: {p}", err=True)
        if result.problems:
            raise typer.Exit(1)
        typer.echo(f"ledger ok: {result.entries} entries, {result.senders} senders")

    @dispute_app.command("list")
    def dispute_list(status: str = typer.Option("pending", "--status", help="pending | approved | denied | all"),
                     data_dir: Path | None = DataDir) -> None:
        """Disputed debits (JSON)."""
        run(lambda: echo_json(open_services(data_dir).bond.disputes(None if status == "all" else status)))

    def _decide(approve: bool) -> Callable[..., None]:
        def command(dispute_id: int, reason: str = Reason, actor: str = Actor, data_dir: Path | None = DataDir) -> None:
            def go() -> None:
                s = open_services(data_dir)
                echo_json(s.bond.decide_dispute(dispute_id, approve, reason, s.accounts.operator(actor, now()), now()))
            run(go)
        command.__doc__ = ("Approve a dispute: the debit is reversed.\n\nThe reversal is a new ledger entry; a reason is required."
                           if approve else "Deny a dispute: the debit stands, with a reason.")
        return command

    dispute_app.command("approve")(_decide(True))
    dispute_app.command("deny")(_decide(False))
