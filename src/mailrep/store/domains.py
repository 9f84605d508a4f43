"""The domain blocklist's storage: domains advertised in reports, domain listings and events.

    scan_reports(conn, after, limit)     (report id, trace) of reports after id `after`
    add_report_domains(conn, rows)       (report id, domain) pairs; cursor()/set_cursor(conn, id)
    load(conn, domains, now, window)     Evidence per domain: its counted reports (one per report)
    get / save / due / iter_listed / history / change_marker   as `store.listings`, for domains

A domain's report counts as in `store.evidence`: flagged `counted`, not parked, its reporter
(if any) active; anonymous reports share one identity.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mailrep.policy.domains import DomainEvent, DomainListing
from mailrep.policy.listing import State
from mailrep.policy.score import Evidence, ReportRow
from mailrep.store.evidence import epoch_of
from mailrep.store.tables import (
    domain_events,
    domain_listings,
    domain_scan,
    report_domains,
    reporters,
    reports,
)

_CHUNK = 500
_FIELDS = ("state", "score", "reporters", "first_evidence", "last_evidence", "listed_since",
           "expires_at", "reason")


def cursor(conn: Connection, *, lock: bool = False) -> int:
    """The id of the last report scanned for domains (0 before the first scan)."""
    q = sa.select(domain_scan.c.last_report_id).where(domain_scan.c.id == 1)
    if lock:
        q = q.with_for_update()
    got = conn.execute(q).scalar_one_or_none()
    return int(got or 0)


def set_cursor(conn: Connection, last_report_id: int) -> None:
    if conn.execute(domain_scan.update().where(domain_scan.c.id == 1)
                    .values(last_report_id=last_report_id)).rowcount == 0:
        conn.execute(domain_scan.insert().values(id=1, last_report_id=last_report_id))


def scan_reports(conn: Connection, after: int, limit: int) -> list[tuple[int, dict[str, Any]]]:
    """(id, decoded trace) of up to `limit` reports with an id above `after`, in id order
    (reports without a trace come back with an empty dict, so the cursor passes them)."""
    q = (sa.select(reports.c.id, reports.c.trace_json).where(reports.c.id > after)
         .order_by(reports.c.id).limit(limit))
    out: list[tuple[int, dict[str, Any]]] = []
    for rid, trace in conn.execute(q):
        if isinstance(trace, str | bytes):
            trace = json.loads(trace)
        out.append((int(rid), trace if isinstance(trace, dict) else {}))
    return out


def add_report_domains(conn: Connection, rows: Sequence[tuple[int, str]]) -> None:
    if rows:
        conn.execute(report_domains.insert(), [{"report_id": r, "domain": d} for r, d in rows])


def load(conn: Connection, domains: Sequence[str], now: datetime, window_days: float) -> dict[str, Evidence]:
    """Evidence for each domain (every domain gets an entry, maybe empty)."""
    since = now - timedelta(days=window_days)
    out: dict[str, list[ReportRow]] = {d: [] for d in domains}
    for i in range(0, len(domains), _CHUNK):
        part = list(domains[i:i + _CHUNK])
        q = (
            sa.select(report_domains.c.domain, epoch_of(reports.c.received_at), reports.c.reporter_id,
                      sa.func.coalesce(reporters.c.trust_weight, 1.0),
                      sa.func.coalesce(reporters.c.kind, "simp"))
            .select_from(report_domains.join(reports, reports.c.id == report_domains.c.report_id)
                         .outerjoin(reporters, reporters.c.account_id == reports.c.reporter_id))
            .where(report_domains.c.domain.in_(part), reports.c.received_at > since,
                   reports.c.counted.is_(True), reports.c.state != "parked",
                   sa.or_(reports.c.reporter_id.is_(None), reporters.c.status == "active",
                          reporters.c.account_id.is_(None)))
        )
        for domain, at, reporter, trust, kind in conn.execute(q):
            out[domain].append(ReportRow(float(at), reporter, float(trust), kind))
    return {d: Evidence(tuple(rows)) for d, rows in out.items()}


def _listing(row: Any) -> DomainListing:
    return DomainListing(
        domain=row.domain, state=State(row.state), score=float(row.score), reporters=int(row.reporters),
        first_evidence=row.first_evidence, last_evidence=row.last_evidence,
        listed_since=row.listed_since, expires_at=row.expires_at, reason=row.reason,
    )


def get(conn: Connection, domains: Sequence[str], *, lock: bool = False) -> dict[str, DomainListing]:
    out: dict[str, DomainListing] = {}
    for i in range(0, len(domains), _CHUNK):
        q = sa.select(domain_listings).where(domain_listings.c.domain.in_(list(domains[i:i + _CHUNK])))
        if lock:
            q = q.with_for_update()
        for row in conn.execute(q):
            out[row.domain] = _listing(row)
    return out


def _values(lst: DomainListing, now: datetime) -> dict[str, Any]:
    return {"state": str(lst.state), "score": float(lst.score), "reporters": lst.reporters,
            "first_evidence": lst.first_evidence, "last_evidence": lst.last_evidence,
            "listed_since": lst.listed_since, "expires_at": lst.expires_at,
            "reason": lst.reason[:4000], "updated_at": now}


def save(conn: Connection, new: Sequence[DomainListing], prev: dict[str, DomainListing],
         events: Sequence[DomainEvent], now: datetime) -> None:
    """Write changed domain listings (a domain never listed is not stored) and their events."""
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for lst in new:
        old = prev.get(lst.domain)
        if old is None:
            if lst.state != State.UNLISTED:
                inserts.append({"domain": lst.domain, **_values(lst, now)})
        elif any(getattr(old, f) != getattr(lst, f) for f in _FIELDS):
            updates.append({"d": lst.domain, **_values(lst, now)})
    if inserts:
        conn.execute(domain_listings.insert(), inserts)
    if updates:
        stmt = domain_listings.update().where(domain_listings.c.domain == sa.bindparam("d")).values(
            {c: sa.bindparam(c) for c in (*_FIELDS, "updated_at")})
        conn.execute(stmt, updates)
    if events:
        conn.execute(domain_events.insert(), [
            {"domain": e.key, "at": e.at, "old_state": str(e.old_state), "new_state": str(e.new_state),
             "reason": e.reason[:4000], "actor_role": e.actor_role, "score": float(e.score),
             "expires_at": e.expires_at}
            for e in events
        ])


def due(conn: Connection, now: datetime) -> list[str]:
    q = sa.select(domain_listings.c.domain).where(domain_listings.c.state == "listed",
                                                  domain_listings.c.expires_at <= now)
    return list(conn.execute(q).scalars())


def iter_listed(conn: Connection, now: datetime) -> Iterator[tuple[str, datetime | None]]:
    q = (sa.select(domain_listings.c.domain, domain_listings.c.expires_at)
         .where(domain_listings.c.state == "listed",
                sa.or_(domain_listings.c.expires_at.is_(None), domain_listings.c.expires_at > now))
         .execution_options(yield_per=10_000))
    for row in conn.execute(q):
        yield str(row.domain), row.expires_at


def history(conn: Connection, domain: str, limit: int = 100) -> list[dict[str, Any]]:
    q = (sa.select(domain_events).where(domain_events.c.domain == domain)
         .order_by(domain_events.c.id.desc()).limit(limit))
    return [{"at": r.at, "from": r.old_state, "to": r.new_state, "reason": r.reason, "by": r.actor_role,
             "score": float(r.score), "expires": r.expires_at} for r in conn.execute(q)]


def change_marker(conn: Connection) -> int:
    """The id of the newest domain event: grows whenever a domain listing changes state."""
    return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(domain_events.c.id), 0))).scalar_one())
