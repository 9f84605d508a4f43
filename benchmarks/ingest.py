"""Ingest end to end: reports, trap hits and volume through the intake service, then over HTTP.

    .venv/bin/python benchmarks/ingest.py [--reports 500000] [--sources 50000] [--reporters 1000]
        [--workers 2] [--database-url postgresql+psycopg://...] [--http-reports 30000]
        [--http-clients 64] [--skip-service] [--skip-http] [--json]

Phase "service" (in process, no HTTP): N reports made from the corpus spams
(../shared/corpus/messages/spam) by prepending the Received line of a reporter's MX that took
the message from one of S source IPs (so the trace finds that IP and every report is a
distinct message), 2% as many trap hits, and one volume observation per source. A process pool
(`--workers`, default 2 = both cores; started as the service starts its trace pool, at niceness
`[intake] trace_nice`) builds and traces the messages (`intake.prepare`: hash,
trace, cut, age, compress); the main process hands them to the intake service's one writer,
which commits batches and acknowledges after COMMIT; the post-commit processor re-evaluates
the affected IPs (blocklist policy, listings written). The clock stops when every item is
acknowledged AND the processor is idle (all reports `processed`). Figures: wall time,
items/s, listings made.

Phase "http": a real `mailrep serve` on a fresh database; client processes hold keep-alive
connections (a minimal HTTP/1.1 client, so the client costs little of the 2 cores) and POST
distinct reports with reporter tokens; reports/s counts 202 answers. At the end the stored
reports must equal the 202s.

SQLite by default (a fresh file in a temporary directory); with --database-url a fresh
PostgreSQL schema is created and dropped.

Before and after the phases, a yardstick: the CPU to prepare one corpus message in this one
process (`yardstick_ms_per_message`, `yardstick_after_ms_per_message`). The machine these figures come from is a shared VM whose speed
moved by a third within an hour; compare runs through it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SPAM = ROOT.parent / "shared" / "corpus" / "messages" / "spam"
sys.path.insert(0, str(ROOT / "src"))

MX = "mx.bench.example"
CHUNK = 500
TRAP_EVERY = 50  # one trap hit per 50 reports (2%)

# --- message making (runs in the worker processes) ---------------------------------------------

_corpus: list[bytes] = []
_stamp = ""


def _init_worker(stamp: str, nice: int) -> None:
    """As the intake service's trace pool starts its processes (`intake.tracing.worker_init`)."""
    from mailrep.intake.tracing import worker_init

    global _stamp
    worker_init(nice)
    _stamp = stamp
    _corpus.extend(load_corpus())


def load_corpus() -> list[bytes]:
    out = []
    for p in sorted(SPAM.iterdir()):
        raw = p.read_bytes()
        if raw.startswith(b"From "):  # an mbox separator line is not a header
            raw = raw.split(b"\n", 1)[1]
        out.append(raw)
    return out


def source_ip(k: int) -> str:
    """The k-th of the benchmark's sources: public-looking, spread over many /16s."""
    return f"{23 + k % 150}.{(k // 150) % 250 + 1}.{(k * 7) % 250 + 1}.{k % 199 + 1}"


def make_message(i: int, ip: str, corpus: list[bytes], stamp: str, kind: bytes = b"R") -> bytes:
    head = (f"Received: from host{i}.sender.example (host{i}.sender.example [{ip}])\r\n"
            f"\tby {MX} with ESMTP id {kind.decode()}{i:09d}; {stamp}\r\n").encode()
    return head + corpus[i % len(corpus)]


def _prepare_chunk(args: tuple[int, int, int, int, int]) -> tuple[float, list[tuple[str, int, Any]]]:
    """Build and trace reports start..start+count (and their trap hits) -> (cpu s, items)."""
    from mailrep.intake.prepare import prepare

    cpu0 = time.process_time()
    start, count, sources, reporters, seed = args
    rng = random.Random(seed * 1_000_003 + start)
    now = datetime.now(UTC)
    out: list[tuple[str, int, Any]] = []
    for i in range(start, start + count):
        ip = source_ip(rng.randrange(sources))
        raw = make_message(i, ip, _corpus, _stamp)
        out.append(("r", rng.randrange(reporters),
                    prepare(raw, now=now, keep_bytes=50 * 1024)))
        if i % TRAP_EVERY == 0:
            raw = make_message(i, ip, _corpus, _stamp, b"T")
            out.append(("t", 0, prepare(raw, now=now, keep_bytes=50 * 1024)))
    return time.process_time() - cpu0, out


def yardstick(n: int = 1500) -> float:
    """ms of CPU to prepare (trace, hash, compress) one corpus message in this process: the
    machine's speed at the time of the run (a shared 2-core VM whose speed moves by a third
    from one hour to the next), to read the other figures against."""
    from mailrep.intake.prepare import prepare

    corpus, stamp, now = load_corpus(), format_datetime(datetime.now(UTC)), datetime.now(UTC)
    for i in range(300):  # warm-up on other messages: imports, suffix list, regex caches
        prepare(make_message(10**8 + i, source_ip(i), corpus, stamp), now=now, keep_bytes=50 * 1024)
    msgs = [make_message(i, source_ip(i), corpus, stamp, b"Y") for i in range(n)]
    t0 = time.process_time()
    for raw in msgs:
        prepare(raw, now=now, keep_bytes=50 * 1024)
    return (time.process_time() - t0) * 1000 / n


# --- databases ---------------------------------------------------------------------------------


@contextmanager
def fresh_database(url: str | None, tmp: Path):
    """A URL of an empty database: a SQLite file in `tmp`, or a new PostgreSQL schema."""
    if not url:
        yield f"sqlite:///{tmp / 'mailrep.sqlite3'}"
        return
    import sqlalchemy as sa

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield sa.make_url(url).update_query_dict(
            {"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


def setup_accounts(url: str, reporters: int, quota: int) -> tuple[list[int], list[str], int, str]:
    from mailrep.store import accounts
    from mailrep.store.db import Database

    db = Database(url)
    db.upgrade()
    now = datetime.now(UTC)
    ids, tokens = [], []
    with db.transaction() as conn:
        for n in range(reporters):
            acc = accounts.create_account(conn, f"bench-reporter-{n}", "reporter", now)
            accounts.add_reporter(conn, acc.id, daily_quota=quota)
            ids.append(acc.id)
            tokens.append(accounts.create_token(conn, acc.id, now))
        feed = accounts.create_account(conn, "bench-feed", "feed", now)
        feed_token = accounts.create_token(conn, feed.id, now)
    db.dispose()
    return ids, tokens, feed.id, feed_token


def counts(url: str) -> dict[str, Any]:
    import sqlalchemy as sa

    from mailrep.store.db import Database
    from mailrep.store.reports import report_states
    from mailrep.store.tables import listings, reports, trap_hits, volume

    db = Database(url)
    try:
        with db.read() as conn:
            def n(q: Any) -> int:
                return int(conn.execute(q).scalar() or 0)

            states = report_states(conn)
            return {
                "reports": n(sa.select(sa.func.count()).select_from(reports)),
                "report_states": states,
                "trap_hits": n(sa.select(sa.func.count()).select_from(trap_hits)),
                "volume_rows": n(sa.select(sa.func.count()).select_from(volume)),
                "listed": n(sa.select(sa.func.count()).select_from(listings).where(listings.c.state == "listed")),
            }
    finally:
        db.dispose()


# --- phase 1: the intake service ---------------------------------------------------------------


def run_service(url: str, *, reports: int, sources: int, reporters: int, workers: int, seed: int) -> dict[str, Any]:
    from mailrep.config import Settings
    from mailrep.intake.limits import IntakeLimits
    from mailrep.intake.service import Submitter, VolumeItem
    from mailrep.run import build_intake, build_services
    from mailrep.store.db import Database

    ids, _, feed_id, _ = setup_accounts(url, reporters, quota=max(5000, 4 * reports // reporters))
    who = [Submitter(i, (), max(5000, 4 * reports // reporters)) for i in ids]
    db = Database(url)
    settings = Settings()
    service = build_intake(settings, build_services(settings, db), lambda: datetime.now(UTC),
                           limits=IntakeLimits(trace_workers=0))
    service.start()
    stamp = format_datetime(datetime.now(UTC))
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                               initargs=(stamp, IntakeLimits().trace_nice))
    list(pool.map(abs, range(workers * 2)))  # start the workers before the clock
    chunks = [(s, min(CHUNK, reports - s), sources, reporters, seed) for s in range(0, reports, CHUNK)]
    period_end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    volume_per_chunk = -(-sources // max(1, len(chunks)))
    inflight: deque[list[Any]] = deque()
    done = {"r": 0, "t": 0, "v": 0, "dup": 0, "err": 0}

    def settle(futs: list[Any]) -> None:
        for kind, f in futs:
            try:
                r = f.result()
            except Exception:
                done["err"] += 1
                continue
            if kind == "v":
                done["v"] += r
            else:
                done[kind] += 1
                done["dup"] += bool(getattr(r, "duplicate", False))

    t0 = time.perf_counter()
    cpu0 = time.process_time()
    worker_cpu = 0.0
    for n, (cpu, prepared) in enumerate(pool.map(_prepare_chunk, chunks, chunksize=1)):
        worker_cpu += cpu
        futs: list[Any] = []
        now = datetime.now(UTC)
        for kind, r, p in prepared:
            if kind == "r":
                futs.append(("r", service.submit_prepared(who[r], p, now)))
            else:
                futs.append(("t", service.submit_trap_prepared(feed_id, p, now)))
        lo = n * volume_per_chunk
        items = [VolumeItem(source_ip(k), 1000 + k % 5000, period_end - timedelta(hours=1), period_end)
                 for k in range(lo, min(sources, lo + volume_per_chunk))]
        if items:
            futs.append(("v", service.submit_volume_nowait(feed_id, items)))
        inflight.append(futs)
        if n % 100 == 99:
            el = time.perf_counter() - t0
            print(f"  {(n + 1) * CHUNK:,} reports traced and queued after {el:.0f} s "
                  f"({(n + 1) * CHUNK / el:.0f}/s)", file=sys.stderr, flush=True)
        while len(inflight) > 8:
            settle(inflight.popleft())
    while inflight:
        settle(inflight.popleft())
    t_acked = time.perf_counter() - t0
    assert service.processor is not None
    service.processor.wait_idle(3600)
    wall = time.perf_counter() - t0
    main_cpu = time.process_time() - cpu0
    pool.shutdown()
    service.close()
    db.dispose()
    c = counts(url)
    return {
        "reports": reports, "sources": sources, "reporters": reporters, "workers": workers,
        "acknowledged": done, "wall_s": round(wall, 1), "acked_s": round(t_acked, 1),
        "reports_per_s": round(reports / wall), "main_process_cpu_s": round(main_cpu, 1),
        "worker_cpu_s": round(worker_cpu, 1),
        "cpu_ms_per_report": round((main_cpu + worker_cpu) * 1000 / reports, 2),
        "cpu_bound_2_cores_s": round((main_cpu + worker_cpu) / 2, 1),
        "writer_batches": service.writer.batches, "stored": c,
    }


# --- phase 2: HTTP against `mailrep serve` ----------------------------------------------------

ANNOUNCE = re.compile(r"^mailrep serve: http on http://([\d.]+):(\d+)")


def start_serve(data_dir: Path, url: str) -> tuple[subprocess.Popen[str], int, list[str]]:
    env = {**os.environ, "MAILREP_DATA_DIR": str(data_dir), "MAILREP_DATABASE_URL": url}
    proc = subprocess.Popen([sys.executable, "-c", "from mailrep.cli import main; main()", "serve",
                             "--http", "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)
    log: list[str] = []
    port = [0]
    ready = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            log.append(line)
            m = ANNOUNCE.match(line)
            if m:
                port[0] = int(m.group(2))
                ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    ready.wait(120)
    if not port[0]:
        proc.kill()
        raise RuntimeError("mailrep serve did not start:\n" + "".join(log))
    return proc, port[0], log


async def _client(port: int, requests: list[bytes], conns: int, out: dict[str, int]) -> None:
    queue = deque(requests)

    async def one() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while queue:
            req = queue.popleft()
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            m = re.search(rb"(?i)content-length: *(\d+)", head)
            if m:
                await reader.readexactly(int(m.group(1)))
            out[str(status)] = out.get(str(status), 0) + 1
        writer.close()

    await asyncio.gather(*(one() for _ in range(conns)))


def _client_process(args: tuple[int, list[str], int, int, int, int, str]) -> dict[str, Any]:
    port, tokens, start, count, conns, sources, stamp = args
    corpus = load_corpus()
    rng = random.Random(start)
    reqs = []
    for i in range(start, start + count):
        body = make_message(i, source_ip(rng.randrange(sources)), corpus, stamp, b"H")
        reqs.append(b"POST /api/v1/reports HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: message/rfc822\r\n"
                    b"Authorization: Bearer " + tokens[i % len(tokens)].encode() + b"\r\n"
                    b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    out: dict[str, int] = {}
    t0 = time.perf_counter()
    asyncio.run(_client(port, reqs, conns, out))
    return {"statuses": out, "t": time.perf_counter() - t0, "cpu": time.process_time()}


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and its children that were reaped, from /proc."""
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        total += sum(int(x) for x in fields[11:15]) / ticks  # utime stime cutime cstime
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            cf = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in cf[11:13]) / ticks
    except OSError:
        pass
    return total


def run_http(url: str, tmp: Path, *, reports: int, sources: int, reporters: int, clients: int,
             procs: int) -> dict[str, Any]:
    _, tokens, _, _ = setup_accounts(url, reporters, quota=10**9)
    proc, port, _log = start_serve(tmp / "serve", url)
    stamp = format_datetime(datetime.now(UTC))
    per = -(-reports // procs)
    jobs = [(port, tokens, k * per, min(per, reports - k * per), max(1, clients // procs), sources, stamp)
            for k in range(procs)]
    try:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(procs) as pool:
            t0 = time.perf_counter()
            results = pool.map(_client_process, jobs)
            wall = time.perf_counter() - t0
        serve_cpu = _proc_cpu(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(120)
    statuses: dict[str, int] = {}
    for r in results:
        for k, v in r["statuses"].items():
            statuses[k] = statuses.get(k, 0) + v
    client_wall = max(r["t"] for r in results)
    c = counts(url)
    ok = statuses.get("202", 0)
    return {
        "reports": reports, "clients": clients, "client_processes": procs, "statuses": statuses,
        "wall_s": round(client_wall, 1), "reports_per_s": round(ok / client_wall),
        "wall_incl_client_start_s": round(wall, 1), "stored_reports": c["reports"],
        "stored_equals_acknowledged": c["reports"] == ok, "serve_exit": proc.returncode,
        "client_cpu_s": round(sum(r["cpu"] for r in results), 1),
        "serve_cpu_s_incl_startup": round(serve_cpu, 1),
        "serve_cpu_ms_per_report": round(serve_cpu * 1000 / max(1, ok), 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reports", type=int, default=500_000)
    ap.add_argument("--sources", type=int, default=50_000)
    ap.add_argument("--reporters", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2, help="tracing processes (phase service)")
    ap.add_argument("--http-reports", type=int, default=30_000)
    ap.add_argument("--http-clients", type=int, default=64, help="concurrent connections")
    ap.add_argument("--http-client-processes", type=int, default=1)
    ap.add_argument("--database-url", default=os.environ.get("MAILREP_BENCH_DATABASE_URL"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--skip-service", action="store_true")
    ap.add_argument("--skip-http", action="store_true")
    ap.add_argument("--smtp-reports", type=int, default=5000, help="SMTP submissions (benchmarks/ingest_smtp.py)")
    ap.add_argument("--skip-smtp", action="store_true")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    out: dict[str, Any] = {"database": "postgresql" if a.database_url else "sqlite",
                           "load_before": os.getloadavg()[0], "cores": os.cpu_count(),
                           "started": datetime.now(UTC).isoformat(timespec="seconds"),
                           "yardstick_ms_per_message": round(yardstick(), 3)}
    with tempfile.TemporaryDirectory(prefix="mailrep-bench-") as tmpd:
        tmp = Path(tmpd)
        if not a.skip_service:
            with fresh_database(a.database_url, tmp) as url:
                out["service"] = run_service(url, reports=a.reports, sources=a.sources,
                                             reporters=a.reporters, workers=a.workers, seed=a.seed)
        if not a.skip_http:
            (tmp / "serve").mkdir()
            with fresh_database(a.database_url, tmp / "serve") as url:
                out["http"] = run_http(url, tmp, reports=a.http_reports, sources=a.sources,
                                       reporters=min(a.reporters, 100), clients=a.http_clients,
                                       procs=a.http_client_processes)
        if not a.skip_smtp:  # SMTP submissions beside the HTTP figure, same connections
            from ingest_smtp import run as run_smtp

            corpus, stamp = load_corpus(), format_datetime(datetime.now(UTC))
            (tmp / "smtp").mkdir()
            with fresh_database(a.database_url, tmp / "smtp") as url:
                out["smtp"] = run_smtp(
                    a.smtp_reports, a.http_clients, database_url=url, http=False, data_dir=tmp / "smtp",
                    make_spam=lambda i: make_message(i, source_ip(i % a.sources), corpus, stamp, b"S"))["smtp"]
    out["load_after"] = os.getloadavg()[0]
    out["yardstick_after_ms_per_message"] = round(yardstick(), 3)
    if a.json:
        print(json.dumps(out, indent=2))
        return
    print(f"database {out['database']}, {out['cores']} cores, load {out['load_before']:.1f} -> {out['load_after']:.1f}, "
          f"yardstick {out['yardstick_ms_per_message']} -> {out['yardstick_after_ms_per_message']} ms CPU to "
          f"prepare one corpus message in one process (before -> after the phases)")
    if "service" in out:
        s = out["service"]
        print(f"service: {s['reports']:,} reports + {s['acknowledged']['t']:,} trap hits + "
              f"{s['acknowledged']['v']:,} volume rows over {s['sources']:,} sources: {s['wall_s']} s end to end "
              f"({s['reports_per_s']:,} reports/s; acknowledged after {s['acked_s']} s), "
              f"{s['stored']['listed']:,} listed, states {s['stored']['report_states']}; CPU "
              f"{s['cpu_ms_per_report']} ms/report (tracing {s['worker_cpu_s']} s, main {s['main_process_cpu_s']} s)")
    if "http" in out:
        h = out["http"]
        print(f"http: {h['reports']:,} reports, {h['clients']} connections: {h['reports_per_s']:,} reports/s "
              f"({h['wall_s']} s), statuses {h['statuses']}, stored == 202s: {h['stored_equals_acknowledged']}")

    if "smtp" in out:
        m = out["smtp"]
        print(f"smtp: {m['reports_acknowledged']:,} submissions (one corpus spam attached each), "
              f"{a.http_clients} connections: {m['reports_per_s']:,} reports/s ({m['seconds']} s), "
              f"server CPU {m['server_cpu_ms_per_report']} ms/report, refused {m['refused']}")


if __name__ == "__main__":
    main()
