"""Delisting requests: filed by anyone (public id, contact, explanation), decided by staff."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mailrep.errors import NotFound
from mailrep.store.tables import delisting_requests


@dataclass(frozen=True, slots=True)
class Request:
    public_id: str
    ip: str
    contact_email: str
    explanation: str
    client_addr: str | None
    status: str
    created_at: datetime
    decided_at: datetime | None
    decided_by: int | None
    decision_reason: str | None


def _request(r: sa.Row[Any]) -> Request:
    return Request(r.public_id, r.ip, r.contact_email, r.explanation, r.client_addr, r.status,
                   r.created_at, r.decided_at, r.decided_by, r.decision_reason)


def new_public_id() -> str:
    """16 URL-safe characters (96 random bits) that never start with "-": an id is typed on
    command lines (`mailrep delisting approve ID`), where a leading dash reads as an option."""
    while True:
        public_id = secrets.token_urlsafe(12)
        if not public_id.startswith("-"):
            return public_id


def create(conn: Connection, *, ip: str, contact_email: str, explanation: str,
           client_addr: str | None, now: datetime) -> Request:
    public_id = new_public_id()
    conn.execute(delisting_requests.insert().values(
        public_id=public_id, ip=ip, contact_email=contact_email, explanation=explanation,
        client_addr=client_addr, status="pending", created_at=now))
    return Request(public_id, ip, contact_email, explanation, client_addr, "pending", now, None, None, None)


def get(conn: Connection, public_id: str) -> Request:
    row = conn.execute(sa.select(delisting_requests).where(delisting_requests.c.public_id == public_id)).first()
    if row is None:
        raise NotFound("no such delisting request")
    return _request(row)


def find(conn: Connection, *, status: str | None = None, ip: str | None = None,
         limit: int = 100) -> list[Request]:
    q = sa.select(delisting_requests).order_by(delisting_requests.c.id.desc()).limit(limit)
    if status is not None:
        q = q.where(delisting_requests.c.status == status)
    if ip is not None:
        q = q.where(delisting_requests.c.ip == ip)
    return [_request(r) for r in conn.execute(q)]


def count_recent(conn: Connection, client_addr: str, since: datetime) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(delisting_requests).where(
        delisting_requests.c.client_addr == client_addr, delisting_requests.c.created_at > since)).scalar_one())


def decide(conn: Connection, public_id: str, *, status: str, by: int | None, reason: str,
           now: datetime) -> bool:
    """Mark a pending request decided; False when it was not pending (someone decided first)."""
    n = conn.execute(delisting_requests.update().where(
        delisting_requests.c.public_id == public_id, delisting_requests.c.status == "pending",
    ).values(status=status, decided_at=now, decided_by=by, decision_reason=reason)).rowcount
    return bool(n)
