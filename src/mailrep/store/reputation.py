"""SQL for sender reputation: DNS query counts, daily rows per entity, current scores, runs.

    add_dns_queries(conn, day, {"192.0.2.1": 30})    adds to the day's counts (upsert)
    raw_days(conn, first, last)                       the raw evidence per IP and day
    domain_days(conn, first, last)                    complaints per registered domain and day
    replace_days(conn, first, last, rows)             the recompute's rewrite of those days
    iter_window(conn, since, keys=None)               daily rows, grouped by entity
    current(conn, keys=None) / upsert_current(conn, rows)
    add_run(...) / last_run(conn) / change_marker(conn)

A "day" is a UTC date. Volume telemetry counts on the day its period ends; reports and trap
hits on the day they were received.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from mailrep.store.tables import (
    dns_queries,
    rep_current,
    rep_daily,
    rep_runs,
    reporters,
    reports,
    trap_hits,
    volume,
)

_CHUNK = 500
# raw evidence per IP and day, in this order (the `rep_daily` counter columns)
COUNTERS = ("volume", "dns_queries", "complaints", "fbl", "trap_hits")
Counts = list[int]  # one value per COUNTERS entry
CURRENT_COLS = tuple(c.name for c in rep_current.columns)
_FIRST_SEEN = CURRENT_COLS.index("first_seen")
_LISTED = CURRENT_COLS.index("listed")


class day_of(FunctionElement[str]):
    """The UTC date ('YYYY-MM-DD') of a stored (naive UTC) time, computed by the database."""

    type = sa.String()
    inherit_cache = True
    name = "day_of"


@compiles(day_of, "sqlite")
def _day_sqlite(element: day_of, compiler: Any, **kw: Any) -> str:
    return f"substr({compiler.process(element.clauses, **kw)}, 1, 10)"


@compiles(day_of, "postgresql")
def _day_pg(element: day_of, compiler: Any, **kw: Any) -> str:
    return f"to_char({compiler.process(element.clauses, **kw)}, 'YYYY-MM-DD')"


def _start(d: date) -> datetime:
    return datetime.combine(d, time.min, UTC)


def _upsert(conn: Connection, table: sa.Table) -> Any:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def add_dns_queries(conn: Connection, day: date, counts: dict[str, int]) -> int:
    """Add `counts` (queries per IP) to the day's stored counts."""
    if not counts:
        return 0
    ins = _upsert(conn, dns_queries)
    stmt = ins.on_conflict_do_update(index_elements=["ip", "day"],
                                     set_={"count": dns_queries.c.count + ins.excluded["count"]})
    conn.execute(stmt, [{"ip": ip, "day": day, "count": n} for ip, n in counts.items()])
    return len(counts)


def dns_queries_since(conn: Connection, ips: Sequence[str] | None, since: date) -> dict[str, int]:
    """Queries per IP counted on `since` and later (every queried IP when `ips` is None)."""
    q = (sa.select(dns_queries.c.ip, sa.func.sum(dns_queries.c.count))
         .where(dns_queries.c.day >= since).group_by(dns_queries.c.ip))
    if ips is None:
        return {ip: int(n) for ip, n in conn.execute(q)}
    out: dict[str, int] = {}
    for i in range(0, len(ips), _CHUNK):
        out.update((ip, int(n)) for ip, n in conn.execute(q.where(dns_queries.c.ip.in_(ips[i:i + _CHUNK]))))
    return out


def late_volume_days(conn: Connection, received_since: datetime, before: date) -> set[date]:
    """Days before `before` that telemetry received since `received_since` counts on."""
    q = (sa.select(day_of(volume.c.period_end)).distinct()
         .where(volume.c.received_at > received_since, volume.c.period_end < _start(before)))
    return {date.fromisoformat(d) for d in conn.execute(q).scalars()}


def _counted_reports() -> Any:
    return (reports.outerjoin(reporters, reporters.c.account_id == reports.c.reporter_id),
            sa.and_(reports.c.counted.is_(True), reports.c.state != "parked", reports.c.source_ip.is_not(None),
                    sa.or_(reports.c.reporter_id.is_(None), reporters.c.status == "active",
                           reporters.c.account_id.is_(None))))


def raw_days(conn: Connection, first: date, last: date) -> dict[str, dict[date, Counts]]:
    """The raw evidence per IP and day for the days `first`..`last` (COUNTERS order)."""
    lo, hi = _start(first), _start(last + timedelta(days=1))
    out: dict[str, dict[date, Counts]] = {}
    days: dict[Any, date] = {}

    def add(rows: Iterable[Any], col: int) -> None:
        if not out:  # the first source: one row per (ip, day), nothing to add to
            for ip, d, n in rows:
                day = days.get(d)
                if day is None:
                    day = days[d] = d if isinstance(d, date) else date.fromisoformat(d)
                per = out.get(ip)
                row = [0, 0, 0, 0, 0]
                row[col] = int(n)
                if per is None:
                    out[ip] = {day: row}
                else:
                    per[day] = row
            return
        for ip, d, n in rows:
            day = days.get(d)
            if day is None:
                day = days[d] = d if isinstance(d, date) else date.fromisoformat(d)
            per = out.get(ip)
            if per is None:
                per = out[ip] = {}
            row = per.get(day)
            if row is None:
                row = per[day] = [0, 0, 0, 0, 0]
            row[col] += int(n)

    # the two big sources (a row per IP and day or more) straight from the driver's cursor
    vday = "substr(period_end, 1, 10)" if conn.dialect.name == "sqlite" else "to_char(period_end, 'YYYY-MM-DD')"
    add(_cursor_rows(conn, f"SELECT ip, {vday}, sum(count) FROM volume WHERE period_end >= ? AND period_end < ? "
                           f"GROUP BY ip, {vday}", (_time_param(conn, lo), _time_param(conn, hi))), 0)
    add(_cursor_rows(conn, "SELECT ip, day, count FROM dns_queries WHERE day >= ? AND day <= ?",
                     (_day_param(conn, first), _day_param(conn, last))), 1)
    src, counted = _counted_reports()
    rday = day_of(reports.c.received_at)
    fbl = reports.c.channel == "fbl"
    q = (sa.select(reports.c.source_ip, rday, fbl, sa.func.count()).select_from(src)
         .where(counted, reports.c.received_at >= lo, reports.c.received_at < hi)
         .group_by(reports.c.source_ip, rday, fbl))
    rows = conn.execute(q).all()
    add(((ip, d, n) for ip, d, is_fbl, n in rows if not is_fbl), 2)
    add(((ip, d, n) for ip, d, is_fbl, n in rows if is_fbl), 3)
    tday = day_of(trap_hits.c.received_at)
    q = (sa.select(trap_hits.c.source_ip, tday, sa.func.count())
         .where(trap_hits.c.counted.is_(True), trap_hits.c.source_ip.is_not(None),
                trap_hits.c.received_at >= lo, trap_hits.c.received_at < hi)
         .group_by(trap_hits.c.source_ip, tday))
    add(conn.execute(q).all(), 4)
    return out


def domain_days(conn: Connection, first: date, last: date) -> dict[str, dict[date, Counts]]:
    """Complaints and trap hits per registered domain and day: the domains of the URLs each
    counted report or trap hit advertises (from its stored trace), once per message."""
    lo, hi = _start(first), _start(last + timedelta(days=1))
    src, counted = _counted_reports()
    q = (sa.select(reports.c.received_at, reports.c.channel, reports.c.trace_json).select_from(src)
         .where(counted, reports.c.received_at >= lo, reports.c.received_at < hi))
    out: dict[str, dict[date, Counts]] = {}

    def add(at: datetime, trace: Any, col: int) -> None:
        urls = (trace if isinstance(trace, dict) else {}).get("urls") or []
        for dom in {u.get("domain") for u in urls if isinstance(u, dict) and u.get("domain")}:
            out.setdefault(str(dom).lower(), {}).setdefault(at.date(), [0, 0, 0, 0, 0])[col] += 1

    for at, channel, trace in conn.execute(q):
        add(at, trace, 3 if channel == "fbl" else 2)
    q = sa.select(trap_hits.c.received_at, trap_hits.c.trace_json).where(
        trap_hits.c.counted.is_(True), trap_hits.c.received_at >= lo, trap_hits.c.received_at < hi)
    for at, trace in conn.execute(q):
        add(at, trace, 4)
    return out


def keys_on_days(conn: Connection, first: date, last: date) -> set[tuple[str, str]]:
    q = sa.select(rep_daily.c.kind, rep_daily.c.key).distinct().where(rep_daily.c.day >= first, rep_daily.c.day <= last)
    return {(k, key) for k, key in conn.execute(q)}


DayKey = tuple[str, str, date]  # kind, key, day
DayValues = tuple[int, int, int, int, int, float | None]  # COUNTERS..., score


def _cursor_rows(conn: Connection, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Rows of `sql` (? marks) straight from the driver's cursor: plain tuples, no SQLAlchemy
    result processing (for the recompute's bulk reads of ~1M rows). Dates come back as the
    driver gives them (ISO text on SQLite): see `_as_day`."""
    if conn.dialect.paramstyle != "qmark":
        sql = sql.replace("?", "%s")
    cur = conn.connection.cursor()
    try:
        cur.execute(sql, tuple(params))
        return cur.fetchall()
    finally:
        cur.close()


def _day_param(conn: Connection, d: date) -> Any:
    # a date bound through the driver: SQLite keeps SQLAlchemy's Date as ISO text
    return d.isoformat() if conn.dialect.name == "sqlite" else d


def _time_param(conn: Connection, t: datetime) -> Any:
    # a time bound through the driver: naive UTC, as text on SQLite (UTCDateTime's storage)
    naive = t.astimezone(UTC).replace(tzinfo=None)
    return naive.isoformat(" ", timespec="microseconds") if conn.dialect.name == "sqlite" else naive


def _day_cache() -> Any:
    """A function text-or-date -> date, memoised (a bulk read holds a handful of distinct days)."""
    seen: dict[Any, date] = {}

    def as_day(v: Any) -> date:
        d = seen.get(v)
        if d is None:
            d = seen[v] = v if isinstance(v, date) else date.fromisoformat(v)
        return d

    return as_day


def days_on(conn: Connection, first: date, last: date) -> dict[tuple[str, str], dict[date, DayValues]]:
    """The stored daily rows of the days `first`..`last` per entity (what `sync_days` diffs against)."""
    as_day = _day_cache()
    rows = _cursor_rows(conn, 'SELECT "kind", "key", "day", "volume", "dns_queries", "complaints", "fbl", '
                              '"trap_hits", "score" FROM rep_daily WHERE "day" >= ? AND "day" <= ?',
                        (_day_param(conn, first), _day_param(conn, last)))
    out: dict[tuple[str, str], dict[date, DayValues]] = {}
    for r in rows:
        kk = (r[0], r[1])
        days = out.get(kk)
        if days is None:
            out[kk] = {as_day(r[2]): r[3:]}
        else:
            days[as_day(r[2])] = r[3:]
    return out


def _executemany(conn: Connection, sql: str, rows: Iterable[Sequence[Any]], batch: int = 50_000) -> int:
    """The driver's own executemany (no SQLAlchemy compile and bind processing per row: much
    cheaper for 100k+ rows); `sql` uses ? marks. Date values go to SQLite as ISO text (the
    adapter `store.db` registers), as SQLAlchemy's Date stores them."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = sql.replace("?", mark)
    todo = rows if isinstance(rows, list) else list(rows)
    cur = conn.connection.cursor()  # the DBAPI cursor of this transaction's connection
    try:
        for i in range(0, len(todo), batch):
            cur.executemany(sql, todo[i:i + batch])
    finally:
        cur.close()
    return len(todo)


def _upsert_sql(table: sa.Table, key: Sequence[str]) -> str:
    cols = [c.name for c in table.columns]
    names = ", ".join(f'"{c}"' for c in cols)
    marks = ", ".join("?" for _ in cols)
    on = ", ".join(f'"{c}"' for c in key)
    sets = ", ".join(f'"{c}" = excluded."{c}"' for c in cols if c not in key)
    return f"INSERT INTO {table.name} ({names}) VALUES ({marks}) ON CONFLICT ({on}) DO UPDATE SET {sets}"


def sync_days(conn: Connection, stale: Iterable[DayKey], rows: Iterable[tuple[Any, ...]]) -> int:
    """Delete the daily rows `stale` (kind, key, day), upsert `rows` (rep_daily column order):
    the recompute's rewrite of its days, writing only what changed. Returns rows written."""
    _executemany(conn, 'DELETE FROM rep_daily WHERE "kind" = ? AND "key" = ? AND "day" = ?', stale)
    return _executemany(conn, _upsert_sql(rep_daily, ("kind", "key", "day")), rows)


def replace_days(conn: Connection, first: date, last: date, rows: Iterable[dict[str, Any]]) -> int:
    """Delete every daily row of the days `first`..`last`, then insert `rows` (idempotent)."""
    conn.execute(rep_daily.delete().where(rep_daily.c.day >= first, rep_daily.c.day <= last))
    batch: list[dict[str, Any]] = []
    n = 0
    for r in rows:
        batch.append(r)
        if len(batch) >= 50_000:
            conn.execute(rep_daily.insert(), batch)
            n += len(batch)
            batch = []
    if batch:
        conn.execute(rep_daily.insert(), batch)
        n += len(batch)
    return n


def prune(conn: Connection, before: date) -> int:
    return conn.execute(rep_daily.delete().where(rep_daily.c.day < before)).rowcount or 0


DailyRow = tuple[date, int, int, int, int, int, float | None]  # day, COUNTERS..., score


def iter_window(conn: Connection, first: date, last: date, keys: Sequence[tuple[str, str]] | None = None,
                ) -> Iterator[tuple[tuple[str, str], list[DailyRow]]]:
    """Daily rows of days `first`..`last`, one (entity, rows) at a time (every entity when
    `keys` is None)."""
    cols = (rep_daily.c.kind, rep_daily.c.key, rep_daily.c.day, rep_daily.c.volume, rep_daily.c.dns_queries,
            rep_daily.c.complaints, rep_daily.c.fbl, rep_daily.c.trap_hits, rep_daily.c.score)
    base = sa.select(*cols).where(rep_daily.c.day >= first, rep_daily.c.day <= last)
    if keys is None:
        queries = [base.order_by(rep_daily.c.kind, rep_daily.c.key, rep_daily.c.day)
                   .execution_options(yield_per=20_000)]
    else:
        queries = [base.where(sa.tuple_(rep_daily.c.kind, rep_daily.c.key).in_(keys[i:i + _CHUNK]))
                   .order_by(rep_daily.c.kind, rep_daily.c.key, rep_daily.c.day) for i in range(0, len(keys), _CHUNK)]
    for q in queries:
        cur: tuple[str, str] | None = None
        rows: list[DailyRow] = []
        for kind, key, *rest in conn.execute(q):
            if (kind, key) != cur:
                if cur is not None:
                    yield cur, rows
                cur, rows = (kind, key), []
            rows.append(tuple(rest))  # type: ignore[arg-type]
        if cur is not None:
            yield cur, rows


def current(conn: Connection, keys: Sequence[tuple[str, str]] | None = None) -> dict[tuple[str, str], dict[str, Any]]:
    """Stored current rows by (kind, key) (all of them when `keys` is None)."""
    q = sa.select(rep_current)
    if keys is None:
        return {(r["kind"], r["key"]): dict(r) for r in conn.execute(q).mappings()}
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for i in range(0, len(keys), _CHUNK):
        part = q.where(sa.tuple_(rep_current.c.kind, rep_current.c.key).in_(keys[i:i + _CHUNK]))
        out.update(((r["kind"], r["key"]), dict(r)) for r in conn.execute(part).mappings())
    return out


def upsert_current(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    for i in range(0, len(rows), 50_000):
        ins = _upsert(conn, rep_current)
        stmt = ins.on_conflict_do_update(index_elements=["kind", "key"],
                                         set_={c: ins.excluded[c] for c in CURRENT_COLS if c not in ("kind", "key")})
        conn.execute(stmt, list(rows[i:i + 50_000]))


def current_values(conn: Connection, keys: Sequence[tuple[str, str]] | None = None,
                   ) -> dict[tuple[str, str], tuple[Any, ...]]:
    """Like `current`, as plain tuples (the columns after kind and key, CURRENT_COLS order)."""
    if keys is None:
        as_day = _day_cache()
        names = ", ".join(f'"{c}"' for c in CURRENT_COLS)
        return {(r[0], r[1]): (*r[2:_FIRST_SEEN], None if r[_FIRST_SEEN] is None else as_day(r[_FIRST_SEEN]),
                               bool(r[_LISTED]), *r[_LISTED + 1:])
                for r in _cursor_rows(conn, f"SELECT {names} FROM rep_current")}
    q = sa.select(rep_current)
    out: dict[tuple[str, str], tuple[Any, ...]] = {}
    for i in range(0, len(keys), _CHUNK):
        part = q.where(sa.tuple_(rep_current.c.kind, rep_current.c.key).in_(keys[i:i + _CHUNK]))
        out.update(((kind, key), tuple(rest)) for kind, key, *rest in conn.execute(part))
    return out


def upsert_current_values(conn: Connection, rows: Iterable[tuple[Any, ...]]) -> int:
    """Upsert current rows given as tuples in CURRENT_COLS order (the driver's executemany)."""
    return _executemany(conn, _upsert_sql(rep_current, ("kind", "key")), rows)


def iter_scored(conn: Connection, kind: str) -> Iterator[dict[str, Any]]:
    """Current rows of `kind` that have a score (what the rep. zone publishes)."""
    q = (sa.select(rep_current).where(rep_current.c.kind == kind, rep_current.c.score.is_not(None))
         .execution_options(yield_per=20_000))
    for r in conn.execute(q).mappings():
        yield dict(r)


def add_run(conn: Connection, at: datetime, first: date, last: date, scored: int, changed: int, full: bool) -> int:
    return int(conn.execute(rep_runs.insert().values(at=at, first_day=first, last_day=last, scored=scored,
                                                     changed=changed, full=full)).inserted_primary_key[0])


def last_run(conn: Connection) -> dict[str, Any] | None:
    r = conn.execute(sa.select(rep_runs).order_by(rep_runs.c.id.desc()).limit(1)).mappings().first()
    return dict(r) if r is not None else None


def change_marker(conn: Connection) -> int:
    """The newest run that changed a published value (0 before any)."""
    return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(rep_runs.c.id), 0))
                            .where(rep_runs.c.changed > 0)).scalar_one())


def ip_days_in(conn: Connection, networks: Sequence[str], first: date, last: date) -> list[tuple[str, DailyRow]]:
    """(ip, daily row) of the IP entities inside `networks`, days `first`..`last`. IPv4 narrows
    in SQL by the networks' whole-octet text prefixes (a superset); the caller checks membership."""
    nets = [ipaddress.ip_network(n, strict=False) for n in networks]
    if not nets:
        return []
    conds = []
    for n in nets:
        if n.version == 6:
            conds.append(rep_daily.c.key.like("%:%"))
        elif n.prefixlen < 8:
            conds.append(rep_daily.c.key.notlike("%:%"))
        else:
            octets = str(n.network_address).split(".")[: n.prefixlen // 8]
            conds.append(rep_daily.c.key.like(".".join(octets) + ".%"))
    cols = (rep_daily.c.key, rep_daily.c.day, rep_daily.c.volume, rep_daily.c.dns_queries, rep_daily.c.complaints,
            rep_daily.c.fbl, rep_daily.c.trap_hits, rep_daily.c.score)
    q = (sa.select(*cols).where(rep_daily.c.kind == "ip", rep_daily.c.day >= first, rep_daily.c.day <= last,
                                sa.or_(*conds)).order_by(rep_daily.c.day.desc(), rep_daily.c.key))
    out = []
    for key, *rest in conn.execute(q):
        addr = ipaddress.ip_address(key)
        if any(addr.version == n.version and addr in n for n in nets):
            out.append((key, tuple(rest)))
    return out  # type: ignore[return-value]
