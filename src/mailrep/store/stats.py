"""Read-only figures for the public statistics (`services.stats`): counts and time series."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mailrep.store.tables import listing_events, listings, reporters, reports


def listed_count(conn: Connection, now: datetime) -> int:
    """Listings in force at `now`."""
    q = (sa.select(sa.func.count()).select_from(listings)
         .where(listings.c.state == "listed",
                sa.or_(listings.c.expires_at.is_(None), listings.c.expires_at > now)))
    return int(conn.execute(q).scalar_one())


def reports_since(conn: Connection, since: datetime) -> int:
    q = sa.select(sa.func.count()).select_from(reports).where(reports.c.received_at >= since)
    return int(conn.execute(q).scalar_one())


def active_reporters(conn: Connection) -> int:
    q = sa.select(sa.func.count()).select_from(reporters).where(reporters.c.status == "active")
    return int(conn.execute(q).scalar_one())


def report_times(conn: Connection, since: datetime, batch: int = 10_000) -> Iterator[tuple[datetime, str]]:
    """(received_at, channel) of every report since `since`, streamed."""
    q = (sa.select(reports.c.received_at, reports.c.channel)
         .where(reports.c.received_at >= since).execution_options(yield_per=batch))
    for row in conn.execute(q):
        yield row[0], row[1]


def listing_changes(conn: Connection, since: datetime) -> list[tuple[datetime, int]]:
    """(at, +1 or -1) for each event since `since` that put a key on or took it off the list."""
    q = (sa.select(listing_events.c.at, listing_events.c.old_state, listing_events.c.new_state)
         .where(listing_events.c.at >= since,
                (listing_events.c.old_state == "listed") != (listing_events.c.new_state == "listed")))
    return [(at, 1 if new == "listed" else -1) for at, old, new in conn.execute(q)]
