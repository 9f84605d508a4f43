"""Policy recompute: the pure core over many IPs, and the service over a SQLite store.

    .venv/bin/python benchmarks/policy.py [--ips 1000000] [--db-ips 20000] [--json]

1. Pure: `decide_many` over --ips IPs (target: 1M in <= 10 s). Evidence per IP is drawn from a
   fixed-seed mix: 60 % one report, 20 % two, 15 % three to six reports from distinct
   reporters, 5 % with trap hits; ages 0..8 days; a third carry volume. Building the inputs is
   not timed. `assess` alone (every IP scored, no skipping) is timed too.
2. Store: --db-ips IPs with 5 reports each (distinct reporters) in a SQLite file, then
   `blocklist.reevaluate` (services.blocklist) over all of them (load evidence, decide, write listings and
   events), a second pass when nothing changes, and `blocklist.recompute` (one streamed pass
   over all evidence, nothing changes either). Figures in IPs/s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
import zlib
from datetime import UTC, datetime, timedelta

from mailrep.policy.config import PolicyConfig
from mailrep.policy.listing import decide_many
from mailrep.policy.score import Evidence, ReportRow, assess

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def ip_of(i: int) -> str:
    return f"{45 + (i >> 24) % 50}.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"


def make_evidence(n: int, seed: int = 1) -> dict[str, Evidence]:
    rng = random.Random(seed)
    out: dict[str, Evidence] = {}
    for i in range(n):
        u = rng.random()
        k = 1 if u < 0.6 else 2 if u < 0.8 else rng.randint(3, 6)
        reports = tuple(ReportRow(NOW - timedelta(hours=rng.random() * 192), rng.randrange(10**5) + j * 10**5)
                        for j in range(k))
        traps = tuple(NOW - timedelta(hours=rng.random() * 48) for _ in range(rng.randint(1, 8))) if u > 0.95 else ()
        out[ip_of(i)] = Evidence(reports, traps, rng.choice((0, 0, 10**3, 10**6)))
    return out


def bench_pure(n: int) -> dict[str, float]:
    cfg = PolicyConfig()
    ev = make_evidence(n)
    t0, c0 = time.perf_counter(), time.process_time()
    decisions = decide_many({}, ev, NOW, cfg)
    t1, c1 = time.perf_counter(), time.process_time()
    for e in ev.values():
        assess(e, NOW, cfg)
    t2, c2 = time.perf_counter(), time.process_time()
    listed = sum(1 for d in decisions if d.listing.state == "listed")
    return {"ips": n, "decide_many_s": round(t1 - t0, 2), "decide_many_cpu_s": round(c1 - c0, 2),
            "assess_all_s": round(t2 - t1, 2), "assess_all_cpu_s": round(c2 - c1, 2),
            "decided": len(decisions), "listed": listed}


def bench_store(n: int) -> dict[str, float]:
    from mailrep.config import Settings
    from mailrep.run import build_services
    from mailrep.store.db import Database
    from mailrep.store.tables import accounts, reporters, reports

    with tempfile.TemporaryDirectory() as d:
        db = Database(f"sqlite:///{d}/bench.sqlite3")
        db.upgrade()
        per_ip = 5
        raw = zlib.compress(b"Subject: x\r\n\r\ny\r\n")
        with db.transaction() as conn:
            conn.execute(accounts.insert(), [{"id": r + 1, "name": f"r{r}", "role": "reporter", "created_at": NOW}
                                             for r in range(per_ip)])
            conn.execute(reporters.insert(), [{"account_id": r + 1} for r in range(per_ip)])
            rows = [{"reporter_id": r + 1, "channel": "http", "received_at": NOW - timedelta(hours=(i + r) % 100),
                     "sha256": "0" * 64, "raw_z": raw, "raw_size": 20, "stored_size": 20,
                     "source_ip": ip_of(i), "dedupe_key": f"{i}:{r}"} for i in range(n) for r in range(per_ip)]
            conn.execute(reports.insert(), rows)
        ips = [ip_of(i) for i in range(n)]
        blocklist = build_services(Settings(), db).blocklist
        t0, c0 = time.perf_counter(), time.process_time()
        first = blocklist.reevaluate(ips, NOW)
        t1, c1 = time.perf_counter(), time.process_time()
        second = blocklist.reevaluate(ips, NOW)
        t2 = time.perf_counter()
        c3 = time.process_time()
        again = blocklist.recompute(NOW)
        t3, c4 = time.perf_counter(), time.process_time()
        db.dispose()
    return {"db_ips": n, "reports": n * per_ip, "reevaluate_s": round(t1 - t0, 2),
            "reevaluate_cpu_s": round(c1 - c0, 2),
            "reevaluate_ips_per_s": round(n / (t1 - t0)), "events": len(first),
            "again_unchanged_s": round(t2 - t1, 2), "again_events": len(second),
            "recompute_all_s": round(t3 - t2, 2), "recompute_all_cpu_s": round(c4 - c3, 2),
            "recompute_events": len(again)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ips", type=int, default=1_000_000)
    ap.add_argument("--db-ips", type=int, default=20_000)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    result = {"load": os.getloadavg()[0], **bench_pure(a.ips), **bench_store(a.db_ips)}
    if a.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:24} {v}")


if __name__ == "__main__":
    main()
