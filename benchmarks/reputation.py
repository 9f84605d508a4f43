"""Reputation benchmark: recompute of 1M IPs on SQLite; cost of the DNS query counter.

    .venv/bin/python benchmarks/reputation.py                 # 1,000,000 IPs
    .venv/bin/python benchmarks/reputation.py --ips 100000    # quicker
    options: --ips N --queries Q --json

1. Recompute (SQLite file, WAL, synchronous=FULL, in a temporary directory). Seeded with N
   volume telemetry rows (one per IP, today), N/100 complaints and N/10 IPs with DNS query
   counts; the addresses spread over N/50 /24 networks. Timed: the first recompute (daily rows
   for IPs and networks, every entity scored, current rows written), the same again
   (idempotent: nothing published changes), an incremental one after 1,000 new telemetry rows,
   and the daily full pass (the next day: decay moved, every entity rescored).
2. DNS query counter: CPU per query of the Python DNS path (the responder + the guard) with and
   without the counter, over Q A queries for 10,000 distinct listed and unlisted IPv4 names,
   best of 3. (The C fast path is off whenever the guard runs: see BENCHMARKS.md.)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import struct
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mailrep.config import Settings
from mailrep.run import build_services
from mailrep.store.db import Database

NOW = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)


def _ip(i: int) -> str:
    # public-looking addresses 11.x.y.z upwards, 50 per /24
    net, host = divmod(i, 50)
    return f"{11 + net // 65536}.{(net // 256) % 256}.{net % 256}.{host + 1}"


def _ts(d: datetime) -> str:
    return d.strftime("%Y-%m-%d %H:%M:%S.%f")


def seed(path: Path, n: int) -> None:
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    start, end = _ts(NOW - timedelta(hours=1)), _ts(NOW - timedelta(minutes=1))
    con.executemany("INSERT INTO volume (ip, count, period_start, period_end, received_at) VALUES (?,?,?,?,?)",
                    ((_ip(i), 1 + (i * 7919) % 100_000, start, end, end) for i in range(n)))
    con.executemany("INSERT INTO reports (channel, received_at, sha256, raw_z, raw_size, stored_size, source_ip, "
                    "dedupe_key) VALUES ('http', ?, ?, x'', 0, 0, ?, ?)",
                    ((end, "0" * 64, _ip(i * 100), f"k{i}") for i in range(n // 100)))
    con.executemany("INSERT INTO dns_queries (ip, day, count) VALUES (?, ?, ?)",
                    ((_ip(i * 10), NOW.date().isoformat(), 30) for i in range(n // 10)))
    con.commit()
    con.close()


def timed(fn):  # type: ignore[no-untyped-def]
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def recompute_bench(n: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.sqlite3"
        db = Database(f"sqlite:///{path}")
        db.upgrade()
        t0 = time.perf_counter()
        seed(path, n)
        seeded = time.perf_counter() - t0
        rep = build_services(Settings(), db).reputation
        results: dict[str, object] = {"ips": n, "seed_s": round(seeded, 1)}
        run, wall, cpu = timed(lambda: rep.recompute(NOW))
        results["first"] = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "scored": run.scored,
                            "daily_rows": run.daily_rows, "changed": run.changed}
        run, wall, cpu = timed(lambda: rep.recompute(NOW))
        results["again"] = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "changed": run.changed,
                            "rescored": run.rescored}
        later = NOW + timedelta(minutes=5)
        con = sqlite3.connect(path)
        con.executemany("INSERT INTO volume (ip, count, period_start, period_end, received_at) VALUES (?,?,?,?,?)",
                        ((_ip(n + i), 500, _ts(later), _ts(later), _ts(later)) for i in range(1000)))
        con.commit()
        con.close()
        run, wall, cpu = timed(lambda: rep.recompute(later))
        results["incremental_1000_new"] = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "scored": run.scored,
                                           "rescored": run.rescored}
        run, wall, cpu = timed(lambda: rep.recompute(NOW + timedelta(days=1)))
        results["next_day_full"] = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "scored": run.scored}
        results["db_mb"] = round(path.stat().st_size / 1e6, 1)
        db.dispose()
        return results


def _query(name: str, qid: int) -> bytes:
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00" + struct.pack(">HH", 1, 1)


def counter_bench(n_queries: int) -> dict[str, object]:
    from mailrep.dns.answer import Responder
    from mailrep.dns.guard import Guard
    from mailrep.dns.metrics import DnsMetrics
    from mailrep.dns.querycount import QueryCounter
    from mailrep.zones.build import build_snapshot

    rnd = random.Random(15)
    listed = [f"45.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}" for _ in range(5000)]
    snap = build_snapshot((("bl", ip, "127.0.0.2", None) for ip in listed), base="mailrep.test", serial=1)
    names = listed + [f"46.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}" for _ in range(5000)]
    queries = [_query(".".join(reversed(ip.split("."))) + ".bl.mailrep.test", i & 0xFFFF)
               for i, ip in enumerate(names)]
    stream = [queries[i % len(queries)] for i in range(n_queries)]
    client = b"\x7f\x00\x00\x01"

    def run(guard: Guard | None) -> float:
        responder = Responder(snap, cache_size=0)
        best = float("inf")
        for _ in range(3):
            c0 = time.process_time()
            for q in stream:
                reply = responder.answer(q)
                if guard is not None:
                    guard.filter(client, q, reply, snap, 0.0)
            best = min(best, time.process_time() - c0)
        return n_queries / best

    plain = run(None)
    metrics_only = run(Guard(metrics=DnsMetrics()))
    counter = QueryCounter(lambda counts: None, interval=3600.0)
    counting = run(Guard(counter=counter, count_zones=frozenset({"bl.mailrep.test"})))
    t0 = time.process_time()
    taken = counter.take()
    take_s = time.process_time() - t0
    return {"queries": n_queries, "qps_python_path": round(plain), "qps_guard_metrics": round(metrics_only),
            "qps_guard_counting": round(counting),
            "counting_cost_vs_python_path_pct": round(100 * (1 - counting / plain), 1),
            "counting_cost_vs_guard_metrics_pct": round(100 * (1 - counting / metrics_only), 1),
            "flush_take_ms": round(take_s * 1000, 2), "distinct_ips": len(taken)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ips", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=200_000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out = {"load_avg": os.getloadavg(), "python": sys.version.split()[0],
           "recompute": recompute_bench(args.ips), "dns_counter": counter_bench(args.queries)}
    print(json.dumps(out, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
