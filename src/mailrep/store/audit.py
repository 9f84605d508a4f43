"""The audit log of staff actions: who did what to which target, why, when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mailrep.store.tables import accounts, audit_log


def record(conn: Connection, *, at: datetime, actor_account_id: int | None, action: str,
           target: str = "", reason: str = "", detail: dict[str, Any] | None = None) -> int:
    key = conn.execute(audit_log.insert().values(
        at=at, actor_account_id=actor_account_id, action=action[:64], target=target[:200],
        reason=reason, detail=detail,
    )).inserted_primary_key
    assert key is not None
    return int(key[0])


def entries(conn: Connection, *, target: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Newest first, with the actor's account name (staff-only data: never published)."""
    q = (sa.select(audit_log, accounts.c.name.label("actor"))
         .select_from(audit_log.outerjoin(accounts, accounts.c.id == audit_log.c.actor_account_id))
         .order_by(audit_log.c.id.desc()).limit(limit))
    if target is not None:
        q = q.where(audit_log.c.target == target)
    return [
        {"id": r.id, "at": r.at, "actor": r.actor, "action": r.action, "target": r.target,
         "reason": r.reason, "detail": r.detail}
        for r in conn.execute(q)
    ]
