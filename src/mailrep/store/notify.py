"""Abuse notification in the store: the RDAP contact cache, overrides, the outbox.

    key = range_key("203.0.113.9")                 # (4, "000...cb007109")
    enqueue(conn, report_ids, now)                 # in the transaction that processes them
    due(conn, now, limit) / update(conn, id, ...)  # the worker's view of the outbox
    cached(conn, ip, now) / put_contact(conn, ...) # the most specific unexpired network
    override_for(conn, ip) / set_override(...)     # the most specific override

A network is a range (family, first, last) with each address as 32 hex digits, so ranges
compare as text; among the ranges that contain an address, the most specific one (networks
nest) has the highest start and, for equal starts, the lowest end.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mailrep.errors import BadInput, NotFound
from mailrep.store.tables import (
    NOTIFY_MODES,
    abuse_contacts,
    abuse_overrides,
    notify_outbox,
    reports,
)

_CHUNK = 500


def range_key(ip: str) -> tuple[int, str]:
    addr = ipaddress.ip_address(ip)
    return addr.version, f"{int(addr):032x}"


def _contains(table: sa.Table, ip: str) -> Any:
    family, key = range_key(ip)
    return sa.and_(table.c.family == family, table.c.start_key <= key, table.c.end_key >= key)


def _most_specific(table: sa.Table) -> tuple[Any, Any]:
    return table.c.start_key.desc(), table.c.end_key.asc()


# --- contact cache ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Contact:
    """A network and its abuse addresses (none: nobody to tell), as cached or overridden."""

    network: str
    emails: tuple[str, ...]
    name: str = ""
    registry: str = ""
    server: str = ""
    fetched_at: datetime | None = None
    expires_at: datetime | None = None


def cached(conn: Connection, ip: str, now: datetime) -> Contact | None:
    t = abuse_contacts
    row = conn.execute(sa.select(t).where(_contains(t, ip), t.c.expires_at > now)
                       .order_by(*_most_specific(t)).limit(1)).mappings().first()
    if row is None:
        return None
    return Contact(row["network"], tuple(row["emails"] or ()), row["name"], row["registry"],
                   row["server"], row["fetched_at"], row["expires_at"])


def put_contact(conn: Connection, *, start: str, end: str, network: str, emails: Sequence[str],
                name: str, handle: str, registry: str, server: str, fetched_at: datetime,
                expires_at: datetime) -> None:
    """Cache one RDAP answer (replacing an older one for the same range)."""
    family, start_key = range_key(start)
    _, end_key = range_key(end)
    t = abuse_contacts
    where = sa.and_(t.c.family == family, t.c.start_key == start_key, t.c.end_key == end_key)
    values = {"network": network, "emails": list(emails), "name": name[:200], "handle": handle[:200],
              "registry": registry[:64], "server": server, "fetched_at": fetched_at, "expires_at": expires_at}
    if conn.execute(t.update().where(where).values(**values)).rowcount == 0:
        conn.execute(t.insert().values(family=family, start_key=start_key, end_key=end_key, **values))


# --- overrides --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Override:
    network: str
    emails: tuple[str, ...]  # empty: the RDAP addresses
    mode: str
    reason: str = ""


def _override(row: Any) -> Override:
    return Override(row["network"], tuple(row["emails"] or ()), row["mode"], row["reason"])


def override_for(conn: Connection, ip: str) -> Override | None:
    t = abuse_overrides
    row = conn.execute(sa.select(t).where(_contains(t, ip)).order_by(*_most_specific(t)).limit(1)).mappings().first()
    return None if row is None else _override(row)


def set_override(conn: Connection, cidr: str, *, emails: Sequence[str], mode: str, now: datetime,
                 reason: str = "") -> Override:
    if mode not in NOTIFY_MODES:
        raise BadInput(f"unknown mode {mode!r} (one of {', '.join(NOTIFY_MODES)})")
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError as e:
        raise BadInput(f"not a network: {cidr!r}") from e
    family, start_key = range_key(str(net.network_address))
    _, end_key = range_key(str(net.broadcast_address))
    t = abuse_overrides
    values = {"family": family, "start_key": start_key, "end_key": end_key, "emails": list(emails),
              "mode": mode, "reason": reason, "created_at": now}
    if conn.execute(t.update().where(t.c.network == str(net)).values(**values)).rowcount == 0:
        conn.execute(t.insert().values(network=str(net), **values))
    return Override(str(net), tuple(emails), mode, reason)


def delete_override(conn: Connection, cidr: str) -> None:
    try:
        net = str(ipaddress.ip_network(cidr, strict=False))
    except ValueError as e:
        raise BadInput(f"not a network: {cidr!r}") from e
    if conn.execute(abuse_overrides.delete().where(abuse_overrides.c.network == net)).rowcount == 0:
        raise NotFound(f"no override for {net}")


def overrides(conn: Connection) -> list[Override]:
    t = abuse_overrides
    return [_override(r) for r in conn.execute(sa.select(t).order_by(t.c.family, t.c.start_key)).mappings()]


# --- outbox -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Item:
    id: int
    report_id: int
    source_ip: str
    state: str
    attempts: int
    created_at: datetime
    network: str | None = None
    recipients: tuple[str, ...] = ()


def _item(row: Any) -> Item:
    return Item(row["id"], row["report_id"], row["source_ip"], row["state"], row["attempts"],
                row["created_at"], row["network"], tuple(row["recipients"] or ()))


def enqueue(conn: Connection, report_ids: Sequence[int], now: datetime) -> int:
    """Queue a notification for each counted report with a source (once per report, however
    often this runs for it). Returns how many were queued."""
    n = 0
    ids = sorted(set(report_ids))
    for k in range(0, len(ids), _CHUNK):
        part = ids[k:k + _CHUNK]
        rows = conn.execute(
            sa.select(reports.c.id, reports.c.source_ip)
            .where(reports.c.id.in_(part), reports.c.counted.is_(True), reports.c.source_ip.is_not(None))
            .where(~sa.exists().where(notify_outbox.c.report_id == reports.c.id))).all()
        if rows:
            conn.execute(notify_outbox.insert(), [
                {"report_id": rid, "source_ip": ip, "created_at": now, "next_at": now, "state": "pending"}
                for rid, ip in rows])
            n += len(rows)
    return n


def due(conn: Connection, now: datetime, limit: int) -> list[Item]:
    t = notify_outbox
    q = (sa.select(t).where(t.c.state == "pending", t.c.next_at <= now)
         .order_by(t.c.next_at, t.c.id).limit(limit))
    return [_item(r) for r in conn.execute(q).mappings()]


def next_due(conn: Connection) -> datetime | None:
    t = notify_outbox
    return conn.execute(sa.select(sa.func.min(t.c.next_at)).where(t.c.state == "pending")).scalar()


def update(conn: Connection, item_id: int, **values: Any) -> None:
    conn.execute(notify_outbox.update().where(notify_outbox.c.id == item_id).values(**values))


def held_for_digest(conn: Connection, before: datetime) -> list[Item]:
    """Items waiting for a digest, created before `before`."""
    t = notify_outbox
    q = sa.select(t).where(t.c.state == "digest", t.c.created_at < before).order_by(t.c.network, t.c.id)
    return [_item(r) for r in conn.execute(q).mappings()]


def mark_many(conn: Connection, item_ids: Sequence[int], **values: Any) -> None:
    for k in range(0, len(item_ids), _CHUNK):
        conn.execute(notify_outbox.update().where(notify_outbox.c.id.in_(item_ids[k:k + _CHUNK])).values(**values))


def status(conn: Connection) -> dict[str, Any]:
    t = notify_outbox
    counts = {state: int(n) for state, n in conn.execute(sa.select(t.c.state, sa.func.count()).group_by(t.c.state))}
    oldest = conn.execute(sa.select(sa.func.min(t.c.created_at)).where(t.c.state == "pending")).scalar()
    errors = [dict(r) for r in conn.execute(
        sa.select(t.c.report_id, t.c.state, t.c.attempts, t.c.error).where(t.c.error.is_not(None))
        .order_by(t.c.id.desc()).limit(10)).mappings()]
    cache = conn.execute(sa.select(sa.func.count()).select_from(abuse_contacts)).scalar() or 0
    return {"states": counts, "oldest_pending": oldest, "recent_errors": errors, "cached_networks": int(cache)}
