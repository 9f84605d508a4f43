"""Web pages beside the JSON API: `GET /lookup?ip=` (the HTML page) and `GET /api/v1/lookup/{ip}`
on the same `mailrep serve`, in the same run.

    .venv/bin/python benchmarks/web.py [--seconds 10] [--clients 16] [--listed 200] [--json]

A fresh SQLite database in a temporary directory; `--listed` addresses are listed by a deputy
(so half the lookups render a listed page, with its history, explanation and the delisting
form and CSRF token; the other half an unlisted one). One client process (asyncio, keep-alive
HTTP/1.1 connections, a minimal client so it costs little of the 2 cores) asks for each kind
for `--seconds`, after a warm-up; requests/s counts 200 answers. The page may cost at most 2x
the JSON: `ratio` = JSON requests/s / page requests/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ANNOUNCE = re.compile(r"^mailrep serve: http on http://([\d.]+):(\d+)")


def address(i: int) -> str:
    return f"45.{20 + i // 65536}.{i // 256 % 256}.{i % 256}"


def prepare(url: str, listed: int) -> None:
    from mailrep.config import Settings
    from mailrep.run import build_services
    from mailrep.store.db import Database

    db = Database(url)
    db.upgrade()
    services = build_services(Settings(), db)
    now = datetime.now(UTC)
    staff = services.accounts.operator("bench", now)
    for i in range(listed):
        services.blocklist.manual("list", address(i), "benchmark listing", staff, now)
    db.dispose()


def start_serve(data_dir: Path) -> tuple[subprocess.Popen[str], int]:
    env = {**os.environ, "MAILREP_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"}
    env.pop("MAILREP_DATABASE_URL", None)
    proc = subprocess.Popen([sys.executable, "-c", "from mailrep.cli import main; main()", "serve",
                             "--http", "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)
    assert proc.stdout is not None
    for line in proc.stdout:
        m = ANNOUNCE.match(line)
        if m:
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
            return proc, int(m.group(2))
    raise RuntimeError("mailrep serve did not start")


async def _client(port: int, paths: list[str], until: float, counts: list[int], offset: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = offset
    try:
        while time.monotonic() < until:
            path = paths[i % len(paths)]
            i += 1
            writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/html\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
            counts[0 if status == 200 else 1] += 1
    finally:
        writer.close()


def _run(args: tuple[int, list[str], float, int]) -> tuple[int, int]:
    port, paths, seconds, clients = args
    counts = [0, 0]

    async def main() -> None:
        until = time.monotonic() + seconds
        await asyncio.gather(*(_client(port, paths, until, counts, k * 7) for k in range(clients)))

    asyncio.run(main())
    return counts[0], counts[1]


def measure(port: int, paths: list[str], seconds: float, clients: int) -> dict[str, float]:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        pool.apply(_run, ((port, paths, min(2.0, seconds), clients),))  # warm-up
        start = time.monotonic()
        ok, other = pool.apply(_run, ((port, paths, seconds, clients),))
        wall = time.monotonic() - start
    return {"requests": ok, "non_200": other, "per_second": round(ok / wall, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--listed", type=int, default=200)
    ap.add_argument("--json", action="store_true")
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mailrep-web-bench-") as tmp:
        data = Path(tmp) / "var"
        data.mkdir()
        prepare(f"sqlite:///{data / 'mailrep.sqlite3'}", opts.listed)
        proc, port = start_serve(data)
        try:
            ips = [address(i) for i in range(2 * opts.listed)]  # half listed, half not
            api = measure(port, [f"/api/v1/lookup/{ip}" for ip in ips], opts.seconds, opts.clients)
            page = measure(port, [f"/lookup?ip={ip}" for ip in ips], opts.seconds, opts.clients)
        finally:
            proc.terminate()
            proc.wait(30)
    result = {"seconds": opts.seconds, "clients": opts.clients, "listed": opts.listed,
              "json": api, "page": page, "ratio": round(api["per_second"] / max(page["per_second"], 0.1), 2),
              "load_average": os.getloadavg()[0]}
    if opts.json:
        print(json.dumps(result))
        return
    print(f"GET /api/v1/lookup/IP   {api['per_second']:>8} req/s  ({api['requests']} answers, {api['non_200']} not 200)")
    print(f"GET /lookup?ip=IP       {page['per_second']:>8} req/s  ({page['requests']} answers, {page['non_200']} not 200)")
    print(f"page cost / JSON cost   {result['ratio']}x (target <= 2x); load average {result['load_average']:.1f}")


if __name__ == "__main__":
    main()
