"""Listings and their public history (listing_events), in bulk.

`get` reads the stored state of keys as `policy.Listing`; `save` writes decisions back (insert
or update, only when something changed) and appends their events. `change_marker` is the id
of the newest listing event: it grows whenever any state changes, so the DNS side can poll it
with one indexed query.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mailrep.net import parse_ip, parse_key, parse_network
from mailrep.policy.listing import Event, Listing, State
from mailrep.store.tables import listing_events, listings

_CHUNK = 500
_FIELDS = ("state", "manual", "score", "first_evidence", "last_evidence", "listed_since",
           "expires_at", "delisted_at", "reason")


def _chunks(seq: Sequence[Any], n: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def _listing(row: Any) -> Listing:
    return Listing(
        key=row.key, state=State(row.state), manual=bool(row.manual), score=float(row.score),
        first_evidence=row.first_evidence, last_evidence=row.last_evidence,
        listed_since=row.listed_since, expires_at=row.expires_at, delisted_at=row.delisted_at,
        reason=row.reason,
    )


def get(conn: Connection, keys: Sequence[str], *, lock: bool = False) -> dict[str, Listing]:
    """Stored listings of `keys` (absent keys are missing from the result); `lock` takes row
    locks on PostgreSQL (SQLite's write transaction already excludes other writers)."""
    out: dict[str, Listing] = {}
    for part in _chunks(list(keys)):
        q = sa.select(listings).where(listings.c.key.in_(part))
        if lock:
            q = q.with_for_update()
        for row in conn.execute(q):
            out[row.key] = _listing(row)
    return out


def covering_networks(conn: Connection, ip: str) -> list[Listing]:
    """Network listings (CIDR keys) that contain `ip` (few: only staff list networks)."""
    addr = parse_ip(ip)
    rows = conn.execute(sa.select(listings).where(listings.c.key.like("%/%")))
    return [_listing(r) for r in rows
            if (net := parse_network(r.key)).version == addr.version and addr in net]


def publishing(conn: Connection, ip: str, now: datetime) -> list[str]:
    """Keys of the listings in force at `now` that put `ip` in the zone: its own, then any
    network containing it."""
    own = get(conn, [ip]).get(ip)
    keys = [ip] if own is not None and own.listed_at(now) else []
    return keys + [n.key for n in covering_networks(conn, ip) if n.listed_at(now)]


def _values(lst: Listing, now: datetime) -> dict[str, Any]:
    return {
        "state": str(lst.state), "manual": lst.manual, "score": float(lst.score),
        "first_evidence": lst.first_evidence, "last_evidence": lst.last_evidence,
        "listed_since": lst.listed_since, "expires_at": lst.expires_at,
        "delisted_at": lst.delisted_at, "reason": lst.reason[:4000], "updated_at": now,
    }


def save(conn: Connection, new: Sequence[Listing], prev: dict[str, Listing], events: Sequence[Event],
         now: datetime) -> int:
    """Write changed listings (insert unknown keys that are worth keeping) and append events.

    A key never stored and still plainly unlisted is not written: the table holds only keys
    that were listed, delisted or exempted at some point. Returns the number of rows written.
    """
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for lst in new:
        old = prev.get(lst.key)
        if old is None:
            if lst.state == State.UNLISTED and not lst.manual and lst.delisted_at is None:
                continue
            inserts.append({"key": lst.key, "family": parse_key(lst.key).version, **_values(lst, now)})
        elif any(getattr(old, f) != getattr(lst, f) for f in _FIELDS):
            updates.append({"k": lst.key, **_values(lst, now)})
    if inserts:
        conn.execute(listings.insert(), inserts)
    if updates:
        stmt = listings.update().where(listings.c.key == sa.bindparam("k")).values(
            {c: sa.bindparam(c) for c in (*_FIELDS, "updated_at")})
        conn.execute(stmt, updates)
    if events:
        conn.execute(listing_events.insert(), [
            {"key": e.key, "at": e.at, "old_state": str(e.old_state), "new_state": str(e.new_state),
             "reason": e.reason[:4000], "actor_role": e.actor_role, "score": float(e.score),
             "expires_at": e.expires_at}
            for e in events
        ])
    return len(inserts) + len(updates)


def history(conn: Connection, key: str, limit: int = 100) -> list[dict[str, Any]]:
    """The public history of a key, newest first."""
    q = (sa.select(listing_events).where(listing_events.c.key == key)
         .order_by(listing_events.c.id.desc()).limit(limit))
    return [
        {"at": r.at, "from": r.old_state, "to": r.new_state, "reason": r.reason, "by": r.actor_role,
         "score": float(r.score), "expires": r.expires_at}
        for r in conn.execute(q)
    ]


def due(conn: Connection, now: datetime) -> list[str]:
    """Listed keys whose expiry has come."""
    q = sa.select(listings.c.key).where(listings.c.state == "listed", listings.c.expires_at <= now)
    return list(conn.execute(q).scalars())


def iter_listed(conn: Connection, now: datetime, batch: int = 10_000) -> Iterator[tuple[str, int, datetime | None]]:
    """(key, family, expires_at) of every listing in force at `now`, streamed."""
    q = (sa.select(listings.c.key, listings.c.family, listings.c.expires_at)
         .where(listings.c.state == "listed",
                sa.or_(listings.c.expires_at.is_(None), listings.c.expires_at > now))
         .execution_options(yield_per=batch))
    for key, family, expires in conn.execute(q):
        yield key, int(family), expires


def change_marker(conn: Connection) -> int:
    return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(listing_events.c.id), 0))).scalar_one())


def keys_in_state(conn: Connection, state: str) -> list[str]:
    return list(conn.execute(sa.select(listings.c.key).where(listings.c.state == state)).scalars())
