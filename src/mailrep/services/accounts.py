"""Accounts, reporters and API tokens.

    accounts = Accounts(db, blocklist)
    accounts.create_account(name, role, now)         accounts.create_token(name, role, now, label=...)
    accounts.add_reporter(name, now, mailhosts=...)   -> (account, reporter profile, first token)
    accounts.set_reporter(name, reason, actor, now, status=..., trust_weight=...)  (staff)
    accounts.set_mailhosts(name, mailhosts, actor, now, redecide=intake.redecide)  (itself or staff)
    accounts.authenticate(secret)                     accounts.revoke(secret, now)
    accounts.operator(name, now)                      a local admin account (created if missing)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from mailrep.errors import BadInput, NotAllowed, NotFound
from mailrep.roles import DAILY_QUOTA, Role
from mailrep.services.blocklist import Blocklist, require_staff
from mailrep.store import accounts, audit, evidence
from mailrep.store.accounts import Account, Reporter
from mailrep.store.db import Database
from mailrep.trace.trust import TrustConfig

MAX_MAILHOSTS = 100
Redecide = Callable[[int, datetime], list[str]]  # (account id, since) -> IPs whose evidence changed


class Accounts:
    def __init__(self, db: Database, blocklist: Blocklist) -> None:
        self.db = db
        self.blocklist = blocklist

    def create_account(self, name: str, role: str, now: datetime) -> Account:
        with self.db.transaction() as conn:
            return accounts.create_account(conn, name, role, now)

    def operator(self, name: str, now: datetime) -> Account:
        """The admin account `name`, created on first use (staff actions from the command line)."""
        with self.db.transaction() as conn:
            return accounts.ensure_account(conn, name, Role.ADMIN, now)

    def create_token(self, name: str, role: str, now: datetime, *, label: str = "") -> str:
        """A new token for account `name` (created with `role` if missing); the secret, shown once."""
        with self.db.transaction() as conn:
            acc = accounts.ensure_account(conn, name, role, now)
            if role == Role.REPORTER:
                try:
                    accounts.get_reporter(conn, acc.id)
                except NotFound:
                    accounts.add_reporter(conn, acc.id)
            return accounts.create_token(conn, acc.id, now, label=label)

    def add_reporter(self, name: str, now: datetime, *, mailhosts: Sequence[str] | str = (),
                     trust_weight: float = 1.0, daily_quota: int = DAILY_QUOTA,
                     kind: str = "user") -> tuple[Account, Reporter, str]:
        """A new reporter account with its profile and a first token (account, profile, secret)."""
        with self.db.transaction() as conn:
            acc = accounts.create_account(conn, name, Role.REPORTER, now)
            rep = accounts.add_reporter(conn, acc.id, mailhosts=mailhosts if isinstance(mailhosts, str)
                                        else list(mailhosts), trust_weight=trust_weight,
                                        daily_quota=daily_quota, kind=kind)
            secret = accounts.create_token(conn, acc.id, now, label="initial")
        return acc, rep, secret

    def set_reporter(self, name: str, reason: str, actor: Account, now: datetime, *,
                     status: str | None = None, trust_weight: float | None = None) -> Reporter:
        """Suspend/reactivate a reporter or change its trust weight (staff, with a reason), then
        re-evaluate every address it reported inside the policy window."""
        why = " ".join(reason.split())
        if not why:
            raise BadInput("a reason is required")
        require_staff(actor, "change reporters")
        if trust_weight is not None and not (0.0 <= trust_weight <= 100.0):
            raise BadInput("trust weight must be 0..100")
        with self.db.transaction() as conn:
            acc = accounts.get_account(conn, name)
            before = accounts.get_reporter(conn, acc.id)
            rep = accounts.update_reporter(conn, acc.id, status=status, trust_weight=trust_weight)
            audit.record(conn, at=now, actor_account_id=actor.id, action="reporter.update", target=acc.name,
                         reason=why, detail={"status": [before.status, rep.status],
                                             "trust_weight": [before.trust_weight, rep.trust_weight]})
            ips = evidence.reported_by(conn, acc.id, now, self.blocklist.config.max_age_days)
        self.blocklist.reevaluate(ips, now)
        return rep

    def set_mailhosts(self, name: str | int, mailhosts: Sequence[str], actor: Account, now: datetime, *,
                      redecide: Redecide) -> Reporter:
        """Set a reporter's own mail hosts (the reporter itself, or staff), validated as the trace
        configuration validates them (an empty list clears them). This also confirms them: the
        list is taken as complete, so no source of its reports is a probable forwarder. Its
        reports inside the policy window are traced and decided again (`redecide`), and the
        addresses whose evidence changed re-evaluated."""
        hosts = [h.strip() for h in mailhosts if h.strip()]  # one host per entry
        if len(hosts) > MAX_MAILHOSTS:
            raise BadInput(f"at most {MAX_MAILHOSTS} mail hosts")
        if hosts:
            TrustConfig.from_mailhosts(hosts)  # raises BadInput naming the bad entry
        with self.db.transaction() as conn:
            acc = accounts.get_account(conn, name)
            if actor.id != acc.id:
                require_staff(actor, "change another reporter's mail hosts")
            if acc.role != "reporter":
                raise NotAllowed(f"{acc.name} is not a reporter")
            before = accounts.get_reporter(conn, acc.id)
            rep = accounts.update_reporter(conn, acc.id, mailhosts=hosts, mailhosts_confirmed=True)
            audit.record(conn, at=now, actor_account_id=actor.id, action="reporter.mailhosts", target=acc.name,
                         reason="mail hosts set", detail={"mailhosts": [list(before.mailhosts), hosts]})
        ips = redecide(acc.id, now - timedelta(days=self.blocklist.config.max_age_days))
        self.blocklist.reevaluate(ips, now)
        return rep

    def authenticate(self, secret: str) -> Account:
        with self.db.read() as conn:
            return accounts.authenticate(conn, secret)

    def revoke(self, secret: str, now: datetime) -> None:
        with self.db.transaction() as conn:
            accounts.revoke_token(conn, secret, now)
