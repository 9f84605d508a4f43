"""Evidence for the policy, loaded in bulk: counted reports (with their reporter's trust and
kind), trap hits and volume, per IP, inside the policy window. Volume is the mail telemetry
plus the queries counted about the IP on bl. (`dns_queries`, per day: the days from the
window's first day on).

Whether a report counts was decided at intake (`policy.counting`, stored as `counted` with its
reason); this module only loads by the stored flags. A report is evidence when it is flagged
`counted`, is not parked, and its reporter (if any) is an active reporter: suspension is a fact
joined here, not a decision, so suspending a reporter removes its reports from every later
evaluation and from the public counts alike. Anonymous reports (no reporter account) count as
kind `simp` with trust 1.0 and share one identity for the independence rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from mailrep.policy.score import Evidence, ReportRow
from mailrep.store.reputation import dns_queries_since
from mailrep.store.tables import report_queue, reporters, reports, trap_hits, volume

_CHUNK = 500


class epoch_of(FunctionElement[float]):
    """Seconds since 1970 of a stored (naive UTC) time, computed by the database: the bulk
    evidence query then returns floats instead of datetime objects. SQLite's julianday keeps
    milliseconds; PostgreSQL keeps microseconds."""

    type = sa.Float()
    inherit_cache = True
    name = "epoch_of"


@compiles(epoch_of, "sqlite")
def _epoch_sqlite(element: epoch_of, compiler: Any, **kw: Any) -> str:
    return f"((julianday({compiler.process(element.clauses, **kw)}) - 2440587.5) * 86400.0)"


@compiles(epoch_of, "postgresql")
def _epoch_pg(element: epoch_of, compiler: Any, **kw: Any) -> str:
    return f"CAST(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)}) AS DOUBLE PRECISION)"


# Reports with their reporter (outer join: anonymous reports have none), and the conditions that
# make one evidence: the stored decision, not parked, and the reporter (if any) active.
_REPORTS_JOIN = reports.outerjoin(reporters, reporters.c.account_id == reports.c.reporter_id)
_COUNTS = (reports.c.counted.is_(True), reports.c.state != "parked",
           sa.or_(reports.c.reporter_id.is_(None), reporters.c.status == "active",
                  reporters.c.account_id.is_(None)))


def _chunks(seq: Sequence[Any], n: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def load(conn: Connection, ips: Sequence[str], now: datetime, window_days: float) -> dict[str, Evidence]:
    """Evidence for each IP in `ips` (every IP gets an entry, maybe empty)."""
    since = now - timedelta(days=window_days)
    reps: dict[str, list[ReportRow]] = {ip: [] for ip in ips}
    traps: dict[str, list[float]] = {ip: [] for ip in ips}
    vols: dict[str, int] = dict.fromkeys(ips, 0)
    for part in _chunks(list(ips)):
        q = (
            sa.select(reports.c.source_ip, epoch_of(reports.c.received_at), reports.c.reporter_id,
                      sa.func.coalesce(reporters.c.trust_weight, 1.0), sa.func.coalesce(reporters.c.kind, "simp"))
            .select_from(_REPORTS_JOIN)
            .where(reports.c.source_ip.in_(part), reports.c.received_at > since, *_COUNTS)
        )
        for ip, at, reporter, trust, kind in conn.execute(q):
            reps[ip].append(ReportRow(float(at), reporter, float(trust), kind))
        q2 = sa.select(trap_hits.c.source_ip, epoch_of(trap_hits.c.received_at)).where(
            trap_hits.c.source_ip.in_(part), trap_hits.c.received_at > since, trap_hits.c.counted.is_(True))
        for ip, at in conn.execute(q2):
            traps[ip].append(float(at))
        q3 = (sa.select(volume.c.ip, sa.func.sum(volume.c.count))
              .where(volume.c.ip.in_(part), volume.c.period_end > since).group_by(volume.c.ip))
        for ip, total in conn.execute(q3):
            vols[ip] = int(total or 0)
        for ip, n in dns_queries_since(conn, list(part), since.date()).items():
            vols[ip] += n
    return {ip: Evidence(tuple(reps[ip]), tuple(traps[ip]), vols[ip]) for ip in ips}


def counts(conn: Connection, ip: str, now: datetime, window_days: float) -> dict[str, Any]:
    """Public evidence counts for one IP: trap, user, mole, simp, last_seen (no identities)."""
    since = now - timedelta(days=window_days)
    out: dict[str, Any] = {"trap": 0, "user": 0, "mole": 0, "simp": 0, "last_seen": None}
    kind_col = sa.func.coalesce(reporters.c.kind, sa.literal_column("'simp'"))
    q = (
        sa.select(kind_col, sa.func.count(), sa.func.max(reports.c.received_at))
        .select_from(_REPORTS_JOIN)
        .where(reports.c.source_ip == ip, reports.c.received_at > since, *_COUNTS)
        .group_by(kind_col)
    )
    last: list[datetime] = []
    for kind, n, latest in conn.execute(q):
        out[kind] = out.get(kind, 0) + int(n)
        if latest is not None:
            last.append(latest)
    n, latest = conn.execute(
        sa.select(sa.func.count(), sa.func.max(trap_hits.c.received_at)).where(
            trap_hits.c.source_ip == ip, trap_hits.c.received_at > since, trap_hits.c.counted.is_(True))
    ).one()
    out["trap"] = int(n)
    if latest is not None:
        last.append(latest)
    out["last_seen"] = max(last) if last else None
    return out


def queued(conn: Connection, ip: str) -> int:
    """Reports about `ip` stored but not yet evaluated (their post-commit work is queued)."""
    q = (sa.select(sa.func.count()).select_from(report_queue.join(reports, reports.c.id == report_queue.c.report_id))
         .where(reports.c.source_ip == ip))
    return int(conn.execute(q).scalar_one())


def trap_detail(conn: Connection, ip: str, now: datetime, window_days: float) -> list[tuple[datetime, str | None]]:
    """(time, trap address) of the counted trap hits of `ip` in the window, newest first: for
    deputies only, never published."""
    since = now - timedelta(days=window_days)
    q = (sa.select(trap_hits.c.received_at, trap_hits.c.trap_address)
         .where(trap_hits.c.source_ip == ip, trap_hits.c.received_at > since, trap_hits.c.counted.is_(True))
         .order_by(trap_hits.c.received_at.desc()))
    return [(at, addr) for at, addr in conn.execute(q)]


def reported_by(conn: Connection, account_id: int, now: datetime, window_days: float) -> list[str]:
    """Distinct source IPs a reporter reported inside the window (to re-evaluate them)."""
    since = now - timedelta(days=window_days)
    q = (sa.select(reports.c.source_ip).distinct()
         .where(reports.c.reporter_id == account_id, reports.c.received_at > since,
                reports.c.source_ip.is_not(None)))
    return [ip for ip in conn.execute(q).scalars() if ip]


def iter_all(conn: Connection, now: datetime, window_days: float,
             batch: int = 2000) -> Iterator[dict[str, Evidence]]:
    """Evidence of every source with counted reports or trap hits in the window, streamed in
    dicts of about `batch` IPs (one ordered pass over the reports; for a full recompute)."""
    since = now - timedelta(days=window_days)
    vols: dict[str, int] = {
        ip: int(total or 0) for ip, total in conn.execute(
            sa.select(volume.c.ip, sa.func.sum(volume.c.count)).where(volume.c.period_end > since)
            .group_by(volume.c.ip))
    }
    for ip, n in dns_queries_since(conn, None, since.date()).items():
        vols[ip] = vols.get(ip, 0) + n
    traps: dict[str, list[float]] = {}
    for ip, at in conn.execute(sa.select(trap_hits.c.source_ip, epoch_of(trap_hits.c.received_at)).where(
            trap_hits.c.received_at > since, trap_hits.c.counted.is_(True), trap_hits.c.source_ip.is_not(None))):
        traps.setdefault(ip, []).append(float(at))
    q = (
        sa.select(reports.c.source_ip, epoch_of(reports.c.received_at), reports.c.reporter_id,
                  sa.func.coalesce(reporters.c.trust_weight, 1.0), sa.func.coalesce(reporters.c.kind, "simp"))
        .select_from(_REPORTS_JOIN)
        .where(reports.c.received_at > since, reports.c.source_ip.is_not(None), *_COUNTS)
        .order_by(reports.c.source_ip)
        .execution_options(yield_per=10_000)
    )
    out: dict[str, Evidence] = {}
    cur_ip: str | None = None
    rows: list[ReportRow] = []

    def close(ip: str) -> None:
        out[ip] = Evidence(tuple(rows), tuple(traps.pop(ip, ())), vols.get(ip, 0))

    for ip, at, reporter, trust, kind in conn.execute(q):
        if ip != cur_ip:
            if cur_ip is not None:
                close(cur_ip)
                if len(out) >= batch:
                    yield out
                    out = {}
            cur_ip, rows = ip, []
        rows.append(ReportRow(float(at), reporter, float(trust), kind))
    if cur_ip is not None:
        close(cur_ip)
    for ip in list(traps):  # trap evidence without any report
        rows = []
        close(ip)
        if len(out) >= batch:
            yield out
            out = {}
    if out:
        yield out
