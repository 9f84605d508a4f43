"""Batched SQL for the intake: reports, trap hits and volume; dedupe; quota counts.

Every function takes an open connection inside the caller's transaction (the intake writer
commits one batch per transaction), and works on lists so a batch costs a handful of
statements, not one per item. Dedupe keys:

    report    r:<reporter account id>:<sha256 of the raw bytes>
    trap hit  t:<feed account id>:<sha256>

On PostgreSQL, rows are inserted with ids drawn from the table's sequence beforehand: one
short INSERT executed per row (psycopg pipelines it and prepares it once) instead of a
multi-row INSERT whose text changes with the batch size and is too long for psycopg to
cache, so it is parsed again every batch.

Report states: accepted (committed; its post-commit work queued in `report_queue`) ->
processed (no longer queued), or parked with the error that stopped its post-commit work.
The stored `reports.state` is `accepted` or `parked` (`processed` in rows written before the
queue existed); `state_of` gives the state a reader sees.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mailrep.store.tables import receiving_hosts, report_queue, reports, trap_hits, volume

ACCEPTED, PROCESSED, PARKED = "accepted", "processed", "parked"
_CHUNK = 500  # bound for IN (...) lists


def report_key(reporter_id: int | None, sha256: str) -> str:
    return f"r:{reporter_id if reporter_id is not None else '-'}:{sha256}"


def trap_key(feed_id: int | None, sha256: str) -> str:
    return f"t:{feed_id if feed_id is not None else '-'}:{sha256}"


def _chunks(seq: Sequence[Any], n: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def _find(conn: Connection, table: sa.Table, keys: Sequence[str]) -> dict[str, tuple[int, str | None]]:
    found: dict[str, tuple[int, str | None]] = {}
    for part in _chunks(list(keys)):
        q = sa.select(table.c.dedupe_key, table.c.id, table.c.source_ip).where(
            table.c.dedupe_key.in_(part))
        for key, rid, ip in conn.execute(q):
            found[key] = (rid, ip)
    return found


def find_reports(conn: Connection, keys: Sequence[str]) -> dict[str, tuple[int, str | None]]:
    """Existing reports by dedupe key: key -> (id, source_ip)."""
    return _find(conn, reports, keys)


def find_trap_hits(conn: Connection, keys: Sequence[str]) -> dict[str, tuple[int, str | None]]:
    """Existing trap hits by dedupe key: key -> (id, source_ip)."""
    return _find(conn, trap_hits, keys)


def _insert_returning_ids(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> list[int]:
    """Insert rows; their new ids in row order."""
    if not rows:
        return []
    if conn.dialect.name == "postgresql":
        seq = sa.func.pg_get_serial_sequence(table.name, "id")
        q = sa.select(sa.func.nextval(seq)).select_from(sa.func.generate_series(1, len(rows)))
        ids = sorted(r[0] for r in conn.execute(q))
        conn.execute(table.insert(), [{**row, "id": rid} for row, rid in zip(rows, ids, strict=True)])
        return ids
    stmt = table.insert().returning(table.c.id, sort_by_parameter_order=True)
    return [r[0] for r in conn.execute(stmt, rows)]


def insert_reports(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Insert report rows (column dicts incl. dedupe_key); ids in the same order."""
    return _insert_returning_ids(conn, reports, rows)


def insert_trap_hits(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    return _insert_returning_ids(conn, trap_hits, rows)


def insert_volume(conn: Connection, rows: list[dict[str, Any]]) -> int:
    if rows:
        conn.execute(volume.insert(), rows)
    return len(rows)


def receivers_of(conn: Connection, ips: Iterable[str]) -> dict[str, set[int]]:
    """The reporters whose traces show each IP as a trusted relay receiving their mail."""
    out: dict[str, set[int]] = {}
    for part in _chunks(sorted(set(ips))):
        q = sa.select(receiving_hosts.c.ip, receiving_hosts.c.reporter_id).where(receiving_hosts.c.ip.in_(part))
        for ip, rid in conn.execute(q):
            out.setdefault(ip, set()).add(int(rid))
    return out


def add_receiving_hosts(conn: Connection, pairs: Iterable[tuple[str, int]],
                        known: dict[str, set[int]] | None = None) -> None:
    """Record (ip, reporter id) pairs not recorded yet (`known`: what `receivers_of` returned
    for these IPs, to spare the look-up)."""
    new = set(pairs)
    if not new:
        return
    if known is None:
        known = receivers_of(conn, {ip for ip, _ in new})
    rows = [{"ip": ip, "reporter_id": rid} for ip, rid in sorted(new) if rid not in known.get(ip, ())]
    if rows:
        conn.execute(receiving_hosts.insert(), rows)


def reports_of(conn: Connection, account_id: int, since: datetime) -> list[dict[str, Any]]:
    """A reporter's reports received after `since`: id, received_at, raw_z, trace_json, flags,
    source_ip."""
    q = (sa.select(reports.c.id, reports.c.received_at, reports.c.raw_z, reports.c.trace_json, reports.c.flags,
                   reports.c.source_ip)
         .where(reports.c.reporter_id == account_id, reports.c.received_at > since).order_by(reports.c.id))
    return [dict(r) for r in conn.execute(q).mappings()]


def redecide(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Store new trace results and decisions: dicts of id, source_ip, trace_json, counted,
    count_reason, flags."""
    if rows:
        stmt = (reports.update().where(reports.c.id == sa.bindparam("rid"))
                .values(source_ip=sa.bindparam("source_ip"), trace_json=sa.bindparam("trace_json"),
                        counted=sa.bindparam("counted"), count_reason=sa.bindparam("count_reason"),
                        flags=sa.bindparam("flags")))
        conn.execute(stmt, [{**{k: v for k, v in r.items() if k != "id"}, "rid": r["id"]} for r in rows])


def count_reports_since(conn: Connection, reporter_ids: Iterable[int], since: datetime) -> dict[int, int]:
    """Reports stored per reporter since `since` (the quota window); 0 for none."""
    ids = sorted(set(reporter_ids))
    counts = dict.fromkeys(ids, 0)
    for part in _chunks(ids):
        q = (sa.select(reports.c.reporter_id, sa.func.count())
             .where(reports.c.reporter_id.in_(part), reports.c.received_at >= since)
             .group_by(reports.c.reporter_id))
        for rid, n in conn.execute(q):
            counts[rid] = int(n)
    return counts


def get_report(conn: Connection, report_id: int) -> dict[str, Any] | None:
    """A report's columns but the raw message; `state` as a reader sees it (`state_of`)."""
    cols = [c for c in reports.c if c.name != "raw_z"]
    row = conn.execute(sa.select(*cols).where(reports.c.id == report_id)).mappings().first()
    if row is None:
        return None
    out = dict(row)
    out["state"] = state_of(out["state"], is_queued(conn, report_id))
    return out


def get_raw(conn: Connection, report_id: int) -> bytes | None:
    return conn.execute(sa.select(reports.c.raw_z).where(reports.c.id == report_id)).scalar()


def enqueue(conn: Connection, ids: Sequence[int]) -> None:
    """Queue reports for their post-commit work (in the transaction that stores them)."""
    if ids:
        conn.execute(report_queue.insert(), [{"report_id": i} for i in ids])


def queued_reports(conn: Connection, *, after_id: int = 0, limit: int = 5000) -> list[tuple[int, str | None]]:
    """Queued reports (post-commit work pending): (id, source_ip or None when it does not
    count), oldest first."""
    q = (sa.select(reports.c.id, reports.c.source_ip, reports.c.counted)
         .select_from(report_queue.join(reports, reports.c.id == report_queue.c.report_id))
         .where(report_queue.c.report_id > after_id)
         .order_by(report_queue.c.report_id).limit(limit))
    return [(r[0], r[1] if r[2] else None) for r in conn.execute(q)]


def dequeue(conn: Connection, ids: Sequence[int]) -> None:
    """Post-commit work finished for these reports: out of the queue."""
    for part in _chunks(list(ids)):
        conn.execute(report_queue.delete().where(report_queue.c.report_id.in_(part)))


def park(conn: Connection, ids: Sequence[int], error: str) -> None:
    """Set reports aside with the error that stopped their post-commit work (and dequeue them)."""
    for part in _chunks(list(ids)):
        conn.execute(reports.update().where(reports.c.id.in_(part)).values(state=PARKED, error=error))
    dequeue(conn, ids)


def state_of(stored: str, queued: bool) -> str:
    """The state a reader sees, from the stored one and whether the report is still queued."""
    if stored == PARKED:
        return PARKED
    return ACCEPTED if queued else PROCESSED


def is_queued(conn: Connection, report_id: int) -> bool:
    q = sa.select(report_queue.c.report_id).where(report_queue.c.report_id == report_id)
    return conn.execute(q).first() is not None


def report_states(conn: Connection) -> dict[str, int]:
    """How many reports are in each state (accepted = still queued)."""
    total = int(conn.execute(sa.select(sa.func.count()).select_from(reports)).scalar_one())
    parked = int(conn.execute(sa.select(sa.func.count()).select_from(reports)
                              .where(reports.c.state == PARKED)).scalar_one())
    queued = int(conn.execute(sa.select(sa.func.count()).select_from(report_queue)).scalar_one())
    out = {ACCEPTED: queued, PROCESSED: total - queued - parked, PARKED: parked}
    return {k: v for k, v in out.items() if v}


def recent_trap_ips(conn: Connection, since: datetime) -> list[str]:
    q = (sa.select(trap_hits.c.source_ip).distinct()
         .where(trap_hits.c.received_at >= since, trap_hits.c.source_ip.is_not(None)))
    return [r[0] for r in conn.execute(q)]


def recent_volume_ips(conn: Connection, since: datetime) -> list[str]:
    q = sa.select(volume.c.ip).distinct().where(volume.c.received_at >= since)
    return [r[0] for r in conn.execute(q)]


def by_reporter(conn: Connection, reporter_id: int, *, offset: int = 0, limit: int = 50) -> list[dict[str, Any]]:
    """A reporter's reports, newest first, without the raw message or the trace."""
    q = (sa.select(reports.c.id, reports.c.received_at, reports.c.channel, reports.c.source_ip,
                   reports.c.counted, reports.c.state, reports.c.flags,
                   report_queue.c.report_id.is_not(None).label("queued"))
         .select_from(reports.outerjoin(report_queue, report_queue.c.report_id == reports.c.id))
         .where(reports.c.reporter_id == reporter_id)
         .order_by(reports.c.id.desc()).offset(offset).limit(limit))
    out = []
    for r in conn.execute(q).mappings():
        row = dict(r)
        row["state"] = state_of(row["state"], bool(row.pop("queued")))
        out.append(row)
    return out
def reporter_reports(conn: Connection, reporter_id: int, *, state: str | None = None,
                     counted: bool | None = None, before_id: int | None = None,
                     offset: int = 0, limit: int = 50) -> list[dict[str, Any]]:
    """One reporter's reports, newest first (by id), without raw message or trace; `state` as a
    reader sees it (`state_of`), and the filters take that state. `before_id`: the next page."""
    queued = report_queue.c.report_id.is_not(None)
    cols = [reports.c.id, reports.c.received_at, reports.c.channel, reports.c.source_ip, reports.c.counted,
            reports.c.count_reason, reports.c.truncated, reports.c.raw_size, reports.c.flags, reports.c.error, reports.c.state,
            queued.label("queued")]
    q = (sa.select(*cols)
         .select_from(reports.outerjoin(report_queue, report_queue.c.report_id == reports.c.id))
         .where(reports.c.reporter_id == reporter_id))
    if before_id is not None:
        q = q.where(reports.c.id < before_id)
    if counted is not None:
        q = q.where(reports.c.counted == counted)
    if state == PARKED:
        q = q.where(reports.c.state == PARKED)
    elif state == ACCEPTED:
        q = q.where(reports.c.state != PARKED, queued)
    elif state == PROCESSED:
        q = q.where(reports.c.state != PARKED, report_queue.c.report_id.is_(None))
    rows = conn.execute(q.order_by(reports.c.id.desc()).offset(offset).limit(limit)).mappings()
    return [{**{k: v for k, v in r.items() if k != "queued"}, "state": state_of(r["state"], bool(r["queued"]))}
            for r in rows]
