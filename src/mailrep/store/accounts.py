"""Accounts, API tokens and reporter profiles.

Every function takes an open `Connection` (inside `Database.transaction()` or `.read()`) and the
time `now` where it writes one; none commits by itself.

Tokens: the secret (`mr_` + 43 url-safe characters) is returned once by `create_token`; only
its sha256 is stored. `authenticate(conn, secret)` finds an active account by an unrevoked
token or raises `NotAuthenticated` (the same error for unknown, revoked and disabled, so a
caller cannot probe which).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mailrep.errors import BadInput, Conflict, NotAuthenticated, NotFound
from mailrep.roles import DAILY_QUOTA, ROLES
from mailrep.store.tables import (
    REPORTER_KINDS,
    REPORTER_STATUSES,
    accounts,
    api_tokens,
    reporters,
)

TOKEN_PREFIX = "mr_"


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    name: str
    role: str
    status: str
    created_at: datetime

    @property
    def active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True, slots=True)
class Reporter:
    account_id: int
    mailhosts: tuple[str, ...]
    trust_weight: float
    daily_quota: int
    status: str
    kind: str
    submit_code: str | None
    mailhosts_confirmed: bool = False  # set by `reporter set` / PUT /reporter/mailhosts


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()


def _account(row: sa.Row[Any]) -> Account:
    return Account(row.id, row.name, row.role, row.status, row.created_at)


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise BadInput(f"unknown role {role!r} (one of {', '.join(ROLES)})")


def create_account(conn: Connection, name: str, role: str, now: datetime) -> Account:
    _check_role(role)
    name = name.strip()
    if not name or len(name) > 200:
        raise BadInput("an account name is 1 to 200 characters")
    if conn.execute(sa.select(accounts.c.id).where(accounts.c.name == name)).first():
        raise Conflict(f"account {name!r} exists")
    key = conn.execute(
        accounts.insert().values(name=name, role=role, status="active", created_at=now)
    ).inserted_primary_key
    assert key is not None
    return Account(int(key[0]), name, role, "active", now)


def get_account(conn: Connection, name_or_id: str | int) -> Account:
    col = accounts.c.id if isinstance(name_or_id, int) else accounts.c.name
    row = conn.execute(sa.select(accounts).where(col == name_or_id)).first()
    if row is None:
        raise NotFound(f"no account {name_or_id!r}")
    return _account(row)


def ensure_account(conn: Connection, name: str, role: str, now: datetime) -> Account:
    """The account `name`, created with `role` if missing; Conflict if it has another role."""
    _check_role(role)
    try:
        acc = get_account(conn, name)
    except NotFound:
        return create_account(conn, name, role, now)
    if acc.role != role:
        raise Conflict(f"account {name!r} has role {acc.role}, not {role}")
    return acc


def set_account_status(conn: Connection, account_id: int, status: str) -> None:
    conn.execute(accounts.update().where(accounts.c.id == account_id).values(status=status))


def create_token(conn: Connection, account_id: int, now: datetime, label: str = "") -> str:
    """A new API token for the account; the secret is returned here and never again."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    conn.execute(
        api_tokens.insert().values(
            account_id=account_id, token_hash=hash_token(secret), label=label[:200], created_at=now
        )
    )
    return secret


def checked_hash(secret: str) -> str:
    """`hash_token(secret)`, or NotAuthenticated for a string that cannot be a token."""
    if not secret or not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        raise NotAuthenticated("unknown or revoked token")
    return hash_token(secret)


def authenticate(conn: Connection, secret: str) -> Account:
    return authenticate_hash(conn, checked_hash(secret))


def authenticate_hash(conn: Connection, token_hash: str) -> Account:
    """The active account of the unrevoked token whose `hash_token` is `token_hash`."""
    row = conn.execute(
        sa.select(accounts)
        .join(api_tokens, api_tokens.c.account_id == accounts.c.id)
        .where(api_tokens.c.token_hash == token_hash)
        .where(api_tokens.c.revoked_at.is_(None))
        .where(accounts.c.status == "active")
    ).first()
    if row is None:
        raise NotAuthenticated("unknown or revoked token")
    return _account(row)


def revoke_token(conn: Connection, secret: str, now: datetime) -> None:
    n = conn.execute(
        api_tokens.update()
        .where(api_tokens.c.token_hash == hash_token(secret))
        .where(api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    ).rowcount
    if not n:
        raise NotFound("no such active token")


def revoke_account_tokens(conn: Connection, account_id: int, now: datetime) -> int:
    """Revoke every token of an account; returns how many."""
    return conn.execute(
        api_tokens.update()
        .where(api_tokens.c.account_id == account_id)
        .where(api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    ).rowcount


# --- reporter profiles ------------------------------------------------------------------------


def _split_mailhosts(mailhosts: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    items = mailhosts.replace(",", " ").split() if isinstance(mailhosts, str) else mailhosts
    return tuple(h.strip() for h in items if h.strip())


def _reporter(row: sa.Row[Any]) -> Reporter:
    return Reporter(
        account_id=int(row.account_id), mailhosts=_split_mailhosts(row.mailhosts),
        trust_weight=float(row.trust_weight), daily_quota=int(row.daily_quota),
        status=row.status, kind=row.kind, submit_code=row.submit_code,
        mailhosts_confirmed=bool(row.mailhosts_confirmed),
    )


def add_reporter(
    conn: Connection, account_id: int, *, mailhosts: str | tuple[str, ...] | list[str] = (),
    trust_weight: float = 1.0, daily_quota: int = DAILY_QUOTA, kind: str = "user",
    submit_code: str | None = None,
) -> Reporter:
    """The reporter profile of an account (created once; Conflict if it exists)."""
    if kind not in REPORTER_KINDS:
        raise BadInput(f"unknown reporter kind {kind!r}")
    if not (0.0 <= trust_weight <= 100.0) or daily_quota < 0:
        raise BadInput("trust weight must be 0..100 and the quota >= 0")
    if conn.execute(sa.select(reporters.c.account_id).where(reporters.c.account_id == account_id)).first():
        raise Conflict("reporter profile exists")
    code = submit_code or secrets.token_hex(8)
    hosts = _split_mailhosts(mailhosts)
    conn.execute(
        reporters.insert().values(
            account_id=account_id, mailhosts=" ".join(hosts), trust_weight=trust_weight,
            daily_quota=daily_quota, status="active", kind=kind, submit_code=code,
        )
    )
    return Reporter(account_id, hosts, trust_weight, daily_quota, "active", kind, code)


def get_reporter(conn: Connection, account_id: int) -> Reporter:
    row = conn.execute(sa.select(reporters).where(reporters.c.account_id == account_id)).first()
    if row is None:
        raise NotFound("no reporter profile")
    return _reporter(row)


def reporter_by_submit_code(conn: Connection, code: str) -> Reporter:
    row = conn.execute(sa.select(reporters).where(reporters.c.submit_code == code)).first()
    if row is None:
        raise NotFound("no reporter with this submit code")
    return _reporter(row)


def update_reporter(
    conn: Connection, account_id: int, *, mailhosts: str | tuple[str, ...] | list[str] | None = None,
    trust_weight: float | None = None, daily_quota: int | None = None, status: str | None = None,
    mailhosts_confirmed: bool | None = None,
) -> Reporter:
    values: dict[str, object] = {}
    if mailhosts is not None:
        values["mailhosts"] = " ".join(_split_mailhosts(mailhosts))
    if mailhosts_confirmed is not None:
        values["mailhosts_confirmed"] = mailhosts_confirmed
    if trust_weight is not None:
        values["trust_weight"] = trust_weight
    if daily_quota is not None:
        values["daily_quota"] = daily_quota
    if status is not None:
        if status not in REPORTER_STATUSES:
            raise BadInput(f"unknown reporter status {status!r}")
        values["status"] = status
    if values:
        conn.execute(reporters.update().where(reporters.c.account_id == account_id).values(**values))
    return get_reporter(conn, account_id)
