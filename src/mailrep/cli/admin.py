"""Operator commands: the database, accounts and tokens, staff actions on listings.

    mailrep db upgrade
    mailrep reporter add NAME [--mailhosts "mx1.example.net 198.51.100.0/24"] [--trust 1.0]
    mailrep reporter suspend|reactivate NAME --reason "..."    mailrep reporter trust NAME 0.5 --reason "..."
    mailrep token create --role feed|reporter|deputy|admin NAME      (token on the last line)
    mailrep token revoke TOKEN
    mailrep list|delist|exempt|unexempt KEY --reason "..." [--actor NAME]
    mailrep explain IP          mailrep lookup IP          (JSON)
    mailrep sweep               (expire what is due)
    mailrep recompute           (re-decide everything, e.g. after changing [policy])
    mailrep delisting list [--status pending]
    mailrep delisting approve|deny ID --reason "..."

Every command takes `--data-dir` (env MAILREP_DATA_DIR) and honours MAILREP_DATABASE_URL. The
database is migrated first when it is empty; `explain`, `lookup` and `delisting list` only read
and fail (exit 1, nothing created) when there is no database. Staff actions from the command line are taken
by a local admin account (`--actor`, default `operator`, created on first use) and land in
the audit log. Errors print `error: <message>` on stderr and exit 1 (2 for bad input).
`register` returns the groups it made, so that other modules add commands to them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from mailrep.cli.common import DataDir, echo_json, group, open_db, open_services, run
from mailrep.clock import system_clock
from mailrep.policy.listing import Action
from mailrep.roles import DAILY_QUOTA, ROLES

if TYPE_CHECKING:
    from mailrep.services import Services
    from mailrep.store.accounts import Account

Reason = typer.Option(..., "--reason", help="why (mandatory, public in the listing history)")
Actor = typer.Option("operator", "--actor", help="admin account acting (created if missing)")
StaffDo = Callable[["Services", str, str, "Account", datetime], Any]


@dataclass(frozen=True)
class Groups:
    db: typer.Typer
    reporter: typer.Typer
    token: typer.Typer
    delisting: typer.Typer


def act(data_dir: Path | None, actor: str, do: Callable[[Services, Account, datetime], Any],
        show: Callable[[Any], None] = echo_json) -> None:
    """A staff action from the command line: `do(services, actor account, now)`, taken by the
    local admin account `actor`; its result shown (JSON by default)."""
    def go() -> None:
        s = open_services(data_dir)
        now = system_clock()
        show(do(s, s.accounts.operator(actor, now), now))
    run(go)


def staff_command(doc: str, metavar: str, do: StaffDo,
                  show: Callable[[Any], None] = echo_json) -> Callable[..., None]:
    """A command `TARGET --reason R [--actor A]` doing `do(services, target, reason, actor, now)`."""
    def command(target: str = typer.Argument(..., metavar=metavar), reason: str = Reason,
                actor: str = Actor, data_dir: Path | None = DataDir) -> None:
        act(data_dir, actor, lambda s, account, now: do(s, target, reason, account, now), show)
    command.__doc__ = doc
    return command


def _reporter_line(name: str) -> Callable[[Any], None]:
    return lambda rep: typer.echo(f"reporter {name}: status {rep.status}, trust {rep.trust_weight:g}")


def register(app: typer.Typer) -> Groups:
    db_app = group("database schema")
    reporter_app = group("reporter accounts")
    token_app = group("API tokens")
    delisting_app = group("delisting requests")
    app.add_typer(db_app, name="db")
    app.add_typer(reporter_app, name="reporter")
    app.add_typer(token_app, name="token")
    app.add_typer(delisting_app, name="delisting")

    @db_app.command("upgrade")
    def db_upgrade(data_dir: Path | None = DataDir) -> None:
        """Migrate the database to the newest schema."""
        def go() -> None:
            _, db = open_db(data_dir, upgrade_if_empty=False)
            db.upgrade()
            typer.echo(f"{db!r} at revision {db.current_revision()}")
        run(go)

    @reporter_app.command("add")
    def reporter_add(
        name: str,
        mailhosts: str = typer.Option("", "--mailhosts", help="the reporter's own relays: networks or host names"),
        trust: float = typer.Option(1.0, "--trust", help="trust weight of its reports"),
        quota: int = typer.Option(DAILY_QUOTA, "--quota", help="reports per 24 h"),
        kind: str = typer.Option("user", "--kind", help="user | mole | simp"),
        data_dir: Path | None = DataDir,
    ) -> None:
        """Create a reporter and print its first API token (last line)."""
        def go() -> None:
            acc, rep, secret = open_services(data_dir).accounts.add_reporter(
                name, system_clock(), mailhosts=mailhosts, trust_weight=trust, daily_quota=quota, kind=kind)
            typer.echo(f"reporter {acc.name} (id {acc.id}) mailhosts={' '.join(rep.mailhosts) or '-'} "
                       f"submit code {rep.submit_code}")
            typer.echo(secret)
        run(go)

    def _reporter_change(doc: str, **change: Any) -> Callable[..., None]:
        def command(name: str, reason: str = Reason, actor: str = Actor, data_dir: Path | None = DataDir) -> None:
            act(data_dir, actor, lambda s, account, now: s.accounts.set_reporter(
                name, reason, account, now, **change), _reporter_line(name))
        command.__doc__ = doc
        return command

    reporter_app.command("suspend")(_reporter_change(
        "Suspend a reporter (its reports stop counting), with a reason.", status="suspended"))
    reporter_app.command("reactivate")(_reporter_change(
        "Reactivate a suspended reporter, with a reason.", status="active"))

    @reporter_app.command("trust")
    def reporter_trust(name: str, weight: float, reason: str = Reason, actor: str = Actor,
                       data_dir: Path | None = DataDir) -> None:
        """Set a reporter's trust weight (0..100), with a reason."""
        act(data_dir, actor, lambda s, account, now: s.accounts.set_reporter(
            name, reason, account, now, trust_weight=weight), _reporter_line(name))

    @token_app.command("create")
    def token_create(
        name: str,
        role: str = typer.Option(..., "--role", help=" | ".join(reversed(ROLES))),
        label: str = typer.Option("", "--label"),
        data_dir: Path | None = DataDir,
    ) -> None:
        """Create a token for account NAME; it is printed on the last line.

        The account is created with --role if it is missing."""
        def go() -> None:
            secret = open_services(data_dir).accounts.create_token(name, role, system_clock(), label=label)
            typer.echo(f"token for {name} ({role}); it is shown only once:")
            typer.echo(secret)
        run(go)

    @token_app.command("revoke")
    def token_revoke(token: str, data_dir: Path | None = DataDir) -> None:
        """Revoke a token."""
        run(lambda: open_services(data_dir).accounts.revoke(token, system_clock()))
        typer.echo("revoked")

    for action in Action:
        app.command(action.value)(staff_command(
            f"{action.value.capitalize()} KEY (an IP, or a network for list) with a reason.", "KEY",
            lambda s, key, reason, actor, now, action=action: s.blocklist.manual(action, key, reason, actor, now)))

    @app.command("explain")
    def explain_cmd(ip: str, data_dir: Path | None = DataDir) -> None:
        """How the policy scores IP now (JSON)."""
        run(lambda: echo_json(open_services(data_dir, create=False).lookup.explain(ip, system_clock())))

    @app.command("lookup")
    def lookup_cmd(ip: str, data_dir: Path | None = DataDir) -> None:
        """The public status of IP (JSON, as GET /api/v1/lookup/{ip})."""
        run(lambda: echo_json(open_services(data_dir, create=False).lookup.lookup(ip, system_clock())))

    @app.command("sweep")
    def sweep_cmd(data_dir: Path | None = DataDir) -> None:
        """Expire every listing that is due."""
        events = run(lambda: open_services(data_dir).blocklist.sweep(system_clock()))
        typer.echo(f"{len(events)} listing(s) changed")

    @app.command("recompute")
    def recompute_cmd(data_dir: Path | None = DataDir) -> None:
        """Re-decide every address and listing ([policy] changed)."""
        events = run(lambda: open_services(data_dir).blocklist.recompute(system_clock()))
        typer.echo(f"{len(events)} listing(s) changed")

    @delisting_app.command("list")
    def delisting_list(status: str = typer.Option("pending", "--status", help="pending | approved | denied | all"),
                       data_dir: Path | None = DataDir) -> None:
        """Delisting requests (JSON)."""
        run(lambda: echo_json(open_services(data_dir, create=False).delisting.find(
            status=None if status == "all" else status)))

    for approve, doc in ((True, "Approve (and delist) a delisting request, with a reason."),
                         (False, "Deny a delisting request, with a reason.")):
        delisting_app.command("approve" if approve else "deny")(staff_command(
            doc, "REQUEST_ID", lambda s, rid, reason, actor, now, approve=approve: s.delisting.decide(
                rid, approve, reason, actor, now)))
    return Groups(db_app, reporter_app, token_app, delisting_app)
